package saml_test

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

func TestBaselineAccepted(t *testing.T) {
	for _, sign := range []samltest.Signing{samltest.SignAssertion, samltest.SignResponse, samltest.SignBoth} {
		f := newFixture(t, nil)
		doc := f.build(t, func(s *samltest.ResponseSpec) {
			s.Sign = sign
			s.NameIDFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
			// An IdP attribute may not pose as the NameID Format.
			s.Attributes = append(s.Attributes, samltest.Attribute{Name: saml.AttrNameIDFormat, Values: []string{"urn:evil"}})
			s.SessionNotOnOrAfter = f.now.Add(8 * time.Hour)
			s.AuthnContextClassRef = "https://refeds.org/profile/mfa"
			s.Attributes = append(s.Attributes, samltest.Attribute{Name: "displayName", Values: []string{"Alice A."}})
		})
		id, err := f.postDoc(t, doc)
		if err != nil {
			t.Fatalf("sign=%d: %v", sign, err)
		}
		if id.Subject != f.idp.EntityID+"!"+userID || id.Username != userID || id.Provider != "corp" {
			t.Fatalf("identity %+v", id)
		}
		if len(id.Groups) != 1 || id.Groups[0] != "dev" || id.Email != "alice@corp.example" || id.DisplayName != "Alice A." {
			t.Fatalf("identity %+v", id)
		}
		if !id.MFA || !id.MFATime.Equal(f.now) || !id.Expiry.Equal(f.now.Add(8*time.Hour)) || !id.AuthTime.Equal(f.now) {
			t.Fatalf("mfa/expiry/authtime: %+v", id)
		}
		if got := id.Attributes["mail"]; len(got) != 1 || id.Attributes["urn:oid:0.9.2342.19200300100.1.3"][0] != "alice@corp.example" {
			t.Fatalf("attributes by Name and FriendlyName: %v", id.Attributes)
		}
		if got := id.Attributes[saml.AttrNameIDFormat]; len(got) != 1 || got[0] != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" {
			t.Fatalf("NameID format: %v", got)
		}
	}
}

