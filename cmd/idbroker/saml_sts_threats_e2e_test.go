package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// THREATS.md §1 cases that do not apply to AssumeRoleWithSAML, and why:
//   - SAML-37 InResponseTo mismatch, SAML-38 unsolicited response: the STS
//     takes IdP-initiated responses only (as AWS does); there is no
//     AuthnRequest, tracker cookie or outstanding request ID to bind to, so
//     InResponseTo is not checked (SAML-16's InResponseTo swap likewise).
//   - SAML-45 deflate bomb: HTTP-Redirect binding only; SAMLAssertion is
//     plain base64 of the XML.
//   - SAML-46 RelayState open redirect: no RelayState, no redirect.
//   - SAML-47 unsigned LogoutRequest/LogoutResponse: no SLO at the STS.
//   - SAML-48 XSS via metadata: metadata is rendered nowhere by the STS and
//     checked at load (TestSAMLThreatsMetadata covers the loader).
//   - SAML-39 replay is TestSTSSAMLReplayConcurrent and TestSTSSAMLWithAWSSDK;
//     SAML-43 (over 100,000 characters), SAML-54 and most of SAML-55 are in
//     TestSTSSAMLRefusals, with SAML-03/31 (unsigned copy), 13 (unsigned), 18
//     (evil key, assertion), 22 (rsa-sha1), 32 (both NotOnOrAfter past, issue
//     age), 33 (IssueInstant ahead), 34a/b, 35 (Recipient), 36 (no Recipient,
//     holder-of-key), 40 (another issuer, validly signed), 41 (Responder) and
//     42 (file entity); they are not repeated here.
//   - SAML-49..53 (encryption): the STS has no decryption key
//     (sts.saml_providers has none), so every EncryptedAssertion is refused;
//     the rows below check that the refusal holds for each hostile shape and
//     that all of them answer alike (SAML-50: no padding/format oracle).

// stsThreatCase is one AssumeRoleWithSAML request of THREATS.md §1.
type stsThreatCase struct {
	name string
	// principal is the PrincipalArn (default the "corp" provider).
	principal string
	// doc returns the decoded SAML Response.
	doc func(t *testing.T) []byte
	// wantCode/wantStatus: the AWS error; "" means the call must succeed.
	wantCode   string
	wantStatus int
	wantMsg    string
	// check inspects the body of an accepted call.
	check func(t *testing.T, body string)
}

var (
	stsCodeRE     = regexp.MustCompile(`<Code>([^<]*)</Code>`)
	stsMessageRE  = regexp.MustCompile(`<Message>([^<]*)</Message>`)
	stsSigValueRE = regexp.MustCompile(`<(?:ds:)?SignatureValue>([^<]+)</`)
)

// stsSAMLPost POSTs AssumeRoleWithSAML as a form (the wire form the SDKs use).
func stsSAMLPost(t *testing.T, endpoint, principal, assertion string) (int, string) {
	t.Helper()
	form := url.Values{
		"Action": {"AssumeRoleWithSAML"}, "Version": {"2011-06-15"},
		"RoleArn": {samlAdminARN}, "PrincipalArn": {principal}, "SAMLAssertion": {assertion},
	}
	r := postForm(t, endpoint, form)
	return r.status, r.body
}

func stsAssertionOf(doc *etree.Document) *etree.Element { return doc.Root().SelectElement("Assertion") }

func stsSigOf(el *etree.Element) *etree.Element { return el.SelectElement("Signature") }

// stsEvil turns an assertion into the attacker's: another subject and
// session name (the Role attribute stays, so an accepted forgery would mint).
func stsEvil(a *etree.Element) {
	for _, el := range a.FindElements(".//NameID") {
		el.SetText("admin@corp.example")
	}
	for _, at := range a.FindElements(".//Attribute") {
		if at.SelectAttrValue("Name", "") == attrSession {
			for _, v := range at.SelectElements("AttributeValue") {
				v.SetText("mallory")
			}
		}
	}
}

