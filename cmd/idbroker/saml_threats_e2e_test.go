package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// samlThreatCase is one hostile ACS post of THREATS.md §1, driven through
// the running server.
type samlThreatCase struct {
	name string
	// provider is "okta" (SP-initiated, assertion or response signed) or
	// "corp" (IdP-initiated allowed, encrypted assertions).
	provider string
	// doc returns the decoded SAMLResponse; reqID is the browser's
	// outstanding AuthnRequest ID (okta only).
	doc    func(t *testing.T, reqID string) []byte
	status int
	// reason is a fragment of the private reason the server must log.
	reason string
	// bounded, when set, caps the wall time of the post.
	bounded time.Duration
}

// TestSAMLThreatsACS drives more THREATS.md §1 cases end to end: SAML-24
// (huge key), SAML-27 (round-trip-unstable XML, duplicate attributes),
// SAML-29 (namespace tricks), SAML-44 (10,000 attributes), SAML-53 (hostile
// decrypted plaintext). Each is refused with a plain page, sets no session
// cookie, redirects nowhere (the RelayState names another site), issues no
// credentials, and logs its reason without the document.
func TestSAMLThreatsACS(t *testing.T) {
	env := startSAMLBroker(t)
	ts, okta, corp := env.ts, env.okta, env.corp
	const canary = "CANARY-nameid-2b9c"
	oktaACS, oktaEntity := ts.URL+"/saml/okta/acs", ts.URL+"/saml/okta/metadata"
	corpACS, corpEntity := ts.URL+"/saml/corp/acs", ts.URL+"/saml/corp/metadata"
	spEncCert := samlSPEncryptionCert(t, ts.URL+"/saml/corp/metadata")
	evilKey, evilCert := samltest.NewKeyPair(t, "evil")

	oktaSpec := func(reqID string) samltest.ResponseSpec {
		return samltest.ResponseSpec{InResponseTo: reqID, Destination: oktaACS, Recipient: oktaACS, Audiences: []string{oktaEntity},
			NameID: canary, Attributes: []samltest.Attribute{{Name: "groups", Values: []string{"developers"}}}}
	}
	corpSpec := func() samltest.ResponseSpec {
		return samltest.ResponseSpec{Destination: corpACS, Recipient: corpACS, Audiences: []string{corpEntity},
			NameID: canary, Attributes: []samltest.Attribute{{Name: "memberOf", Values: []string{"developers"}}}}
	}
	xmlOf := func(t *testing.T, doc *etree.Document) []byte { return samltest.XML(t, doc) }
	oktaDoc := func(t *testing.T, s samltest.ResponseSpec) []byte { return xmlOf(t, okta.BuildResponse(t, s)) }
	onRoot := func(doc []byte, attrs string) []byte {
		return []byte(strings.Replace(string(doc), "<samlp:Response ", "<samlp:Response "+attrs+" ", 1))
	}
	signedResp := func(t *testing.T, reqID string) []byte {
		s := oktaSpec(reqID)
		s.Sign = samltest.SignResponse
		return oktaDoc(t, s)
	}
	// encrypted wraps plaintext (an assertion, hostile or not) in an
	// EncryptedAssertion for our SP key, inside an unsigned Response from corp.
	encrypted := func(t *testing.T, plaintext []byte) []byte {
		doc := corp.BuildResponse(t, corpSpec())
		a := doc.Root().SelectElement("Assertion")
		doc.Root().InsertChildAt(a.Index(), samltest.EncryptPlaintext(t, plaintext, spEncCert))
		doc.Root().RemoveChild(a)
		return xmlOf(t, doc)
	}
	// signedAssertion is corp's signed assertion, serialised on its own.
	signedAssertion := func(t *testing.T) string {
		a := corp.BuildResponse(t, corpSpec()).Root().SelectElement("Assertion")
		d := etree.NewDocument()
		d.SetRoot(a.Copy())
		return string(xmlOf(t, d))
	}
	rename := func(prefix string) func(resp, a *etree.Element) {
		return func(resp, a *etree.Element) {
			for _, root := range []*etree.Element{resp, a} {
				var walk func(*etree.Element)
				walk = func(e *etree.Element) {
					if e.Space == "saml" {
						e.Space = prefix
					}
					for i := range e.Attr {
						if e.Attr[i].Space == "xmlns" && e.Attr[i].Key == "saml" {
							e.Attr[i].Key = prefix
						}
					}
					for _, c := range e.ChildElements() {
						walk(c)
					}
				}
				walk(root)
			}
		}
	}

	// Positive controls: the harness produces documents the server accepts,
	// including the legitimate namespace variants of SAML-29.
	accepted := []samlThreatCase{
		{name: "baseline (assertion signed)", provider: "okta", doc: func(t *testing.T, id string) []byte { return oktaDoc(t, oktaSpec(id)) }},
		{name: "baseline (response signed)", provider: "okta", doc: signedResp},
		{name: "SAML-29 saml2 prefix instead of saml", provider: "okta", doc: func(t *testing.T, id string) []byte {
			s := oktaSpec(id)
			s.Modify = rename("saml2")
			doc := oktaDoc(t, s)
			if !strings.Contains(string(doc), "<saml2:Assertion") {
				t.Fatal("prefix not renamed")
			}
			return doc
		}},
		{name: "SAML-29 DSig namespace declared on the root", provider: "okta", doc: func(t *testing.T, id string) []byte {
			return onRoot(oktaDoc(t, oktaSpec(id)), `xmlns:ds="http://www.w3.org/2000/09/xmldsig#"`)
		}},
		{name: "SAML-53 control: encrypted signed assertion", provider: "corp", doc: func(t *testing.T, _ string) []byte {
			return encrypted(t, []byte(signedAssertion(t)))
		}},
	}
	for _, tc := range accepted {
		t.Run("accepted/"+tc.name, func(t *testing.T) {
			r, _ := samlThreatPost(t, ts, tc)
			if !r.signedIn() {
				t.Fatalf("refused: %d\n%.600s", r.status, r.body)
			}
		})
	}

	deep := strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)
	manyAttrs := func() string {
		var b strings.Builder
		for i := range 10000 {
			fmt.Fprintf(&b, ` a%d="x"`, i)
		}
		return b.String()
	}()
	refused := []samlThreatCase{
		// SAML-24: a 16384-bit RSA key in KeyInfo; the trust comparison
		// refuses it before any RSA operation with it.
		{name: "SAML-24 16384-bit key in KeyInfo", provider: "okta", reason: "Could not verify certificate against trusted certs", bounded: time.Second,
			doc: func(t *testing.T, id string) []byte {
				s := oktaSpec(id)
				s.SignerKey, s.SignerCert = evilKey, samlHugeKeyCert(t, evilKey, evilCert, 16384)
				return oktaDoc(t, s)
			}},
		{name: "SAML-24 16384-bit key in KeyInfo (response signed)", provider: "okta", reason: "Could not verify certificate against trusted certs", bounded: time.Second,
			doc: func(t *testing.T, id string) []byte {
				s := oktaSpec(id)
				s.Sign = samltest.SignResponse
				s.SignerKey, s.SignerCert = evilKey, samlHugeKeyCert(t, evilKey, evilCert, 16384)
				return oktaDoc(t, s)
			}},
		// SAML-27: input Go's encoding/xml does not round-trip, or that two
		// parsers could read differently; refused before signature checking.
		{name: "SAML-27 ::foo attribute", provider: "okta", reason: "xml syntax error", doc: func(t *testing.T, id string) []byte {
			return onRoot(oktaDoc(t, oktaSpec(id)), `::foo="bar"`)
		}},
		{name: "SAML-27 x::Element", provider: "okta", reason: "xml syntax error", doc: func(t *testing.T, id string) []byte {
			return []byte(strings.Replace(string(oktaDoc(t, oktaSpec(id))), "</samlp:Status>", "<x::Element/></samlp:Status>", 1))
		}},
		{name: "SAML-27 := attribute", provider: "okta", reason: "malformed attribute name", doc: func(t *testing.T, id string) []byte {
			return onRoot(signedResp(t, id), `:="v"`)
		}},
		{name: "SAML-27 xmlns:= declaration", provider: "okta", reason: "malformed attribute name", doc: func(t *testing.T, id string) []byte {
			return onRoot(signedResp(t, id), `xmlns:="y"`)
		}},
		{name: "SAML-27 directive", provider: "okta", reason: "DTD or other directive refused", doc: func(t *testing.T, id string) []byte {
			return append([]byte(`<! <<!-- -->!-->"--> " >`), oktaDoc(t, oktaSpec(id))...)
		}},
		{name: "SAML-27 prefix re-declared on the signed Assertion", provider: "okta", reason: "assertion is not a direct child", doc: func(t *testing.T, id string) []byte {
			doc := okta.BuildResponse(t, oktaSpec(id))
			doc.Root().SelectElement("Assertion").CreateAttr("xmlns:saml", "urn:evil")
			return xmlOf(t, doc)
		}},
		{name: "SAML-27 duplicate Destination on a signed Response", provider: "okta", reason: "duplicate attribute", doc: func(t *testing.T, id string) []byte {
			return onRoot(signedResp(t, id), `Destination="https://evil.example/acs"`)
		}},
		{name: "SAML-27 duplicate Destination, same value", provider: "okta", reason: "duplicate attribute", doc: func(t *testing.T, id string) []byte {
			return onRoot(signedResp(t, id), `Destination="`+oktaACS+`"`)
		}},
		{name: "SAML-27 duplicate InResponseTo on a signed Response", provider: "okta", reason: "duplicate attribute", doc: func(t *testing.T, id string) []byte {
			return onRoot(signedResp(t, id), `InResponseTo="`+samltest.RandomID()+`"`)
		}},
		{name: "SAML-27 duplicate by namespace URI", provider: "okta", reason: "duplicate attribute", doc: func(t *testing.T, id string) []byte {
			return onRoot(signedResp(t, id), `xmlns:e="urn:e" xmlns:f="urn:e" e:x="1" f:x="2"`)
		}},
		// SAML-29: namespace-URI matching, not prefixes.
		{name: "SAML-29 ds prefix bound to a foreign namespace", provider: "okta", reason: "Signature element in a foreign namespace", doc: func(t *testing.T, id string) []byte {
			doc := okta.BuildResponse(t, oktaSpec(id))
			sig := doc.Root().SelectElement("Assertion").SelectElement("Signature")
			sig.SelectAttr("xmlns:ds").Value = "urn:evil"
			return xmlOf(t, doc)
		}},
		{name: "SAML-29 Response in a foreign namespace with the samlp prefix", provider: "okta", reason: "not a SAML protocol Response", doc: func(t *testing.T, id string) []byte {
			doc := okta.BuildResponse(t, oktaSpec(id))
			doc.Root().SelectAttr("xmlns:samlp").Value = "urn:evil"
			return xmlOf(t, doc)
		}},
		{name: "SAML-29 Assertion in a foreign namespace (signed so)", provider: "okta", reason: "assertion is not a direct child", doc: func(t *testing.T, id string) []byte {
			s := oktaSpec(id)
			s.Modify = func(_, a *etree.Element) { a.SelectAttr("xmlns:saml").Value = "urn:evil" }
			return oktaDoc(t, s)
		}},
		// SAML-44: 10,000 attributes on one element.
		{name: "SAML-44 10,000 attributes on the Response", provider: "okta", reason: "attributes on one element", bounded: time.Second,
			doc: func(t *testing.T, id string) []byte { return onRoot(oktaDoc(t, oktaSpec(id)), manyAttrs) }},
		{name: "SAML-44 10,000 attributes on an AttributeValue", provider: "okta", reason: "attributes on one element", bounded: time.Second,
			doc: func(t *testing.T, id string) []byte {
				return []byte(strings.Replace(string(oktaDoc(t, oktaSpec(id))), "<saml:AttributeValue", "<saml:AttributeValue"+manyAttrs, 1))
			}},
		// SAML-53: the decrypted plaintext passes the same gates.
		{name: "SAML-53 plaintext with a DOCTYPE", provider: "corp", reason: "plaintext is not acceptable XML", doc: func(t *testing.T, _ string) []byte {
			return encrypted(t, []byte(`<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>`+signedAssertion(t)))
		}},
		{name: "SAML-53 plaintext with a := attribute", provider: "corp", reason: "plaintext is not acceptable XML", doc: func(t *testing.T, _ string) []byte {
			return encrypted(t, []byte(strings.Replace(signedAssertion(t), "<saml:Assertion ", `<saml:Assertion :="v" `, 1)))
		}},
		{name: "SAML-53 plaintext with a duplicate attribute", provider: "corp", reason: "plaintext is not acceptable XML", doc: func(t *testing.T, _ string) []byte {
			return encrypted(t, []byte(strings.Replace(signedAssertion(t), "<saml:Assertion ", `<saml:Assertion Version="2.0" `, 1)))
		}},
		{name: "SAML-53 plaintext nested 100 deep", provider: "corp", reason: "plaintext is not acceptable XML", doc: func(t *testing.T, _ string) []byte {
			return encrypted(t, []byte(strings.Replace(signedAssertion(t), "</saml:AttributeValue>", deep+"</saml:AttributeValue>", 1)))
		}},
		{name: "SAML-53 plaintext with 60,000 elements", provider: "corp", reason: "plaintext is not acceptable XML", bounded: 2 * time.Second, doc: func(t *testing.T, _ string) []byte {
			return encrypted(t, []byte(strings.Replace(signedAssertion(t), "</saml:AttributeValue>", strings.Repeat("<a/>", 60000)+"</saml:AttributeValue>", 1)))
		}},
		{name: "SAML-53 plaintext with trailing garbage", provider: "corp", reason: "plaintext is not acceptable XML", doc: func(t *testing.T, _ string) []byte {
			return encrypted(t, []byte(signedAssertion(t)+"<x/>"))
		}},
	}
	var sent []string
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			if tc.status == 0 {
				tc.status = http.StatusForbidden
			}
			before := len(ts.Logs.String())
			start := time.Now()
			r, b64 := samlThreatPost(t, ts, tc)
			if d := time.Since(start); tc.bounded > 0 && d > tc.bounded {
				t.Errorf("took %v, bound %v", d, tc.bounded)
			}
			sent = append(sent, b64)
			r.refused(t, tc.status)
			samlReasonLogged(t, ts.Logs.String()[before:], tc.reason, canary, b64)
		})
	}
	logs := ts.Logs.String()
	for _, b64 := range sent {
		if len(b64) > 64 && strings.Contains(logs, b64[:64]) {
			t.Errorf("a SAMLResponse (%.20s…) reached the logs", b64)
		}
	}
	ts.assertNoSecrets(t)
}