func TestNameIDFormat(t *testing.T) {
	for _, c := range []struct{ format, want string }{
		{"", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"}, // the builder's default
		{"urn:oasis:names:tc:SAML:2.0:nameid-format:transient", "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"},
		{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"},
	} {
		f := newFixture(t, nil)
		id, err := f.postDoc(t, f.build(t, func(s *samltest.ResponseSpec) { s.NameIDFormat = c.format }))
		if err != nil {
			t.Fatalf("%q: %v", c.format, err)
		}
		if got := id.Attributes[saml.AttrNameIDFormat]; len(got) != 1 || got[0] != c.want {
			t.Fatalf("%q: NameID format %v, want %q", c.format, got, c.want)
		}
	}
	// No Format attribute on the NameID: no key (and none from an IdP attribute).
	f := newFixture(t, nil)
	id, err := f.postDoc(t, f.build(t, func(s *samltest.ResponseSpec) {
		s.Attributes = append(s.Attributes, samltest.Attribute{Name: saml.AttrNameIDFormat, Values: []string{"urn:evil"}})
		s.Modify = func(_, a *etree.Element) { a.FindElement(".//NameID").RemoveAttr("Format") }
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := id.Attributes[saml.AttrNameIDFormat]; ok {
		t.Fatalf("NameID without Format: attribute %v", got)
	}
}

// evil turns an assertion's subject into the attacker's.
func evil(a *etree.Element) {
	for _, el := range a.FindElements(".//NameID") {
		el.SetText("admin@corp.example")
	}
	for _, el := range a.FindElements(".//AttributeValue") {
		el.SetText("admins")
	}
}

func assertionOf(doc *etree.Document) *etree.Element { return doc.Root().SelectElement("Assertion") }

func sigOf(el *etree.Element) *etree.Element { return el.SelectElement("Signature") }

// TestNegative walks THREATS.md §1: each case mutates a validly signed
// baseline (after first checking that the untouched baseline passes).
func TestNegative(t *testing.T) {
	type tc struct {
		name   string
		sign   samltest.Signing
		spec   func(f *fixture, s *samltest.ResponseSpec)
		mutate func(t *testing.T, f *fixture, doc *etree.Document)
		ids    []string
		cfg    func(*saml.Config)
		want   error
	}
	cases := []tc{
		// 1.1 XML signature wrapping
		{name: "SAML-01 XSW1", sign: samltest.SignResponse, want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			root := doc.Root()
			clone := root.Copy()
			clone.RemoveChild(sigOf(clone))
			root.SelectAttr("ID").Value = "_evil_response_ID"
			evil(assertionOf(doc))
			sigOf(root).AddChild(clone)
		}},
		{name: "SAML-02 XSW2", sign: samltest.SignResponse, want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			root := doc.Root()
			clone := root.Copy()
			clone.RemoveChild(sigOf(clone))
			root.SelectAttr("ID").Value = "_evil_response_ID"
			evil(assertionOf(doc))
			root.InsertChildAt(sigOf(root).Index(), clone)
		}},
		{name: "SAML-03 XSW3", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			clone := orig.Copy()
			clone.SelectAttr("ID").Value = "_evil_assertion_ID"
			clone.RemoveChild(sigOf(clone))
			evil(clone)
			doc.Root().InsertChildAt(orig.Index(), clone)
		}},
		{name: "SAML-04 XSW4", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			clone := orig.Copy()
			clone.SelectAttr("ID").Value = "_evil_assertion_ID"
			clone.RemoveChild(sigOf(clone))
			evil(clone)
			doc.Root().RemoveChild(orig)
			clone.AddChild(orig)
			doc.Root().AddChild(clone)
		}},
		{name: "SAML-05 XSW5", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			genuine := orig.Copy()
			genuine.RemoveChild(sigOf(genuine))
			orig.SelectAttr("ID").Value = "_evil_assertion_ID"
			evil(orig)
			doc.Root().AddChild(genuine)
		}},
		{name: "SAML-06 XSW6", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			genuine := orig.Copy()
			genuine.RemoveChild(sigOf(genuine))
			orig.SelectAttr("ID").Value = "_evil_assertion_ID"
			evil(orig)
			sigOf(orig).AddChild(genuine)
		}},
		{name: "SAML-07 XSW7 Extensions no namespace", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			clone := orig.Copy()
			clone.RemoveChild(sigOf(clone))
			evil(clone)
			ext := etree.NewElement("Extensions")
			ext.AddChild(clone)
			doc.Root().InsertChildAt(orig.Index(), ext)
		}},
		{name: "SAML-07 XSW7 samlp:Extensions", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			clone := orig.Copy()
			clone.RemoveChild(sigOf(clone))
			clone.SelectAttr("ID").Value = "_evil"
			evil(clone)
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(clone)
			doc.Root().InsertChildAt(orig.Index(), ext)
		}},
		{name: "SAML-08 XSW8", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			genuine := orig.Copy()
			genuine.RemoveChild(sigOf(genuine))
			evil(orig)
			sigOf(orig).CreateElement("ds:Object").AddChild(genuine)
		}},
		{name: "SAML-09 signed wrapper referencing nested", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			orig := assertionOf(doc)
			wrapper := orig.Copy()
			wrapper.SelectAttr("ID").Value = "_spoofed"
			evil(wrapper)
			doc.Root().RemoveChild(orig)
			wrapper.AddChild(orig)
			doc.Root().AddChild(wrapper)
		}},
		{name: "SAML-10 duplicate ID elsewhere", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			id := assertionOf(doc).SelectAttrValue("ID", "")
			ext := etree.NewElement("samlp:Extensions")
			ext.CreateElement("foo").CreateAttr("Id", id)
			doc.Root().InsertChildAt(assertionOf(doc).Index(), ext)
		}},
		{name: "SAML-10 duplicate ID lowercase id", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			id := assertionOf(doc).SelectAttrValue("ID", "")
			assertionOf(doc).FindElement(".//NameID").CreateAttr("id", id)
		}},
		{name: "SAML-11 two References", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			si := sigOf(assertionOf(doc)).SelectElement("SignedInfo")
			si.AddChild(si.SelectElement("Reference").Copy())
		}},
		{name: "SAML-12 DigestValue smuggling", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			a := assertionOf(doc)
			evil(a)
			ext := etree.NewElement("samlp:Extensions")
			dv := ext.CreateElement("ds:DigestValue")
			dv.CreateAttr("xmlns:ds", "http://www.w3.org/2000/09/xmldsig#")
			dv.SetText(base64.StdEncoding.EncodeToString(make([]byte, 32)))
			doc.Root().InsertChildAt(a.Index(), ext)
		}},
		{name: "XSW signature moved into Subject", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			a := assertionOf(doc)
			s := sigOf(a)
			a.RemoveChild(s)
			a.SelectElement("Subject").AddChild(s)
		}},
		// 1.2 signature presence and placement
		{name: "SAML-13 signature removed (assertion)", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			a := assertionOf(doc)
			a.RemoveChild(sigOf(a))
		}},
		{name: "SAML-13 signature removed (response)", sign: samltest.SignResponse, want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			doc.Root().RemoveChild(sigOf(doc.Root()))
		}},
		{name: "SAML-13 unsigned", sign: samltest.SignNone, want: saml.ErrSignature},
		{name: "SAML-14a empty SignatureValue", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			sigOf(assertionOf(doc)).SelectElement("SignatureValue").SetText("")
		}},
		{name: "SAML-14b no SignatureValue", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			s := sigOf(assertionOf(doc))
			s.RemoveChild(s.SelectElement("SignatureValue"))
		}},
		{name: "SAML-14c no SignedInfo", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			s := sigOf(assertionOf(doc))
			s.RemoveChild(s.SelectElement("SignedInfo"))
		}},
		{name: "SAML-14d no DigestValue", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			r := sigOf(assertionOf(doc)).FindElement("./SignedInfo/Reference")
			r.RemoveChild(r.SelectElement("DigestValue"))
		}},
		{name: "SAML-14e Reference URI empty", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			sigOf(assertionOf(doc)).FindElement("./SignedInfo/Reference").SelectAttr("URI").Value = ""
		}},
		{name: "SAML-15 signed response, NameID changed", sign: samltest.SignResponse, want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			evil(assertionOf(doc))
		}},
		{name: "SAML-15 signed assertion, NameID changed", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			evil(assertionOf(doc))
		}},
		{name: "SAML-16 unsigned envelope InResponseTo swapped", ids: []string{"REQ-ATTACKER"}, want: saml.ErrInResponseTo, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			doc.Root().SelectAttr("InResponseTo").Value = "REQ-ATTACKER"
		}},
		{name: "SAML-16 envelope InResponseTo differs, request of assertion outstanding", want: saml.ErrInResponseTo, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			doc.Root().SelectAttr("InResponseTo").Value = "REQ-OTHER"
		}},
		{name: "SAML-17 encrypted plus unsigned assertion", sign: samltest.SignBoth, want: saml.ErrMalformed,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert },
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				plain := f.build(t, nil)
				a := assertionOf(plain)
				a.RemoveChild(sigOf(a))
				evil(a)
				doc.Root().AddChild(a)
			}},
		// 1.3 key trust and algorithms
		{name: "SAML-18 evil key, embedded evil cert", want: saml.ErrSignature, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.SignerKey, s.SignerCert = cachedKey(&testing.T{}, "evil")
		}},
		{name: "SAML-18 evil key, response", sign: samltest.SignResponse, want: saml.ErrSignature, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.SignerKey, s.SignerCert = cachedKey(&testing.T{}, "evil")
		}},
		{name: "SAML-19 cloned certificate", want: saml.ErrSignature, spec: func(f *fixture, s *samltest.ResponseSpec) {
			k, _ := cachedKey(&testing.T{}, "evil")
			s.SignerKey, s.SignerCert = k, samltest.CloneCert(&testing.T{}, f.idp.Cert, k)
		}},
		{name: "SAML-20 bare RSAKeyValue", want: saml.ErrSignature,
			spec: func(f *fixture, s *samltest.ResponseSpec) {
				s.SignerKey, s.SignerCert = cachedKey(&testing.T{}, "evil")
			},
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				ki := sigOf(assertionOf(doc)).SelectElement("KeyInfo")
				for _, c := range ki.ChildElements() {
					ki.RemoveChild(c)
				}
				k, _ := cachedKey(t, "evil")
				kv := ki.CreateElement("ds:KeyValue").CreateElement("ds:RSAKeyValue")
				kv.CreateElement("ds:Modulus").SetText(base64.StdEncoding.EncodeToString(k.N.Bytes()))
				kv.CreateElement("ds:Exponent").SetText("AQAB")
			}},
		{name: "SAML-22 rsa-sha1 refused", want: saml.ErrSignature, spec: func(f *fixture, s *samltest.ResponseSpec) { s.SHA1 = true }},
		{name: "SAML-22 rsa-sha1 response refused", sign: samltest.SignResponse, want: saml.ErrSignature, spec: func(f *fixture, s *samltest.ResponseSpec) { s.SHA1 = true }},
		{name: "SAML-22 c14n with comments", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			sigOf(assertionOf(doc)).FindElement("./SignedInfo/CanonicalizationMethod").SelectAttr("Algorithm").Value = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
		}},
		{name: "SAML-22 XSLT transform", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			tr := sigOf(assertionOf(doc)).FindElement("./SignedInfo/Reference/Transforms")
			tr.CreateElement("ds:Transform").CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
		}},
		{name: "SAML-22 hmac-sha1 with output length", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			m := sigOf(assertionOf(doc)).FindElement("./SignedInfo/SignatureMethod")
			m.SelectAttr("Algorithm").Value = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
			m.CreateElement("ds:HMACOutputLength").SetText("8")
		}},
		{name: "SAML-22 sha1 digest", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			sigOf(assertionOf(doc)).FindElement("./SignedInfo/Reference/DigestMethod").SelectAttr("Algorithm").Value = "http://www.w3.org/2000/09/xmldsig#sha1"
		}},
		{name: "KeyInfo RetrievalMethod", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			sigOf(assertionOf(doc)).SelectElement("KeyInfo").CreateElement("ds:RetrievalMethod").CreateAttr("URI", "http://127.0.0.1:1/key")
		}},
		// 1.4 parser differentials
		{name: "SAML-29 ds prefix bound to a foreign namespace", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			s := sigOf(assertionOf(doc))
			s.SelectAttr("xmlns:ds").Value = "urn:evil"
		}},
		{name: "SAML-30 duplicate NameID", want: saml.ErrSignature, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			subj := assertionOf(doc).SelectElement("Subject")
			n := subj.SelectElement("NameID").Copy()
			n.SetText("admin@corp.example")
			subj.AddChild(n)
		}},
		{name: "SAML-30 duplicate NameID signed", want: saml.ErrMalformed, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				subj := a.SelectElement("Subject")
				n := subj.SelectElement("NameID").Copy()
				n.SetText("admin@corp.example")
				subj.InsertChildAt(1, n)
			}
		}},
		{name: "SAML-30 duplicate Attribute signed", want: saml.ErrMalformed, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Attributes = append(s.Attributes, samltest.Attribute{Name: "groups", Values: []string{"admins"}})
		}},
		// 1.5 multiple assertions
		{name: "SAML-31 CVE-2022-41912 signed then unsigned copy", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			a := assertionOf(doc)
			c := a.Copy()
			c.RemoveChild(sigOf(c))
			c.SelectAttr("ID").Value = c.SelectAttrValue("ID", "") + "_attack"
			evil(c)
			doc.Root().AddChild(c)
		}},
		{name: "SAML-31 two validly signed assertions", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			other := f.build(t, func(s *samltest.ResponseSpec) { s.NameID = "bob@corp.example" })
			doc.Root().AddChild(assertionOf(other))
		}},
		// 1.6 conditions, binding, replay
		{name: "SAML-32 Conditions expired", want: saml.ErrExpired, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.SelectElement("Conditions").SelectAttr("NotOnOrAfter").Value = f.now.Add(-61 * time.Second).Format(time.RFC3339)
			}
		}},
		{name: "SAML-32 SubjectConfirmationData expired", want: saml.ErrExpired, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.FindElement(".//SubjectConfirmationData").SelectAttr("NotOnOrAfter").Value = f.now.Add(-61 * time.Second).Format(time.RFC3339)
			}
		}},
		{name: "SAML-32 IssueInstant too old", want: saml.ErrExpired, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Now = f.now.Add(-7 * time.Minute)
			s.Lifetime = 20 * time.Minute
		}},
		// crewjam reads times to the millisecond: NotOnOrAfter + skew == now.
		{name: "SAML-32 NotOnOrAfter == now after the skew", want: saml.ErrExpired,
			cfg: func(c *saml.Config) { c.ClockSkew = time.Millisecond },
			spec: func(f *fixture, s *samltest.ResponseSpec) {
				s.Modify = func(_, a *etree.Element) {
					a.SelectElement("Conditions").SelectAttr("NotOnOrAfter").Value = f.now.Add(-time.Millisecond).Format(time.RFC3339Nano)
				}
			}},
		{name: "SAML-32 SessionNotOnOrAfter passed", want: saml.ErrExpired, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.SessionNotOnOrAfter = f.now.Add(-2 * time.Minute)
		}},
		{name: "SAML-33 NotBefore in the future", want: saml.ErrNotYetValid, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.SelectElement("Conditions").SelectAttr("NotBefore").Value = f.now.Add(61 * time.Second).Format(time.RFC3339)
			}
		}},
		{name: "SAML-33 IssueInstant in the future", want: saml.ErrNotYetValid, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Now = f.now.Add(2 * time.Minute)
		}},
		{name: "SAML-34a other audience", want: saml.ErrAudience, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Audiences = []string{"https://other.example/sp"}
		}},
		{name: "SAML-34b no AudienceRestriction", want: saml.ErrAudience, spec: func(f *fixture, s *samltest.ResponseSpec) { s.Audiences = nil }},
		{name: "SAML-34c second restriction without us", want: saml.ErrAudience, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.SelectElement("Conditions").CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText("https://other.example/sp")
			}
		}},
		{name: "SAML-34e trailing slash", want: saml.ErrAudience, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Audiences = []string{f.prov.EntityID() + "/"}
		}},
		{name: "SAML-34e different case", want: saml.ErrAudience, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Audiences = []string{strings.ToUpper(f.prov.EntityID())}
		}},
		{name: "SAML-35 wrong Recipient", want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Recipient = "https://other.example/acs"
		}},
		{name: "SAML-35 missing Recipient", want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) { s.Recipient = "" }},
		{name: "SAML-35 wrong Destination signed", sign: samltest.SignResponse, want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Destination = "https://other.example/acs"
		}},
		{name: "SAML-35 missing Destination signed", sign: samltest.SignResponse, want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Destination = ""
		}},
		{name: "SAML-35 Destination with query", want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Destination = f.prov.ACSURL() + "?x=1"
		}},
		{name: "SAML-35 Destination other port", want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Destination = strings.Replace(f.prov.ACSURL(), "broker.example", "broker.example:8443", 1)
		}},
		{name: "SAML-36 no SubjectConfirmation", want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				subj := a.SelectElement("Subject")
				subj.RemoveChild(subj.SelectElement("SubjectConfirmation"))
			}
		}},
		{name: "SAML-36 holder-of-key", want: saml.ErrMalformed, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.FindElement(".//SubjectConfirmation").SelectAttr("Method").Value = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
			}
		}},
		{name: "SAML-36 extra sender-vouches", want: saml.ErrMalformed, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				sc := a.FindElement(".//SubjectConfirmation").Copy()
				sc.SelectAttr("Method").Value = "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"
				a.SelectElement("Subject").AddChild(sc)
			}
		}},
		{name: "SAML-36 no SubjectConfirmationData", want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				sc := a.FindElement(".//SubjectConfirmation")
				sc.RemoveChild(sc.SelectElement("SubjectConfirmationData"))
			}
		}},
		{name: "SAML-36 no NotOnOrAfter", want: saml.ErrMalformed, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.FindElement(".//SubjectConfirmationData").RemoveAttr("NotOnOrAfter")
			}
		}},
		{name: "SAML-37 InResponseTo for another request", ids: []string{"REQ2"}, want: saml.ErrInResponseTo},
		{name: "SAML-37 no tracker", ids: []string{}, want: saml.ErrInResponseTo},
		{name: "SAML-38 unsolicited, IdP-initiated off", want: saml.ErrInResponseTo, spec: func(f *fixture, s *samltest.ResponseSpec) { s.InResponseTo = "" }},
		{name: "SAML-38 IdP-initiated on, InResponseTo present but wrong", ids: []string{"REQ9"}, want: saml.ErrInResponseTo,
			cfg: func(c *saml.Config) { c.AllowIdPInitiated = true }},
		{name: "SAML-40 Response Issuer mismatch", want: saml.ErrIssuer, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			doc.Root().SelectElement("Issuer").SetText("https://evil.example/idp")
		}},
		{name: "SAML-40 Assertion Issuer mismatch (signed)", want: saml.ErrIssuer, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) { a.SelectElement("Issuer").SetText("https://evil.example/idp") }
		}},
		{name: "SAML-40 Assertion Issuer missing", want: saml.ErrIssuer, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) { a.RemoveChild(a.SelectElement("Issuer")) }
		}},
		{name: "SAML-40 signed Response without Issuer", sign: samltest.SignResponse, want: saml.ErrIssuer, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(r, _ *etree.Element) { r.RemoveChild(r.SelectElement("Issuer")) }
		}},
		{name: "SAML-41 Responder status", want: saml.ErrStatus, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			doc.Root().FindElement("./Status/StatusCode").SelectAttr("Value").Value = "urn:oasis:names:tc:SAML:2.0:status:Responder"
		}},
		{name: "SAML-41 double StatusCode", want: saml.ErrStatus, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			st := doc.Root().SelectElement("Status")
			st.AddChild(st.SelectElement("StatusCode").Copy())
		}},
		{name: "SAML-41 nested status code", want: saml.ErrStatus, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			sc := doc.Root().FindElement("./Status/StatusCode")
			sc.CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
		}},
		// Go's encoding/xml (crewjam's reader) and etree match attributes by
		// local name in any namespace: one local name per element.
		{name: "SAML-27 Destination twice by local name (envelope)", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			doc.Root().CreateAttr("xmlns:x", "urn:x")
			doc.Root().CreateAttr("x:Destination", "https://evil.example/acs")
		}},
		{name: "SAML-27 ID twice by local name (signed assertion)", want: saml.ErrMalformed, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.CreateAttr("xmlns:x", "urn:x")
				a.CreateAttr("x:ID", "_other")
			}
		}},
		{name: "SAML-35 confirmations disagree on Recipient", want: saml.ErrRecipient, spec: func(f *fixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				sc := a.FindElement(".//SubjectConfirmation").Copy()
				sc.FindElement("./SubjectConfirmationData").SelectAttr("Recipient").Value = "https://other.example/acs"
				a.SelectElement("Subject").AddChild(sc)
			}
		}},
		{name: "SAML-26 empty CDATA section", want: saml.ErrMalformed, mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
			doc.Root().SelectElement("Issuer").AddChild(etree.NewCData(""))
		}},
		// 1.9 encryption
		{name: "SAML-49 encrypted unsigned assertion, unsigned response", sign: samltest.SignNone, want: saml.ErrSignature,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert }},
		{name: "SAML-51 rsa-1_5 key transport", sign: samltest.SignAssertion, want: saml.ErrSignature,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert },
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				doc.Root().FindElement(".//EncryptedKey/EncryptionMethod").SelectAttr("Algorithm").Value = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
			}},
		{name: "SAML-52 two EncryptedAssertions", sign: samltest.SignAssertion, want: saml.ErrMalformed,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert },
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				ea := doc.Root().SelectElement("EncryptedAssertion").Copy()
				for _, el := range ea.FindElements(".//*[@Id]") {
					el.SelectAttr("Id").Value += "x"
				}
				doc.Root().AddChild(ea)
			}},
		{name: "SAML-52 remote RetrievalMethod for the key", sign: samltest.SignAssertion, want: saml.ErrMalformed,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert },
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				ki := doc.Root().FindElement("./EncryptedAssertion/EncryptedData/KeyInfo")
				ki.CreateElement("ds:RetrievalMethod").CreateAttr("URI", "http://127.0.0.1:1/key")
			}},
		{name: "SAML-52 encrypted plus plain assertion", sign: samltest.SignAssertion, want: saml.ErrMalformed,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert },
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				doc.Root().AddChild(assertionOf(f.build(t, nil)))
			}},
		{name: "SAML-50a bad CBC padding", sign: samltest.SignAssertion, want: saml.ErrSignature,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert },
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				cv := doc.Root().FindElement("./EncryptedAssertion/EncryptedData/CipherData/CipherValue")
				b, _ := base64.StdEncoding.DecodeString(cv.Text())
				b[len(b)-1] ^= 0xff
				cv.SetText(base64.StdEncoding.EncodeToString(b))
			}},
		{name: "SAML-50 ciphertext not a block multiple", sign: samltest.SignAssertion, want: saml.ErrSignature,
			spec: func(f *fixture, s *samltest.ResponseSpec) { s.EncryptTo = f.spCert },
			mutate: func(t *testing.T, f *fixture, doc *etree.Document) {
				cv := doc.Root().FindElement("./EncryptedAssertion/EncryptedData/CipherData/CipherValue")
				b, _ := base64.StdEncoding.DecodeString(cv.Text())
				cv.SetText(base64.StdEncoding.EncodeToString(b[:len(b)-3]))
			}},
		{name: "SAML-50c encrypted assertion with bad signature", sign: samltest.SignAssertion, want: saml.ErrSignature,
			spec: func(f *fixture, s *samltest.ResponseSpec) {
				s.EncryptTo = f.spCert
				s.SignerKey, s.SignerCert = cachedKey(&testing.T{}, "evil")
			}},
		{name: "encrypted assertion to another key", sign: samltest.SignResponse, want: saml.ErrSignature,
			spec: func(f *fixture, s *samltest.ResponseSpec) { _, s.EncryptTo = cachedKey(&testing.T{}, "evil") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.cfg)
			mk := func(mutating bool) *etree.Document {
				return f.build(t, func(s *samltest.ResponseSpec) {
					s.Sign = c.sign
					if c.spec != nil && mutating {
						c.spec(f, s)
					}
					if c.spec != nil && !mutating {
						// the baseline keeps the encryption choice only
						probe := *s
						c.spec(f, &probe)
						if probe.EncryptTo != nil {
							s.EncryptTo = f.spCert
						}
					}
				})
			}
			ids := c.ids
			if ids == nil {
				ids = []string{"REQ1"}
			}
			// The untouched baseline (same signing/encryption) is accepted.
			if c.sign != samltest.SignNone {
				if _, err := f.postDoc(t, mk(false)); err != nil {
					t.Fatalf("baseline rejected: %v", err)
				}
			}
			doc := mk(true)
			if c.mutate != nil {
				c.mutate(t, f, doc)
			}
			id, err := f.postDoc(t, doc, ids...)
			f.expectReject(t, id, err, c.want)
		})
	}
}