// TestSTSSAMLThreats drives every THREATS.md §1 case that applies to
// AssumeRoleWithSAML and is not in TestSTSSAMLRefusals through the running
// server: XML signature wrapping, signature presence and placement, key trust
// and algorithms, parser differentials, multiple assertions, conditions,
// hostile XML and encrypted shapes. Each refusal is the exact AWS error
// (code, status, Sender) with no <Credentials> in the body, the issued
// counter unchanged, and neither the SAMLAssertion nor its signature value in
// the logs. Positive controls come first so the refusals are not vacuous.
func TestSTSSAMLThreats(t *testing.T) {
	var egress atomic.Int32
	sentinel := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { egress.Add(1) }))
	t.Cleanup(sentinel.Close)

	// Three providers: corp (the usual), corp2 (another trusted IdP, for
	// SAML-21) and oldcert (metadata certificate past its validity, SAML-23).
	idp := samltest.NewIdP(t)
	idp2 := samltest.NewIdP(t)
	oldKey, _ := samltest.NewKeyPair(t, "old idp")
	oldCert := samltest.SelfSign(t, oldKey, "old idp", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	idpOld := samltest.NewIdP(t, samltest.WithKeyPair(oldKey, oldCert))
	cfg := string(samlSTSConfig(idp.MetadataFile(t), false)) + fmt.Sprintf(
		"    - name: corp2\n      metadata_file: %s\n    - name: oldcert\n      metadata_file: %s\n",
		idp2.MetadataFile(t), idpOld.MetadataFile(t))
	e := &stsSAMLEnv{ts: startServer(t, []byte(cfg)), idp: idp}
	const corp2ARN = "arn:aws:iam::123456789012:saml-provider/corp2"
	const oldcertARN = "arn:aws:iam::123456789012:saml-provider/oldcert"

	evilKey, evilCert := samltest.NewKeyPair(t, "evil")
	_, spCert := samltest.NewKeyPair(t, "sts sp") // an encryption target; the STS holds no key
	clonedCert := samltest.CloneCert(t, idp.Cert, evilKey)
	hugeCert := samlHugeKeyCert(t, evilKey, evilCert, 16384)
	now := time.Now()

	// spec is the accepted baseline for a signing choice (a signed Response
	// carries the AWS Destination).
	spec := func(sign samltest.Signing) samltest.ResponseSpec {
		s := stsSAMLSpec("alice")
		s.Sign = sign
		if sign == samltest.SignResponse || sign == samltest.SignBoth {
			s.Destination = awsspec.SAMLRecipient
		}
		return s
	}
	// build builds from the baseline: specFn adjusts the spec (Modify runs
	// before signing), mutate edits the signed document.
	build := func(sign samltest.Signing, specFn func(s *samltest.ResponseSpec), mutate func(t *testing.T, doc *etree.Document)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			s := spec(sign)
			if specFn != nil {
				specFn(&s)
			}
			doc := idp.BuildResponse(t, s)
			if mutate != nil {
				mutate(t, doc)
			}
			return samltest.XML(t, doc)
		}
	}
	signed := func(mutate func(t *testing.T, doc *etree.Document)) func(t *testing.T) []byte {
		return build(samltest.SignAssertion, nil, mutate)
	}
	withSpec := func(f func(s *samltest.ResponseSpec)) func(t *testing.T) []byte {
		return build(samltest.SignAssertion, f, nil)
	}
	modify := func(f func(resp, a *etree.Element)) func(t *testing.T) []byte {
		return withSpec(func(s *samltest.ResponseSpec) { s.Modify = f })
	}
	// text edits the serialised, signed baseline.
	text := func(sign samltest.Signing, f func(doc string) string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return []byte(f(string(build(sign, nil, nil)(t)))) }
	}
	onRoot := func(attrs string) func(string) string {
		return func(doc string) string {
			return strings.Replace(doc, "<samlp:Response ", "<samlp:Response "+attrs+" ", 1)
		}
	}
	encrypted := func(mutate func(t *testing.T, doc *etree.Document)) func(t *testing.T) []byte {
		return build(samltest.SignAssertion, func(s *samltest.ResponseSpec) { s.EncryptTo = spCert }, mutate)
	}
	const itt, bad = "InvalidIdentityToken", 400
	// The messages of STS-SPEC §3/§5 (malformed is the generic refusal of a
	// document the verifier will not read).
	const (
		sigInvalid   = "Response signature invalid"
		malformed    = "Invalid SAML response"
		recipientMsg = "Response does not contain a valid Recipient"
		issuerMsg    = "Issuer not present in specified provider"
		audienceMsg  = "Response does not contain the required audience"
		expiredMsg   = "Response has expired"
		statusMsg    = "The identity provider did not report a successful authentication"
		sessionMsg   = "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"
	)
	// fullValues: an accepted split text was read whole.
	fullValues := func(t *testing.T, body string) {
		t.Helper()
		for _, want := range []string{
			"<Subject>alice@corp.example.evil.example</Subject>",
			"<Arn>arn:aws:sts::123456789012:assumed-role/SAMLAdmin/alice.evil</Arn>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("body lacks %s: %.600s", want, body)
			}
		}
	}

	cases := []stsThreatCase{
		// Positive controls: the unmodified baselines are accepted.
		{name: "control: assertion signed", doc: build(samltest.SignAssertion, nil, nil)},
		{name: "control: response signed", doc: build(samltest.SignResponse, nil, nil)},
		{name: "control: both signed", doc: build(samltest.SignBoth, nil, nil)},
		{name: "SAML-34d two Audience children, ours first", doc: withSpec(func(s *samltest.ResponseSpec) {
			s.Audiences = []string{awsspec.SAMLAudience, "https://other.example/sp"}
		})},
		{name: "SAML-34d two Audience children, ours last", doc: withSpec(func(s *samltest.ResponseSpec) {
			s.Audiences = []string{"https://other.example/sp", awsspec.SAMLAudience}
		})},

		// 1.1 XML signature wrapping.
		{name: "SAML-01 XSW1", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: build(samltest.SignResponse, nil, func(t *testing.T, doc *etree.Document) {
			root := doc.Root()
			clone := root.Copy()
			clone.RemoveChild(stsSigOf(clone))
			root.SelectAttr("ID").Value = "_evil_response_ID"
			stsEvil(stsAssertionOf(doc))
			stsSigOf(root).AddChild(clone)
		})},
		{name: "SAML-02 XSW2", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: build(samltest.SignResponse, nil, func(t *testing.T, doc *etree.Document) {
			root := doc.Root()
			clone := root.Copy()
			clone.RemoveChild(stsSigOf(clone))
			root.SelectAttr("ID").Value = "_evil_response_ID"
			stsEvil(stsAssertionOf(doc))
			root.InsertChildAt(stsSigOf(root).Index(), clone)
		})},
		{name: "SAML-04 XSW4", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			orig := stsAssertionOf(doc)
			clone := orig.Copy()
			clone.SelectAttr("ID").Value = "_evil_assertion_ID"
			clone.RemoveChild(stsSigOf(clone))
			stsEvil(clone)
			doc.Root().RemoveChild(orig)
			clone.AddChild(orig)
			doc.Root().AddChild(clone)
		})},
		{name: "SAML-05 XSW5", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			orig := stsAssertionOf(doc)
			genuine := orig.Copy()
			genuine.RemoveChild(stsSigOf(genuine))
			orig.SelectAttr("ID").Value = "_evil_assertion_ID"
			stsEvil(orig)
			doc.Root().AddChild(genuine)
		})},
		{name: "SAML-06 XSW6", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			orig := stsAssertionOf(doc)
			genuine := orig.Copy()
			genuine.RemoveChild(stsSigOf(genuine))
			orig.SelectAttr("ID").Value = "_evil_assertion_ID"
			stsEvil(orig)
			stsSigOf(orig).AddChild(genuine)
		})},
		{name: "SAML-07 XSW7 Extensions without namespace", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			orig := stsAssertionOf(doc)
			clone := orig.Copy()
			clone.RemoveChild(stsSigOf(clone))
			stsEvil(clone)
			ext := etree.NewElement("Extensions")
			ext.AddChild(clone)
			doc.Root().InsertChildAt(orig.Index(), ext)
		})},
		{name: "SAML-07 XSW7 samlp:Extensions", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			orig := stsAssertionOf(doc)
			clone := orig.Copy()
			clone.RemoveChild(stsSigOf(clone))
			clone.SelectAttr("ID").Value = "_evil"
			stsEvil(clone)
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(clone)
			doc.Root().InsertChildAt(orig.Index(), ext)
		})},
		{name: "SAML-08 XSW8", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			orig := stsAssertionOf(doc)
			genuine := orig.Copy()
			genuine.RemoveChild(stsSigOf(genuine))
			stsEvil(orig)
			stsSigOf(orig).CreateElement("ds:Object").AddChild(genuine)
		})},
		{name: "SAML-09 signed wrapper around the genuine assertion", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			orig := stsAssertionOf(doc)
			wrapper := orig.Copy()
			wrapper.SelectAttr("ID").Value = "_spoofed"
			stsEvil(wrapper)
			doc.Root().RemoveChild(orig)
			wrapper.AddChild(orig)
			doc.Root().AddChild(wrapper)
		})},
		{name: "SAML-10 duplicate ID (Id) elsewhere", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			id := stsAssertionOf(doc).SelectAttrValue("ID", "")
			ext := etree.NewElement("samlp:Extensions")
			ext.CreateElement("foo").CreateAttr("Id", id)
			doc.Root().InsertChildAt(stsAssertionOf(doc).Index(), ext)
		})},
		{name: "SAML-10 duplicate ID (id) inside the assertion", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			id := stsAssertionOf(doc).SelectAttrValue("ID", "")
			stsAssertionOf(doc).FindElement(".//NameID").CreateAttr("id", id)
		})},
		{name: "SAML-11 two References", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			si := stsSigOf(stsAssertionOf(doc)).SelectElement("SignedInfo")
			si.AddChild(si.SelectElement("Reference").Copy())
		})},
		{name: "SAML-12 DigestValue smuggled in Extensions", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			a := stsAssertionOf(doc)
			stsEvil(a)
			ext := etree.NewElement("samlp:Extensions")
			dv := ext.CreateElement("ds:DigestValue")
			dv.CreateAttr("xmlns:ds", samltest.NSDSig)
			dv.SetText(base64.StdEncoding.EncodeToString(make([]byte, 32)))
			doc.Root().InsertChildAt(a.Index(), ext)
		})},
		{name: "XSW signature moved into Subject", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			a := stsAssertionOf(doc)
			s := stsSigOf(a)
			a.RemoveChild(s)
			a.SelectElement("Subject").AddChild(s)
		})},

		// 1.2 Signature presence and placement.
		{name: "SAML-14a empty SignatureValue", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsSigOf(stsAssertionOf(doc)).SelectElement("SignatureValue").SetText("")
		})},
		{name: "SAML-14b no SignatureValue", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			s := stsSigOf(stsAssertionOf(doc))
			s.RemoveChild(s.SelectElement("SignatureValue"))
		})},
		{name: "SAML-14c no SignedInfo", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			s := stsSigOf(stsAssertionOf(doc))
			s.RemoveChild(s.SelectElement("SignedInfo"))
		})},
		{name: "SAML-14d no DigestValue", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			r := stsSigOf(stsAssertionOf(doc)).FindElement("./SignedInfo/Reference")
			r.RemoveChild(r.SelectElement("DigestValue"))
		})},
		{name: "SAML-14e Reference URI empty", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsSigOf(stsAssertionOf(doc)).FindElement("./SignedInfo/Reference").SelectAttr("URI").Value = ""
		})},
		{name: "SAML-15 signed response, NameID changed", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: build(samltest.SignResponse, nil, func(t *testing.T, doc *etree.Document) {
			stsEvil(stsAssertionOf(doc))
		})},
		{name: "SAML-15 signed assertion, NameID changed", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsEvil(stsAssertionOf(doc))
		})},
		{name: "SAML-16 unsigned envelope retargeted (Destination)", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg, doc: signed(func(t *testing.T, doc *etree.Document) {
			doc.Root().CreateAttr("Destination", "https://evil.example/saml")
		})},
		{name: "SAML-17 encrypted assertion plus an unsigned plain one", wantCode: itt, wantStatus: bad, wantMsg: malformed,
			doc: build(samltest.SignBoth, func(s *samltest.ResponseSpec) { s.EncryptTo = spCert }, func(t *testing.T, doc *etree.Document) {
				plain := idp.BuildResponse(t, spec(samltest.SignAssertion))
				a := stsAssertionOf(plain)
				a.RemoveChild(stsSigOf(a))
				stsEvil(a)
				doc.Root().AddChild(a)
			})},

		// 1.3 Key trust, certificate faking, algorithms.
		{name: "SAML-18 evil key with embedded cert, response signed", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid,
			doc: build(samltest.SignResponse, func(s *samltest.ResponseSpec) { s.SignerKey, s.SignerCert = evilKey, evilCert }, nil)},
		{name: "SAML-19 cloned certificate", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.SignerKey, s.SignerCert = evilKey, clonedCert
		})},
		{name: "SAML-20 bare RSAKeyValue", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid,
			doc: build(samltest.SignAssertion, func(s *samltest.ResponseSpec) { s.SignerKey, s.SignerCert = evilKey, evilCert },
				func(t *testing.T, doc *etree.Document) {
					ki := stsSigOf(stsAssertionOf(doc)).SelectElement("KeyInfo")
					for _, c := range ki.ChildElements() {
						ki.RemoveChild(c)
					}
					kv := ki.CreateElement("ds:KeyValue").CreateElement("ds:RSAKeyValue")
					kv.CreateElement("ds:Modulus").SetText(base64.StdEncoding.EncodeToString(evilKey.N.Bytes()))
					kv.CreateElement("ds:Exponent").SetText("AQAB")
				})},
		{name: "SAML-21 corp's issuer signed with corp2's key", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.SignerKey, s.SignerCert = idp2.Key, idp2.Cert
		})},
		{name: "SAML-21 corp's response presented for corp2", principal: corp2ARN, wantCode: itt, wantStatus: bad, wantMsg: issuerMsg, doc: build(samltest.SignAssertion, nil, nil)},
		{name: "SAML-22 c14n with comments", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsSigOf(stsAssertionOf(doc)).FindElement("./SignedInfo/CanonicalizationMethod").SelectAttr("Algorithm").Value = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
		})},
		{name: "SAML-22 XSLT transform", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			tr := stsSigOf(stsAssertionOf(doc)).FindElement("./SignedInfo/Reference/Transforms")
			tr.CreateElement("ds:Transform").CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
		})},
		{name: "SAML-22 hmac-sha1 with HMACOutputLength 8", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			m := stsSigOf(stsAssertionOf(doc)).FindElement("./SignedInfo/SignatureMethod")
			m.SelectAttr("Algorithm").Value = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
			m.CreateElement("ds:HMACOutputLength").SetText("8")
		})},
		{name: "SAML-22 sha1 digest", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsSigOf(stsAssertionOf(doc)).FindElement("./SignedInfo/Reference/DigestMethod").SelectAttr("Algorithm").Value = "http://www.w3.org/2000/09/xmldsig#sha1"
		})},
		{name: "SAML-22 rsa-sha1 response signature", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid,
			doc: build(samltest.SignResponse, func(s *samltest.ResponseSpec) { s.SHA1 = true }, nil)},
		{name: "KeyInfo RetrievalMethod to the sentinel", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsSigOf(stsAssertionOf(doc)).SelectElement("KeyInfo").CreateElement("ds:RetrievalMethod").CreateAttr("URI", sentinel.URL+"/key")
		})},
		{name: "SAML-23 metadata certificate expired", principal: oldcertARN, wantCode: itt, wantStatus: bad, wantMsg: sigInvalid,
			doc: func(t *testing.T) []byte {
				return samltest.XML(t, idpOld.BuildResponse(t, spec(samltest.SignAssertion)))
			}},
		{name: "SAML-24 16384-bit key in KeyInfo", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.SignerKey, s.SignerCert = evilKey, hugeCert
		})},
		{name: "SAML-24 16384-bit key in KeyInfo, response signed", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid,
			doc: build(samltest.SignResponse, func(s *samltest.ResponseSpec) {
				s.SignerKey, s.SignerCert = evilKey, hugeCert
			}, nil)},

		// 1.4 Canonicalization, comments, parser differentials.
		// SAML-25: exclusive C14N drops the comment, the signature holds, and
		// the STS reads the full texts (never alice@corp.example / alice).
		{name: "SAML-25 comment splits NameID and RoleSessionName", doc: stsSplitText(idp, spec(samltest.SignAssertion), "comment"), check: fullValues},
		{name: "SAML-26 CDATA splits NameID and RoleSessionName", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: stsSplitText(idp, spec(samltest.SignAssertion), "cdata")},
		// SAML-26: a character reference is the same text: accepted, read whole.
		{name: "SAML-26 character reference splits the NameID", check: fullValues, doc: func(t *testing.T) []byte {
			s := spec(samltest.SignAssertion)
			s.NameID = "alice@corp.example.evil.example"
			s.Attributes[1].Values = []string{"alice.evil"}
			d := string(samltest.XML(t, idp.BuildResponse(t, s)))
			d = strings.Replace(d, ">alice@corp.example.evil.example<", ">alice@corp.example&#x2E;evil.example<", 1)
			return []byte(strings.Replace(d, ">alice.evil<", ">alice&#46;evil<", 1))
		}},
		{name: "SAML-27 ::foo attribute", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, onRoot(`::foo="bar"`))},
		{name: "SAML-27 colon-only attribute name", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, onRoot(`:="v"`))},
		{name: "SAML-27 empty prefix declaration", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, onRoot(`xmlns:="y"`))},
		{name: "SAML-27 colon-only element", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string {
			return strings.Replace(d, "</samlp:Status>", "<:/></samlp:Status>", 1)
		})},
		{name: "SAML-27 directive", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string {
			return `<! <<!-- -->!-->"--> " >` + d
		})},
		{name: "SAML-27 saml prefix redeclared on the assertion", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsAssertionOf(doc).SelectAttr("xmlns:saml").Value = "urn:evil"
		})},
		{name: "SAML-27 duplicate Destination (signed response)", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignResponse, onRoot(`Destination="https://evil.example/saml"`))},
		{name: "SAML-27 duplicate attribute by namespace URI", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, onRoot(`xmlns:e="urn:e" xmlns:f="urn:e" e:a="1" f:a="2"`))},
		{name: "SAML-28 DOCTYPE/comment/CDATA differential", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: func(t *testing.T) []byte {
			good := string(build(samltest.SignAssertion, nil, nil)(t))
			evilDoc := string(build(samltest.SignAssertion, func(s *samltest.ResponseSpec) { s.NameID = "admin@corp.example" }, nil)(t))
			return []byte(`<!DOCTYPE response SYSTEM 'x"><!--'>` + good + `<![CDATA[-->` + evilDoc + `<!--]]>-->`)
		}},
		{name: "SAML-29 ds prefix bound to a foreign namespace", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			stsSigOf(stsAssertionOf(doc)).SelectAttr("xmlns:ds").Value = "urn:evil"
		})},
		{name: "SAML-29 DSig namespace declared on the root", doc: text(samltest.SignAssertion, onRoot(`xmlns:ds="`+samltest.NSDSig+`"`))},
		{name: "SAML-30 duplicate NameID added after signing", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			subj := stsAssertionOf(doc).SelectElement("Subject")
			n := subj.SelectElement("NameID").Copy()
			n.SetText("admin@corp.example")
			subj.AddChild(n)
		})},
		{name: "SAML-30 duplicate NameID signed", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: modify(func(_, a *etree.Element) {
			subj := a.SelectElement("Subject")
			n := subj.SelectElement("NameID").Copy()
			n.SetText("admin@corp.example")
			subj.InsertChildAt(1, n)
		})},
		{name: "SAML-30 duplicate RoleSessionName attribute signed", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.Attributes = append(s.Attributes, samltest.Attribute{Name: attrSession, Values: []string{"mallory"}})
		})},
		{name: "SAML-30 trailing garbage", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string { return d + "<x/>" })},
		{name: "SAML-30 leading garbage", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string { return "garbage" + d })},

		// 1.5 Multiple assertions.
		{name: "SAML-31 two validly signed assertions", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: signed(func(t *testing.T, doc *etree.Document) {
			s := spec(samltest.SignAssertion)
			s.NameID = "bob@corp.example"
			doc.Root().AddChild(stsAssertionOf(idp.BuildResponse(t, s)))
		})},

		// 1.6 Conditions and binding to this STS.
		{name: "SAML-32 Conditions NotOnOrAfter passed", wantCode: "ExpiredTokenException", wantStatus: bad, wantMsg: expiredMsg, doc: modify(func(_, a *etree.Element) {
			a.SelectElement("Conditions").SelectAttr("NotOnOrAfter").Value = now.Add(-2 * time.Minute).UTC().Format(time.RFC3339)
		})},
		{name: "SAML-32 SubjectConfirmationData NotOnOrAfter passed", wantCode: "ExpiredTokenException", wantStatus: bad, wantMsg: expiredMsg, doc: modify(func(_, a *etree.Element) {
			a.FindElement(".//SubjectConfirmationData").SelectAttr("NotOnOrAfter").Value = now.Add(-2 * time.Minute).UTC().Format(time.RFC3339)
		})},
		{name: "SAML-32 SessionNotOnOrAfter passed", wantCode: "ExpiredTokenException", wantStatus: bad, wantMsg: expiredMsg, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.SessionNotOnOrAfter = now.Add(-2 * time.Minute)
		})},
		{name: "SAML-33 Conditions NotBefore in the future", wantCode: itt, wantStatus: bad, wantMsg: "Response is not yet valid", doc: modify(func(_, a *etree.Element) {
			a.SelectElement("Conditions").SelectAttr("NotBefore").Value = now.Add(5 * time.Minute).UTC().Format(time.RFC3339)
		})},
		{name: "SAML-34c second AudienceRestriction without us", wantCode: itt, wantStatus: bad, wantMsg: audienceMsg, doc: modify(func(_, a *etree.Element) {
			a.SelectElement("Conditions").CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText("https://other.example/sp")
		})},
		{name: "SAML-34e Audience with a trailing slash", wantCode: itt, wantStatus: bad, wantMsg: audienceMsg, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.Audiences = []string{awsspec.SAMLRecipient + "/"}
		})},
		{name: "SAML-34e Audience in another case", wantCode: itt, wantStatus: bad, wantMsg: audienceMsg, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.Audiences = []string{strings.ToUpper(awsspec.SAMLAudience)}
		})},
		{name: "SAML-35 wrong Destination, signed response", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg,
			doc: build(samltest.SignResponse, func(s *samltest.ResponseSpec) { s.Destination = "https://evil.example/saml" }, nil)},
		{name: "SAML-35 no Destination, signed response", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg,
			doc: build(samltest.SignResponse, func(s *samltest.ResponseSpec) { s.Destination = "" }, nil)},
		{name: "SAML-35 Destination with a query", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg,
			doc: withSpec(func(s *samltest.ResponseSpec) { s.Destination = awsspec.SAMLRecipient + "?x=1" })},
		{name: "SAML-35 Destination on another port", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg,
			doc: withSpec(func(s *samltest.ResponseSpec) { s.Destination = "https://signin.aws.amazon.com:8443/saml" })},
		{name: "SAML-35 Recipient with another scheme", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg,
			doc: withSpec(func(s *samltest.ResponseSpec) { s.Recipient = "http://signin.aws.amazon.com/saml" })},
		{name: "SAML-36 no SubjectConfirmation", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg, doc: modify(func(_, a *etree.Element) {
			subj := a.SelectElement("Subject")
			subj.RemoveChild(subj.SelectElement("SubjectConfirmation"))
		})},
		{name: "SAML-36 extra sender-vouches confirmation", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: modify(func(_, a *etree.Element) {
			sc := a.FindElement(".//SubjectConfirmation").Copy()
			sc.SelectAttr("Method").Value = "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"
			a.SelectElement("Subject").AddChild(sc)
		})},
		{name: "SAML-36 no SubjectConfirmationData", wantCode: itt, wantStatus: bad, wantMsg: recipientMsg, doc: modify(func(_, a *etree.Element) {
			sc := a.FindElement(".//SubjectConfirmation")
			sc.RemoveChild(sc.SelectElement("SubjectConfirmationData"))
		})},
		{name: "SAML-36 SubjectConfirmationData without NotOnOrAfter", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: modify(func(_, a *etree.Element) {
			a.FindElement(".//SubjectConfirmationData").RemoveAttr("NotOnOrAfter")
		})},
		{name: "SAML-40 Response Issuer changed on an unsigned envelope", wantCode: itt, wantStatus: bad, wantMsg: issuerMsg, doc: signed(func(t *testing.T, doc *etree.Document) {
			doc.Root().SelectElement("Issuer").SetText("https://evil.example/idp")
		})},
		{name: "SAML-40 Assertion Issuer differs (signed)", wantCode: itt, wantStatus: bad, wantMsg: issuerMsg, doc: modify(func(_, a *etree.Element) {
			a.SelectElement("Issuer").SetText("https://evil.example/idp")
		})},
		{name: "SAML-40 Assertion Issuer missing", wantCode: itt, wantStatus: bad, wantMsg: issuerMsg, doc: modify(func(_, a *etree.Element) {
			a.RemoveChild(a.SelectElement("Issuer"))
		})},
		{name: "SAML-40 signed Response without Issuer", wantCode: itt, wantStatus: bad, wantMsg: issuerMsg,
			doc: build(samltest.SignResponse, func(s *samltest.ResponseSpec) {
				s.Modify = func(r, _ *etree.Element) { r.RemoveChild(r.SelectElement("Issuer")) }
			}, nil)},
		{name: "SAML-41 double StatusCode", wantCode: "IDPRejectedClaim", wantStatus: 403, wantMsg: statusMsg, doc: signed(func(t *testing.T, doc *etree.Document) {
			st := doc.Root().SelectElement("Status")
			st.AddChild(st.SelectElement("StatusCode").Copy())
		})},
		{name: "SAML-41 nested second-level StatusCode", wantCode: "IDPRejectedClaim", wantStatus: 403, wantMsg: statusMsg, doc: signed(func(t *testing.T, doc *etree.Document) {
			doc.Root().FindElement("./Status/StatusCode").CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
		})},

		// 1.7 Resource exhaustion and external entities.
		{name: "SAML-42 billion laughs", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string {
			return `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>` +
				strings.Replace(d, ">alice<", ">&lol2;<", 1)
		})},
		{name: "SAML-42 external DTD to the sentinel", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string {
			return `<!DOCTYPE r [<!ENTITY % sp SYSTEM "` + sentinel.URL + `/attacker.dtd">%sp;]>` + d
		})},
		{name: "SAML-44 100 nested elements in an AttributeValue", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string {
			return strings.Replace(d, ">alice<", ">"+strings.Repeat("<a>", 100)+strings.Repeat("</a>", 100)+"<", 1)
		})},
		{name: "SAML-44 65 attributes on one element", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: text(samltest.SignAssertion, func(d string) string {
			var b strings.Builder
			for i := range 65 {
				fmt.Fprintf(&b, ` a%d="x"`, i)
			}
			return strings.Replace(d, "<samlp:Status>", "<samlp:Status"+b.String()+">", 1)
		})},
		// A tree wider than the verifier's element cap (50,000) does not fit
		// in 100,000 base64 characters: the size limits answer first, the
		// request body cap (256 KiB) or the SAMLAssertion length (AWS's 100,000).
		{name: "SAML-44 60,000 sibling elements", wantCode: "RequestEntityTooLarge", wantStatus: http.StatusRequestEntityTooLarge,
			wantMsg: "Request body must not exceed 262144 bytes", doc: text(samltest.SignAssertion, func(d string) string {
				return strings.Replace(d, ">alice<", ">"+strings.Repeat("<a/>", 60000)+"<", 1)
			})},
		{name: "SAML-44 20,000 sibling elements", wantCode: "ValidationError", wantStatus: bad, doc: text(samltest.SignAssertion, func(d string) string {
			return strings.Replace(d, ">alice<", ">"+strings.Repeat("<a/>", 20000)+"<", 1)
		})},

		// 1.9 Encrypted assertions (no decryption key at the STS).
		{name: "SAML-49 encrypted unsigned assertion in an unsigned response", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid,
			doc: build(samltest.SignNone, func(s *samltest.ResponseSpec) { s.EncryptTo = spCert }, nil)},
		{name: "SAML-50a bad CBC padding", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: encrypted(func(t *testing.T, doc *etree.Document) {
			cv := doc.Root().FindElement("./EncryptedAssertion/EncryptedData/CipherData/CipherValue")
			b, err := base64.StdEncoding.DecodeString(cv.Text())
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-1] ^= 0xff
			cv.SetText(base64.StdEncoding.EncodeToString(b))
		})},
		{name: "SAML-50b non-XML plaintext", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			a := stsAssertionOf(doc)
			doc.Root().InsertChildAt(a.Index(), samltest.EncryptPlaintext(t, []byte("not xml at all"), spCert))
			doc.Root().RemoveChild(a)
		})},
		{name: "SAML-50c encrypted assertion with a bad signature", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid,
			doc: build(samltest.SignAssertion, func(s *samltest.ResponseSpec) { s.EncryptTo, s.SignerKey, s.SignerCert = spCert, evilKey, evilCert }, nil)},
		{name: "SAML-51 rsa-1_5 key transport", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: encrypted(func(t *testing.T, doc *etree.Document) {
			doc.Root().FindElement(".//EncryptedKey/EncryptionMethod").SelectAttr("Algorithm").Value = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
		})},
		{name: "SAML-52 two EncryptedAssertions", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: encrypted(func(t *testing.T, doc *etree.Document) {
			ea := doc.Root().SelectElement("EncryptedAssertion").Copy()
			for _, el := range ea.FindElements(".//*[@Id]") {
				el.SelectAttr("Id").Value += "x"
			}
			doc.Root().AddChild(ea)
		})},
		{name: "SAML-52 key by RetrievalMethod to the sentinel", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: encrypted(func(t *testing.T, doc *etree.Document) {
			ki := doc.Root().FindElement("./EncryptedAssertion/EncryptedData/KeyInfo")
			ki.CreateElement("ds:RetrievalMethod").CreateAttr("URI", sentinel.URL+"/key")
		})},
		{name: "SAML-52 encrypted plus plain assertion", wantCode: itt, wantStatus: bad, wantMsg: malformed, doc: encrypted(func(t *testing.T, doc *etree.Document) {
			doc.Root().AddChild(stsAssertionOf(idp.BuildResponse(t, spec(samltest.SignAssertion))))
		})},
		{name: "SAML-53 hostile plaintext (DOCTYPE)", wantCode: itt, wantStatus: bad, wantMsg: sigInvalid, doc: signed(func(t *testing.T, doc *etree.Document) {
			a := stsAssertionOf(doc)
			plain := `<!DOCTYPE r [<!ENTITY x SYSTEM "` + sentinel.URL + `/x">]><saml:Assertion xmlns:saml="` + samltest.NSAssertion + `">&x;</saml:Assertion>`
			doc.Root().InsertChildAt(a.Index(), samltest.EncryptPlaintext(t, []byte(plain), spCert))
			doc.Root().RemoveChild(a)
		})},

		// 1.10 AWS attributes (the rest of SAML-55 is in TestSTSSAMLRefusals).
		{name: "SAML-55 RoleSessionName with a space", wantCode: itt, wantStatus: bad, wantMsg: sessionMsg, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.Attributes[1].Values = []string{"al ice"}
		})},
		{name: "SAML-55 RoleSessionName with a newline", wantCode: itt, wantStatus: bad, wantMsg: sessionMsg, doc: withSpec(func(s *samltest.ResponseSpec) {
			s.Attributes[1].Values = []string{"al\nice"}
		})},
		{name: "SAML-55 SessionDuration -1", wantCode: "ValidationError", wantStatus: bad,
			wantMsg: "SessionDuration in AuthnResponse must be an integer between 900 and 43200", doc: withSpec(func(s *samltest.ResponseSpec) {
				s.Attributes = append(s.Attributes, samltest.Attribute{Name: attrDuration, Values: []string{"-1"}})
			})},
	}

	var secrets []string
	encMsgs := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc(t)
			assertion := samltest.Encode(doc)
			secrets = append(secrets, assertion)
			sigValues := stsSigValueRE.FindAllSubmatch(doc, -1)
			for _, m := range sigValues {
				secrets = append(secrets, string(m[1]))
			}
			if tc.wantCode == "" && len(sigValues) == 0 {
				t.Error("no SignatureValue found in a signed control (the log scan would miss it)")
			}
			principal := tc.principal
			if principal == "" {
				principal = samlProviderARN
			}
			before := e.issued(t)
			status, body := stsSAMLPost(t, e.ts.URL, principal, assertion)
			after := e.issued(t)
			if tc.wantCode == "" {
				if status != http.StatusOK || !strings.Contains(body, "<Credentials>") || !strings.Contains(body, "<AccessKeyId>ASIA") {
					t.Fatalf("control refused: %d %.300s", status, body)
				}
				if after != before+1 {
					t.Errorf("issued %d -> %d, want one more", before, after)
				}
				if tc.check != nil {
					tc.check(t, body)
				}
				return
			}
			if strings.Contains(body, "<Credentials>") || strings.Contains(body, "SecretAccessKey") {
				t.Fatalf("credentials came back: %.300s", body)
			}
			if after != before {
				t.Errorf("issued changed %d -> %d", before, after)
			}
			code, msg := "", ""
			if m := stsCodeRE.FindStringSubmatch(body); m != nil {
				code = m[1]
			}
			if m := stsMessageRE.FindStringSubmatch(body); m != nil {
				msg = m[1]
			}
			if code != tc.wantCode || status != tc.wantStatus {
				t.Errorf("got %s %d (%s), want %s %d", code, status, msg, tc.wantCode, tc.wantStatus)
			}
			if !strings.Contains(body, "<ErrorResponse") || !strings.Contains(body, "<Type>Sender</Type>") {
				t.Errorf("not an AWS Sender error: %.300s", body)
			}
			if tc.wantMsg != "" && msg != tc.wantMsg {
				t.Errorf("message %q, want %q", msg, tc.wantMsg)
			}
			if strings.HasPrefix(tc.name, "SAML-50") {
				encMsgs[fmt.Sprintf("%d %s %s", status, code, msg)] = true
			}
		})
	}
	// SAML-50: padding, format and signature failures look alike.
	if len(encMsgs) > 1 {
		t.Errorf("SAML-50 refusals differ (an oracle): %v", encMsgs)
	}
	if n := egress.Load(); n != 0 {
		t.Errorf("egress sentinel saw %d requests", n)
	}
	e.ts.assertNoSecrets(t, secrets...)
	logs := e.ts.Logs.String()
	for _, frag := range []string{"PHNhbWxw", "PD94bWw", "SAMLAssertion=", "SAMLResponse="} {
		if strings.Contains(logs, frag) {
			t.Errorf("logs contain %q", frag)
		}
	}
}

// stsSplitText builds a Response for spec whose IdP signed the NameID
// alice@corp.example.evil.example and the RoleSessionName alice.evil, then
// splits both texts with a comment or an empty CDATA section (SAML-25/26;
// exclusive C14N drops comments, so the signature still holds). The STS must
// read the full values or refuse; never alice@corp.example / alice.
func stsSplitText(idp *samltest.IdP, spec samltest.ResponseSpec, mode string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		spec.NameID = "alice@corp.example.evil.example"
		spec.Attributes[1].Values = []string{"alice.evil"}
		doc := idp.BuildResponse(t, spec)
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
		a := stsAssertionOf(doc)
		split(a.FindElement(".//NameID"), "alice@corp.example", ".evil.example")
		for _, at := range a.FindElements(".//Attribute") {
			if at.SelectAttrValue("Name", "") == attrSession {
				split(at.SelectElement("AttributeValue"), "alice", ".evil")
			}
		}
		return samltest.XML(t, doc)
	}
}