// samlThreatPost starts a login where needed and posts tc's document to its
// ACS, with a RelayState naming another site. It returns the result and the
// base64 form value sent.
func samlThreatPost(t *testing.T, ts *testServer, tc samlThreatCase) (samlACSResult, string) {
	t.Helper()
	client := samltest.NewBrowser(t)
	id := ""
	if tc.provider == "okta" {
		id = samlStartLogin(t, client, ts.URL)
	}
	b64 := base64.StdEncoding.EncodeToString(tc.doc(t, id))
	r := samlPostACS(t, client, ts.URL+"/saml/"+tc.provider+"/acs", url.Values{"SAMLResponse": {b64}, "RelayState": {"https://evil.example/"}})
	return r, b64
}

// samlReasonLogged checks that the new log lines hold a login.refused audit
// record whose reason contains reason, and no part of the document.
func samlReasonLogged(t *testing.T, newLogs, reason, canary, b64 string) {
	t.Helper()
	found := false
	for _, line := range strings.Split(newLogs, "\n") {
		if strings.Contains(line, "login.refused") && strings.Contains(line, reason) {
			found = true
		}
	}
	if !found {
		t.Errorf("no login.refused record with reason %q:\n%s", reason, newLogs)
	}
	for _, bad := range []string{canary, b64[:min(len(b64), 64)], "PHNhbWxw", "PD94bWw", "SAMLResponse="} {
		if strings.Contains(newLogs, bad) {
			t.Errorf("logs contain %q", bad)
		}
	}
}