// TestAttributeValueNameID: an AttributeValue that holds a NameID (as
// eduPersonTargetedID does) reads as the NameID's value.
func TestAttributeValueNameID(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.postDoc(t, f.build(t, func(s *samltest.ResponseSpec) {
		s.Attributes = append(s.Attributes, samltest.Attribute{Name: "urn:oid:1.3.6.1.4.1.5923.1.1.1.10", Values: []string{"placeholder"}})
		s.Modify = func(_, a *etree.Element) {
			for _, at := range a.FindElements(".//Attribute") {
				if at.SelectAttrValue("Name", "") == "urn:oid:1.3.6.1.4.1.5923.1.1.1.10" {
					v := at.SelectElement("AttributeValue")
					v.SetText("")
					v.CreateElement("saml:NameID").SetText("targeted-7")
				}
			}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := id.Attributes["urn:oid:1.3.6.1.4.1.5923.1.1.1.10"]; len(got) != 1 || got[0] != "targeted-7" {
		t.Fatalf("value %q, want the NameID's", got)
	}
}

func TestSHA1AllowedWhenConfigured(t *testing.T) {
	f := newFixture(t, func(c *saml.Config) { c.AllowSHA1 = true })
	if _, err := f.postDoc(t, f.build(t, func(s *samltest.ResponseSpec) { s.SHA1 = true })); err != nil {
		t.Fatal(err)
	}
}

func TestAudienceAmongSeveral(t *testing.T) {
	// SAML-34d: one restriction, two Audience children, ours first or last.
	for _, order := range [][]string{{"self", "https://other.example"}, {"https://other.example", "self"}} {
		f := newFixture(t, nil)
		doc := f.build(t, func(s *samltest.ResponseSpec) {
			s.Audiences = nil
			for _, a := range order {
				if a == "self" {
					a = f.prov.EntityID()
				}
				s.Audiences = append(s.Audiences, a)
			}
		})
		if _, err := f.postDoc(t, doc); err != nil {
			t.Fatalf("%v: %v", order, err)
		}
	}
}

func TestCommentAndCDATAInjection(t *testing.T) {
	// SAML-25/26: the IdP signs alice@corp.example.evil.example; the attacker
	// splits the text with a comment or an empty CDATA section. The value read
	// must be the full one (or the response refused), never alice@corp.example.
	const signed = "alice@corp.example.evil.example"
	for _, mode := range []string{"comment", "cdata"} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, nil)
			doc := f.build(t, func(s *samltest.ResponseSpec) {
				s.NameID = signed
				s.Attributes = []samltest.Attribute{{Name: "groups", Values: []string{"dev.evil"}}}
			})
			split := func(el *etree.Element, a, b string) {
				for _, c := range el.Child {
					el.RemoveChild(c)
				}
				el.AddChild(etree.NewText(a))
				if mode == "comment" {
					el.AddChild(etree.NewComment(" x "))
				} else {
					el.AddChild(etree.NewCData(""))
				}
				el.AddChild(etree.NewText(b))
			}
			split(assertionOf(doc).FindElement(".//NameID"), "alice@corp.example", ".evil.example")
			split(assertionOf(doc).FindElement(".//AttributeValue"), "dev", ".evil")
			id, err := f.postDoc(t, doc)
			if err != nil {
				// Refusal is acceptable (xrv refuses CDATA); truncation is not.
				f.expectReject(t, id, err, nil)
				return
			}
			if id.Username != signed || id.Groups[0] != "dev.evil" {
				t.Fatalf("read truncated value: %q %v", id.Username, id.Groups)
			}
		})
	}
}

