package main

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/providers/saml/samltest"
	"github.com/idbroker/idbroker/sts"
)

// samlBrokerConfig runs two upstream IdPs side by side: okta (metadata URL,
// HTTP-Redirect binding, IdP-initiated off) and corp (metadata file,
// HTTP-POST binding, encrypted assertions, IdP-initiated on).

func samlBrokerConfig(okta, corp *samltest.IdP, corpMetadataFile string) []byte {
	return []byte(fmt.Sprintf(`
account_id: "123456789012"
providers:
  - name: okta
    type: saml
    display_name: Okta
    idp_metadata_url: %s
    groups_attribute: groups
  - name: corp
    type: saml
    idp_metadata_file: %s
    binding: post
    groups_attribute: memberOf
    allow_idp_initiated: true
rules:
  - {name: okta-devs, when: {provider: okta, groups_any: [developers]}, roles: [Developer]}
  - {name: corp-admins, when: {provider: corp, groups_any: [admins]}, roles: [Admin, Developer]}
  - {name: corp-devs, when: {provider: corp, groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
  - name: Admin
`, okta.MetadataURL(), corpMetadataFile))
}

type samlBrokerEnv struct {
	ts         *testServer
	okta, corp *samltest.IdP
}

func startSAMLBroker(t *testing.T) *samlBrokerEnv {
	t.Helper()
	return startSAMLBrokerWith(t, nil)
}