// samlSPEncryptionCert fetches our SP metadata and returns its encryption certificate.
func samlSPEncryptionCert(t *testing.T, metadataURL string) *x509.Certificate {
	t.Helper()
	resp, err := http.Get(metadataURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	ed := &crewjam.EntityDescriptor{}
	if err := xml.Unmarshal(body, ed); err != nil {
		t.Fatal(err)
	}
	for _, d := range ed.SPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use == "encryption" && len(kd.KeyInfo.X509Data.X509Certificates) > 0 {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd.KeyInfo.X509Data.X509Certificates[0].Data), ""))
				if err != nil {
					t.Fatal(err)
				}
				c, err := x509.ParseCertificate(der)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
		}
	}
	t.Fatal("SP metadata has no encryption certificate")
	return nil
}

// samlHugeKeyCert returns a certificate for a random bits-long RSA modulus
// (no private key exists for it), issued by parent. Embedded in KeyInfo it
// is what SAML-24 sends: costly to use, worthless to trust.
func samlHugeKeyCert(t *testing.T, parentKey *rsa.PrivateKey, parent *x509.Certificate, bits int) *x509.Certificate {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(24), Subject: pkix.Name{CommonName: "huge"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &rsa.PublicKey{N: n, E: 65537}, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSAMLThreatsMetadata is SAML-48 end to end: IdP metadata whose
// SingleSignOnService Location is a javascript: or data: URL, or whose
// Binding carries markup, is refused when loaded; the sign-in page neither
// redirects to it nor renders it, and the reason is logged.
func TestSAMLThreatsMetadata(t *testing.T) {
	idp := samltest.NewIdP(t)
	good := string(idp.Metadata())
	variants := map[string]struct {
		doc, binding, reason string
	}{
		"js-redirect": {strings.ReplaceAll(good, `Location="`+idp.SSOURL+`"`, `Location="javascript:alert(document.domain)//"`), "redirect", "invalid url scheme"},
		"js-post":     {strings.ReplaceAll(good, `Location="`+idp.SSOURL+`"`, `Location="javascript:alert(document.domain)//"`), "post", "invalid url scheme"},
		"data-url":    {strings.ReplaceAll(good, `Location="`+idp.SSOURL+`"`, `Location="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;"`), "post", "invalid url scheme"},
		"http-remote": {strings.ReplaceAll(good, `Location="`+idp.SSOURL+`"`, `Location="http://idp.example/sso"`), "redirect", "URL must use https"},
		"binding-markup": {strings.ReplaceAll(good, `Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"`,
			`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`), "post", "SingleSignOnService"},
	}
	var cfg strings.Builder
	cfg.WriteString("account_id: \"123456789012\"\nproviders:\n")
	for name, v := range variants {
		if v.doc == good {
			t.Fatalf("%s: the metadata was not modified", name)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/samlmetadata+xml")
			_, _ = io.WriteString(w, v.doc)
		}))
		t.Cleanup(srv.Close)
		fmt.Fprintf(&cfg, "  - {name: %s, type: saml, idp_metadata_url: %q, binding: %s, groups_attribute: groups}\n", name, srv.URL+"/md", v.binding)
	}
	cfg.WriteString("rules:\n  - {name: devs, when: {groups_any: [developers]}, roles: [Developer]}\nroles:\n  - name: Developer\n")
	ts := startServer(t, []byte(cfg.String()))
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			for attempt := range 2 { // the second within the fetch back-off
				before := len(ts.Logs.String())
				client := samltest.NewBrowser(t)
				client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				resp, err := client.Get(ts.URL + "/login/" + name)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				page := string(body)
				if resp.StatusCode < 500 {
					t.Errorf("attempt %d: status %d, want a server-side refusal", attempt, resp.StatusCode)
				}
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("attempt %d: redirect to %q", attempt, loc)
				}
				for _, bad := range []string{"javascript:", "data:", "<script>alert", "idp.example", "SAMLRequest", "<form"} {
					if strings.Contains(page, bad) {
						t.Errorf("attempt %d: page contains %q:\n%.600s", attempt, bad, page)
					}
				}
				for _, c := range resp.Cookies() {
					if c.MaxAge >= 0 && c.Value != "" {
						t.Errorf("attempt %d: cookie %s set", attempt, c.Name)
					}
				}
				newLogs := ts.Logs.String()[before:]
				if !strings.Contains(newLogs, "login.refused") || !strings.Contains(newLogs, v.reason) {
					t.Errorf("attempt %d: reason %q not logged:\n%s", attempt, v.reason, newLogs)
				}
			}
		})
	}
	ts.assertNoSecrets(t)
}