func TestExpiredMetadataCertificate(t *testing.T) {
	// SAML-23: the trusted certificate is outside its validity window.
	k, _ := cachedKey(t, "idp-old")
	old := samltest.SelfSign(t, k, "old idp", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	idp := samltest.NewIdP(t, samltest.WithKeyPair(k, old))
	f := newFixtureIdP(t, "old", idp, nil)
	id, err := f.postDoc(t, f.build(t, nil))
	f.expectReject(t, id, err, saml.ErrSignature)
}

func TestWeakMetadataKeyRefused(t *testing.T) {
	k, c := samltest.NewKeyPairBits(t, "weak", 1024)
	idp := samltest.NewIdP(t, samltest.WithKeyPair(k, c))
	_, err := saml.New(saml.Config{IdPMetadataXML: string(idp.Metadata())}, saml.Options{
		Name: "weak", PublicURL: publicURL, Key: k, Certificate: c, ReplayCache: saml.NewMemoryReplayCache(nil)})
	if err == nil {
		t.Fatal("1024-bit IdP key accepted")
	}
}

var _ = x509.Certificate{}

// MFATime is the AuthnInstant of the statement that states multi-factor
// authentication, not of a later single-factor one; without one it is zero.
func TestMFATime(t *testing.T) {
	f := newFixture(t, nil)
	// SAML has no back channel to re-check a login: its sessions end at
	// SessionNotOnOrAfter (Identity.Expiry), and the provider is no Refresher.
	if _, ok := any(f.prov).(providers.Refresher); ok {
		t.Error("the SAML provider claims to re-check logins")
	}
	id, err := f.postDoc(t, f.build(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if id.MFA || !id.MFATime.IsZero() {
		t.Fatalf("password login: MFA %v at %v", id.MFA, id.MFATime)
	}

	f = newFixture(t, nil)
	mfaAt := f.now.Add(-10 * time.Minute)
	id, err = f.postDoc(t, f.build(t, func(s *samltest.ResponseSpec) {
		s.AuthnContextClassRef = "https://refeds.org/profile/mfa"
		s.Modify = func(_, a *etree.Element) {
			first := a.SelectElement("AuthnStatement")
			first.CreateAttr("AuthnInstant", mfaAt.UTC().Format("2006-01-02T15:04:05.000Z"))
			later := first.Copy()
			later.CreateAttr("AuthnInstant", f.now.UTC().Format("2006-01-02T15:04:05.000Z"))
			later.FindElement(".//AuthnContextClassRef").SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
			a.InsertChildAt(first.Index()+1, later)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !id.MFA || !id.MFATime.Equal(mfaAt) || !id.AuthTime.Equal(f.now) {
		t.Fatalf("MFA %v at %v (want %v), AuthTime %v (want %v)", id.MFA, id.MFATime, mfaAt, id.AuthTime, f.now)
	}
}