// startSAMLBrokerWith is startSAMLBroker with the configuration edited.
func startSAMLBrokerWith(t *testing.T, edit func(cfg string) string) *samlBrokerEnv {
	t.Helper()
	okta, corp := samltest.NewIdP(t), samltest.NewIdP(t)
	cfg := string(samlBrokerConfig(okta, corp, corp.MetadataFile(t)))
	if edit != nil {
		cfg = edit(cfg)
	}
	ts := startServer(t, []byte(cfg))
	for _, reg := range []struct {
		idp     *samltest.IdP
		name    string
		encrypt bool
	}{{okta, "okta", false}, {corp, "corp", true}} {
		resp, err := http.Get(ts.URL + "/saml/" + reg.name + "/metadata")
		if err != nil {
			t.Fatal(err)
		}
		md, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" {
			t.Fatalf("SP metadata of %s: %d %s", reg.name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		reg.idp.RegisterSP(t, md, reg.encrypt)
	}
	okta.SetUser(&samltest.User{NameID: "alice@corp.example", Attributes: []samltest.Attribute{{Name: "groups", Values: []string{"developers"}}}})
	corp.SetUser(&samltest.User{NameID: "bob@corp.example", Attributes: []samltest.Attribute{{Name: "memberOf", Values: []string{"admins"}}}})
	return &samlBrokerEnv{ts: ts, okta: okta, corp: corp}
}

var (
	samlAccessKeyRE = regexp.MustCompile(`export AWS_ACCESS_KEY_ID=([^\s<]+)`)
	samlSecretRE    = regexp.MustCompile(`export AWS_SECRET_ACCESS_KEY=([^\s<]+)`)
	samlTokenRE     = regexp.MustCompile(`export AWS_SESSION_TOKEN=([^\s<]+)`)
	// samlKeyIDRE is the shape of a temporary access key id.
	samlKeyIDRE = regexp.MustCompile(`\bASIA[A-Z2-7]{16}\b`)
)

type samlCreds struct{ id, secret, token string }

func samlPageCreds(t *testing.T, page string) []samlCreds {
	t.Helper()
	ids, secrets, tokens := samlAccessKeyRE.FindAllStringSubmatch(page, -1), samlSecretRE.FindAllStringSubmatch(page, -1), samlTokenRE.FindAllStringSubmatch(page, -1)
	if len(ids) == 0 || len(ids) != len(secrets) || len(ids) != len(tokens) {
		t.Fatalf("no credentials on the page:\n%s", page)
	}
	var out []samlCreds
	for i := range ids {
		out = append(out, samlCreds{html.UnescapeString(ids[i][1]), html.UnescapeString(secrets[i][1]), html.UnescapeString(tokens[i][1])})
	}
	return out
}

func samlCallerARN(t *testing.T, base string, c samlCreds) string {
	t.Helper()
	return callerARN(t, base, c.id, c.secret, c.token)
}

// TestSAMLSignIn drives real browser flows against two in-process IdPs:
// group -> role -> keys -> GetCallerIdentity with aws-sdk-go-v2.
func TestSAMLSignIn(t *testing.T) {
	env := startSAMLBroker(t)
	ts := env.ts

	t.Run("sign-in page lists both", func(t *testing.T) {
		status, page := newBrowser(t, ts.URL).get("/")
		if status != 200 || !strings.Contains(page, `href="/login/okta"`) || !strings.Contains(page, `href="/login/corp"`) {
			t.Fatalf("%d:\n%s", status, page)
		}
	})

	t.Run("SP-initiated over HTTP-Redirect", func(t *testing.T) {
		before := env.okta.SSORequests()
		client := samltest.NewBrowser(t)
		page, err := samltest.Login(t, client, ts.URL+"/login/okta")
		if err != nil {
			t.Fatal(err)
		}
		if env.okta.SSORequests() != before+1 {
			t.Error("the IdP saw no AuthnRequest")
		}
		_, got, _ := (&browser{t: t, c: client, base: ts.URL}).choose(string(page.Body), "arn:aws:iam::123456789012:role/Developer")
		c := samlPageCreds(t, got)
		if len(c) != 1 {
			t.Fatalf("%d credentials", len(c))
		}
		if arn := samlCallerARN(t, ts.URL, c[0]); arn != "arn:aws:sts::123456789012:assumed-role/Developer/alice@corp.example" {
			t.Errorf("caller %q", arn)
		}
	})

	t.Run("SP-initiated over HTTP-POST, encrypted, role chooser", func(t *testing.T) {
		client := samltest.NewBrowser(t)
		// The POST-binding page: inline script allowed by hash only, the
		// form may post only to the IdP.
		resp, err := client.Get(ts.URL + "/login/corp")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		scriptSrc := regexp.MustCompile(`script-src ([^;]*)`).FindStringSubmatch(csp)
		if scriptSrc == nil || !regexp.MustCompile(`^('sha256-[A-Za-z0-9+/]{43}=' ?)+$`).MatchString(scriptSrc[1]) {
			t.Errorf("script-src should allow the auto-submit script by hash only: %q", csp)
		}
		if strings.Contains(csp, "unsafe-inline") || !strings.HasPrefix(csp, "default-src 'none';") {
			t.Errorf("the POST-binding page allows more than its script: %q", csp)
		}
		if !strings.Contains(csp, "form-action "+env.corp.URL+";") {
			t.Errorf("CSP form-action should be the IdP origin %s: %q", env.corp.URL, csp)
		}
		if !strings.Contains(string(body), `name="SAMLRequest"`) {
			t.Fatalf("no POST-binding form:\n%s", body)
		}
		page, err := samltest.Login(t, client, ts.URL+"/login/corp")
		if err != nil {
			t.Fatal(err)
		}
		if page.Response.Request.URL.Path != "/portal" {
			t.Fatalf("ended at %s:\n%s", page.Response.Request.URL, page.Body)
		}
		b := &browser{t: t, c: client, base: ts.URL}
		status, got, _ := b.choose(string(page.Body), "arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/Developer")
		if status != 200 {
			t.Fatalf("chooser post %d:\n%s", status, got)
		}
		c := samlPageCreds(t, got)
		if len(c) != 2 {
			t.Fatalf("%d credentials", len(c))
		}
		for i, want := range []string{"Admin", "Developer"} {
			if arn := samlCallerARN(t, ts.URL, c[i]); arn != "arn:aws:sts::123456789012:assumed-role/"+want+"/bob@corp.example" {
				t.Errorf("caller %q", arn)
			}
		}
	})

	t.Run("IdP-initiated where allowed", func(t *testing.T) {
		env.corp.SetUser(&samltest.User{NameID: "carol@corp.example", Attributes: []samltest.Attribute{{Name: "memberOf", Values: []string{"developers"}}}})
		defer env.corp.SetUser(&samltest.User{NameID: "bob@corp.example", Attributes: []samltest.Attribute{{Name: "memberOf", Values: []string{"admins"}}}})
		client := samltest.NewBrowser(t)
		page, err := samltest.Login(t, client, env.corp.InitiateURL(ts.URL+"/saml/corp/metadata", "https://evil.example/"))
		if err != nil {
			t.Fatal(err)
		}
		if page.Response.Request.URL.Host != strings.TrimPrefix(ts.URL, "http://") {
			t.Fatalf("RelayState sent the browser to %s", page.Response.Request.URL)
		}
		_, got, _ := (&browser{t: t, c: client, base: ts.URL}).choose(string(page.Body), "arn:aws:iam::123456789012:role/Developer")
		c := samlPageCreds(t, got)
		if arn := samlCallerARN(t, ts.URL, c[0]); arn != "arn:aws:sts::123456789012:assumed-role/Developer/carol@corp.example" {
			t.Errorf("caller %q", arn)
		}
	})

	t.Run("IdP-initiated refused where not allowed", func(t *testing.T) {
		page, err := samltest.Login(t, samltest.NewBrowser(t), env.okta.InitiateURL(ts.URL+"/saml/okta/metadata", ""))
		if err != nil {
			t.Fatal(err)
		}
		if page.Response.StatusCode != http.StatusForbidden || strings.Contains(string(page.Body), "AWS_SECRET_ACCESS_KEY") || !strings.Contains(string(page.Body), "Request ID") {
			t.Fatalf("%d:\n%s", page.Response.StatusCode, page.Body)
		}
	})

	t.Run("an assertion from one IdP at another's ACS", func(t *testing.T) {
		client := samltest.NewBrowser(t)
		acs, resp, relay, err := samltest.CaptureResponse(t, client, ts.URL+"/login/okta")
		if err != nil {
			t.Fatal(err)
		}
		if acs != ts.URL+"/saml/okta/acs" {
			t.Fatalf("IdP posted to %s", acs)
		}
		r := samlPostACS(t, client, ts.URL+"/saml/corp/acs", url.Values{"SAMLResponse": {resp}, "RelayState": {relay}})
		r.refused(t, http.StatusForbidden)
		// The genuine ACS still takes it (the refusal consumed nothing) ...
		r = samlPostACS(t, client, acs, url.Values{"SAMLResponse": {resp}, "RelayState": {relay}})
		if r.status != http.StatusSeeOther || r.resp.Header.Get("Location") != "/portal" || !r.sessionCookie() {
			t.Fatalf("genuine ACS: %d", r.status)
		}
		// ... once.
		samlPostACS(t, client, acs, url.Values{"SAMLResponse": {resp}}).refused(t, http.StatusForbidden)
	})

	t.Run("redeemed through AssumeRoleWithSAML", func(t *testing.T) {
		logs := ts.Logs.String()
		if !strings.Contains(logs, `"via":"saml"`) || !strings.Contains(logs, "AssumeRoleWithSAML") {
			t.Error("SAML logins were not redeemed with the broker's SAML Response")
		}
	})

	t.Run("unknown provider", func(t *testing.T) {
		if status, _ := newBrowser(t, ts.URL).get("/saml/nope/metadata"); status != 404 {
			t.Errorf("metadata of unknown provider: %d", status)
		}
		samlPostACS(t, samltest.NewBrowser(t), ts.URL+"/saml/nope/acs", url.Values{"SAMLResponse": {"x"}}).refused(t, http.StatusNotFound)
	})
	ts.assertNoSecrets(t)
}

type samlACSResult struct {
	status int
	body   string
	resp   *http.Response
}

// samlPostACS posts a form to an ACS without following redirects.
func samlPostACS(t *testing.T, client *http.Client, acs string, form url.Values) samlACSResult {
	t.Helper()
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodPost, acs, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// As a browser sends it: a cross-site form post from the IdP.
	req.Header.Set("Origin", "https://idp.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return samlACSResult{status: resp.StatusCode, body: string(b), resp: resp}
}

// signedIn reports whether the ACS signed the browser in: a session
// cookie, and a redirect to the portal (never anywhere else).
func (r samlACSResult) signedIn() bool {
	return r.status == http.StatusSeeOther && r.resp.Header.Get("Location") == "/portal" && r.sessionCookie()
}

// sessionCookie reports whether the answer set a session cookie.
func (r samlACSResult) sessionCookie() bool {
	for _, c := range r.resp.Cookies() {
		if (c.Name == "idb_session" || c.Name == "__Host-idb_session") && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// refused asserts a refusal at the broker level: the status, a plain page
// with a request ID, no session cookie, no redirect, no credentials.
func (r samlACSResult) refused(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d:\n%.400s", r.status, status, r.body)
	}
	if loc := r.resp.Header.Get("Location"); loc != "" {
		t.Errorf("redirect to %q", loc)
	}
	if r.sessionCookie() {
		t.Error("session cookie set")
	}
	// An access key id has a fixed shape; the bare "ASIA" prefix could
	// occur by accident in a random value the page carries.
	if strings.Contains(r.body, "AWS_SECRET_ACCESS_KEY") || samlKeyIDRE.MatchString(r.body) {
		t.Error("credentials on a refused page")
	}
	if status != http.StatusNotFound && !strings.Contains(r.body, "Request ID") {
		t.Errorf("no request ID on the page:\n%.400s", r.body)
	}
}

// samlStartLogin begins an SP-initiated login at okta (HTTP-Redirect) in
// client and returns the AuthnRequest ID (the IdP is not contacted).
func samlStartLogin(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(base + "/login/okta")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("login start: %d %v", resp.StatusCode, err)
	}
	raw, err := base64.StdEncoding.DecodeString(loc.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	xml, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		t.Fatal(err)
	}
	id := doc.Root().SelectAttrValue("ID", "")
	if id == "" {
		t.Fatal("AuthnRequest without ID")
	}
	return id
}

// TestSAMLACSRefusals: the THREATS.md §1 cases that apply to an ACS, at the
// broker level (the verifier's own tests cover the XML in depth). Each is
// refused with a plain page, sets no session cookie, redirects nowhere,
// issues nothing, and logs the reason without the assertion.
func TestSAMLACSRefusals(t *testing.T) {
	env := startSAMLBroker(t)
	ts, idp := env.ts, env.okta
	acs, entity := ts.URL+"/saml/okta/acs", ts.URL+"/saml/okta/metadata"
	const canary = "CANARY-nameid-5e1f"
	evilKey, evilCert := samltest.NewKeyPair(t, "evil")
	groups := []samltest.Attribute{{Name: "groups", Values: []string{"developers"}}}
	base := func(reqID string) samltest.ResponseSpec {
		return samltest.ResponseSpec{InResponseTo: reqID, Destination: acs, Recipient: acs, Audiences: []string{entity}, NameID: canary, Attributes: groups}
	}
	build := func(spec samltest.ResponseSpec) string {
		return samltest.Encode(samltest.XML(t, idp.BuildResponse(t, spec)))
	}

	// First the baseline is accepted (a refusal must not be an accident).
	t.Run("baseline", func(t *testing.T) {
		client := samltest.NewBrowser(t)
		id := samlStartLogin(t, client, ts.URL)
		r := samlPostACS(t, client, acs, url.Values{"SAMLResponse": {build(base(id))}})
		if !r.signedIn() {
			t.Fatalf("baseline refused: %d\n%s", r.status, r.body)
		}
	})

	var sent []string
	cases := []struct {
		name   string
		status int
		// doc builds the SAMLResponse; reqID is this browser's outstanding request.
		doc func(reqID string) string
		// otherBrowser posts without the tracking cookie.
		otherBrowser bool
		relay        string
	}{
		{"SAML-13 no signature", 403, func(id string) string { s := base(id); s.Sign = samltest.SignNone; return build(s) }, false, ""},
		{"SAML-18 signed by an untrusted key with its certificate embedded", 403, func(id string) string {
			s := base(id)
			s.SignerKey, s.SignerCert = evilKey, evilCert
			return build(s)
		}, false, ""},
		{"SAML-19 cloned certificate", 403, func(id string) string {
			s := base(id)
			s.SignerKey, s.SignerCert = evilKey, samltest.CloneCert(t, idp.Cert, evilKey)
			return build(s)
		}, false, ""},
		{"SAML-03 two assertions", 403, func(id string) string {
			doc := idp.BuildResponse(t, base(id))
			extra := doc.FindElement("//Assertion").Copy()
			extra.CreateAttr("ID", "_evil")
			doc.Root().AddChild(extra)
			return samltest.Encode(samltest.XML(t, doc))
		}, false, ""},
		{"SAML-25 tampered NameID", 403, func(id string) string {
			return strings.Replace(string(samlDecode(t, build(base(id)))), canary, "admin@corp.example", 1)
		}, false, ""},
		{"SAML-32 expired", 403, func(id string) string { s := base(id); s.Now = time.Now().Add(-10 * time.Minute); return build(s) }, false, ""},
		{"SAML-33 not yet valid", 403, func(id string) string { s := base(id); s.Now = time.Now().Add(10 * time.Minute); return build(s) }, false, ""},
		{"SAML-34 audience of another SP", 403, func(id string) string {
			s := base(id)
			s.Audiences = []string{ts.URL + "/saml/corp/metadata"}
			return build(s)
		}, false, ""},
		{"SAML-34 no audience", 403, func(id string) string { s := base(id); s.Audiences = nil; return build(s) }, false, ""},
		{"SAML-35 recipient is another ACS", 403, func(id string) string {
			s := base(id)
			s.Recipient = ts.URL + "/saml/corp/acs"
			return build(s)
		}, false, ""},
		{"SAML-37 InResponseTo of another request", 403, func(string) string { return build(base(samltest.RandomID())) }, false, ""},
		{"SAML-37 tracking cookie absent", 403, func(id string) string { return build(base(id)) }, true, ""},
		{"SAML-38 unsolicited while IdP-initiated is off", 403, func(string) string { return build(base("")) }, false, ""},
		{"SAML-40 issuer of another IdP", 403, func(id string) string { s := base(id); s.Issuer = env.corp.EntityID; return build(s) }, false, ""},
		{"SAML-41 non-success status", 403, func(id string) string {
			s := base(id)
			s.Sign = samltest.SignBoth
			s.Modify = func(resp, _ *etree.Element) {
				resp.FindElement("Status/StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
			}
			return build(s)
		}, false, ""},
		{"SAML-42 DOCTYPE", 403, func(id string) string {
			return `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + string(samlDecode(t, build(base(id))))
		}, false, ""},
		{"SAML-43 oversized body", 413, func(string) string { return strings.Repeat("A", 3<<20) }, false, ""},
		{"not base64", 403, func(string) string { return "%%%not-base64%%%" }, false, ""},
		{"SAML-46 RelayState to another site with an invalid response", 403, func(string) string { return build(base("")) }, false, "https://evil.example/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := samltest.NewBrowser(t)
			id := samlStartLogin(t, client, ts.URL)
			doc := tc.doc(id)
			if !strings.HasPrefix(doc, "PH") && !strings.HasPrefix(doc, "%") && !strings.HasPrefix(doc, "AAAA") {
				doc = base64.StdEncoding.EncodeToString([]byte(doc))
			}
			sent = append(sent, doc)
			poster := client
			if tc.otherBrowser {
				poster = samltest.NewBrowser(t)
			}
			form := url.Values{"SAMLResponse": {doc}}
			if tc.relay != "" {
				form.Set("RelayState", tc.relay)
			}
			samlPostACS(t, poster, acs, form).refused(t, tc.status)
		})
	}

	t.Run("SAML-39 replay in another browser", func(t *testing.T) {
		client := samltest.NewBrowser(t)
		id := samlStartLogin(t, client, ts.URL)
		doc := build(base(id))
		if r := samlPostACS(t, client, acs, url.Values{"SAMLResponse": {doc}}); !r.signedIn() {
			t.Fatalf("first use: %d", r.status)
		}
		other := samltest.NewBrowser(t)
		id2 := samlStartLogin(t, other, ts.URL)
		_ = id2
		samlPostACS(t, other, acs, url.Values{"SAMLResponse": {doc}}).refused(t, 403)
		samlPostACS(t, client, acs, url.Values{"SAMLResponse": {doc}}).refused(t, 403)
	})

	t.Run("SAML-46 RelayState never followed", func(t *testing.T) {
		for _, rs := range []string{"https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/roles"} {
			client := samltest.NewBrowser(t)
			id := samlStartLogin(t, client, ts.URL)
			r := samlPostACS(t, client, acs, url.Values{"SAMLResponse": {build(base(id))}, "RelayState": {rs}})
			if !r.signedIn() {
				t.Errorf("RelayState %q: %d Location %q", rs, r.status, r.resp.Header.Get("Location"))
			}
		}
	})

	// The private reasons are logged; the documents are not.
	logs := ts.Logs.String()
	for _, want := range []string{"neither the Response nor the Assertion is signed", "login.refused"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if strings.Contains(logs, "admin@corp.example") {
		t.Error("tampered document content reached the logs")
	}
	for _, doc := range sent {
		if len(doc) > 64 && strings.Contains(logs, doc[:64]) {
			t.Errorf("a SAMLResponse (%.20s…) reached the logs", doc)
		}
	}
	ts.assertNoSecrets(t)
}

func samlDecode(t *testing.T, b64 string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBrokerSAMLAssertionBoundToRole: the trust statement for the broker's
// SAML provider binds an assertion to one role (SAML:sub starts with the
// role name) and to the broker's STS (SAML:aud); aws-sdk-go-v2 redeems the
// broker's own Responses at the Query API.
func TestBrokerSAMLAssertionBoundToRole(t *testing.T) {
	dir := t.TempDir()
	if err := broker.InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := sts.InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	keys, err := broker.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, []byte(fmt.Sprintf(`
account_id: "123456789012"
keys: {dir: %q}
roles:
  - name: Developer
  - name: Admin
`, dir)))
	const providerARN = "arn:aws:iam::123456789012:saml-provider/idbroker"
	idp, err := broker.NewSAMLIdP(broker.SAMLIdPConfig{PublicURL: ts.URL, ProviderARN: providerARN, Key: keys.SAMLKey, Certificate: keys.SAMLCert})
	if err != nil {
		t.Fatal(err)
	}
	other, err := broker.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	forger, err := broker.NewSAMLIdP(broker.SAMLIdPConfig{PublicURL: ts.URL, ProviderARN: providerARN, Key: other.SAMLKey, Certificate: other.SAMLCert})
	if err != nil {
		t.Fatal(err)
	}
	// The metadata the broker serves is the one the STS trusts.
	if status, md := newBrowser(t, ts.URL).get("/saml/idp/metadata"); status != 200 || !strings.Contains(md, `entityID="`+ts.URL+`/saml/idp/metadata"`) {
		t.Fatalf("IdP metadata %d:\n%s", status, md)
	}
	role := func(name string) string { return "arn:aws:iam::123456789012:role/" + name }
	sign := func(i *broker.SAMLIdP, roleARN, nameID string) string {
		b64, err := i.Sign(broker.SAMLAssertionRequest{RoleARN: roleARN, NameID: nameID, SessionName: "alice", Duration: 20 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return b64
	}
	redeem := func(roleARN, assertion string) (*awssts.AssumeRoleWithSAMLOutput, error) {
		return stsClient(ts.URL, nil).AssumeRoleWithSAML(context.Background(), &awssts.AssumeRoleWithSAMLInput{
			RoleArn: aws.String(roleARN), PrincipalArn: aws.String(providerARN), SAMLAssertion: aws.String(assertion),
		})
	}
	good := sign(idp, role("Developer"), broker.Subject("Developer", "okta", "alice"))
	out, err := redeem(role("Developer"), good)
	if err != nil {
		t.Fatalf("the broker's own assertion: %v", err)
	}
	if *out.Audience != ts.URL+"/saml" || *out.Issuer != ts.URL+"/saml/idp/metadata" {
		t.Errorf("audience %q issuer %q", *out.Audience, *out.Issuer)
	}
	if d := time.Until(*out.Credentials.Expiration); d > 21*time.Minute || d < 19*time.Minute {
		t.Errorf("session lasts %v, want the SessionDuration of 20m", d)
	}
	if arn := callerARN(t, ts.URL, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken); arn != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
		t.Errorf("caller %q", arn)
	}
	for _, tc := range []struct {
		name, role, assertion, code string
	}{
		{"replayed", role("Developer"), good, "InvalidIdentityToken"},
		{"subject names another role", role("Admin"), sign(idp, role("Admin"), broker.Subject("Developer", "okta", "alice")), "AccessDenied"},
		{"role attribute names another role", role("Admin"), sign(idp, role("Developer"), broker.Subject("Admin", "okta", "alice")), "AccessDenied"},
		{"signed by another key", role("Developer"), sign(forger, role("Developer"), broker.Subject("Developer", "okta", "alice")), "InvalidIdentityToken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := redeem(tc.role, tc.assertion); apiCode(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
	ts.assertNoSecrets(t, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
}
