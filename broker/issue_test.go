package broker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/providers/saml"
)

// What differs between the surfaces that issue reaches the STS through the
// one seam: the STS action passes its session policy, the client's address
// and transport; the JSON API and the browser pass none.
func TestIssueOptionsPerSurface(t *testing.T) {
	b := newMOBroker(t)
	const pol = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	form := url.Values{"Action": {LDAPIdentityActionName}, "Version": {"2011-06-15"}, "LDAPUsername": {"dev"}, "LDAPPassword": {"pw"},
		"Policy": {pol}, "DurationSeconds": {"900"}}
	req := httptest.NewRequest(http.MethodPost, "http://broker.example.com/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.9:4711"
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<AccessKeyId>ASIAMO") {
		t.Fatalf("STS action: %d %s", rec.Code, rec.Body)
	}
	if status, out := b.api(t, map[string]any{"provider": "corp", "username": "dev", "password": "pw"}); status != http.StatusOK {
		t.Fatalf("API: %d %v", status, out)
	}
	calls := b.sts.calls()
	if len(calls) != 2 {
		t.Fatalf("%d STS calls", len(calls))
	}
	action, api := calls[0], calls[1]
	if action.Policy != pol || action.SourceIP != "192.0.2.9" || action.SecureTransport || *action.DurationSeconds != 900 {
		t.Errorf("STS action's call: policy %q, source %q, TLS %v, %ds", action.Policy, action.SourceIP, action.SecureTransport, *action.DurationSeconds)
	}
	if api.Policy != "" || api.SourceIP != "" || api.SecureTransport || api.RoleArn != action.RoleArn || api.RoleSessionName != action.RoleSessionName {
		t.Errorf("API's call: %+v", api)
	}
	if !strings.HasPrefix(action.WebIdentityToken, "eyJ") || action.WebIdentityToken == api.WebIdentityToken {
		t.Error("each issuance is vouched for with a token of its own")
	}
}

// The protocol follows the login: with the broker's SAML IdP configured a
// SAML login is redeemed with AssumeRoleWithSAML on a Response the IdP
// signed for the grant, never with a JWT.
func TestIssueSAMLLoginWithSAMLAssertion(t *testing.T) {
	b := newSAMLBroker(t, "https://broker.example.com")
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	idp, err := NewSAMLIdP(SAMLIdPConfig{PublicURL: b.pub, ProviderARN: "arn:aws:iam::" + moAccount + ":saml-provider/" + SAMLIdPProviderName,
		Key: keys.SAMLKey, Certificate: keys.SAMLCert, Now: b.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	b.s.cfg.SAMLIdP = idp
	c, id := b.start(t, "corp")
	tb := newTestBrowser(b.s, b.pub)
	signIn := b.acs(t, "corp", b.response(t, "corp", id), c)
	tb.absorb(signIn)
	rec := tb.credentialsAfterSignIn(t, signIn, moRoleARN("Developer"))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "ASIAMOSAML") {
		t.Fatalf("SAML login: %d %s", rec.Code, rec.Body)
	}
	if n := len(b.sts.calls()); n != 0 {
		t.Fatalf("%d AssumeRoleWithWebIdentity calls for a SAML login", n)
	}
	calls := b.sts.samlCalls()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRoleWithSAML calls", len(calls))
	}
	in := calls[0]
	if in.RoleArn != moRoleARN("Developer") || in.PrincipalArn != idp.ProviderARN() || in.DurationSeconds == nil || *in.DurationSeconds != 3600 {
		t.Fatalf("call %+v", in)
	}
	// The assertion is the IdP's, for this role and user.
	ver, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata: saml.MetadataSource{XML: string(idp.Metadata())}, Recipients: []string{idp.Recipient()},
		ReplayCache: saml.NewMemoryReplayCache(b.clk.now), Now: b.clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ver.Verify(context.Background(), in.SAMLAssertion)
	if err != nil {
		t.Fatalf("the broker's assertion does not verify: %v", err)
	}
	if !strings.HasPrefix(a.NameID, "Developer/corp/") || a.ExpiresAt().Sub(a.IssueInstant) > SAMLAssertionLifetime+time.Second {
		t.Errorf("NameID %q, lifetime %v", a.NameID, a.ExpiresAt().Sub(a.IssueInstant))
	}
	// The AuthnStatement's SessionIndex names the browser's session.
	if sid, _, _ := strings.Cut(tb.cookies[sessionCookieSecure].Value, "."); a.SessionIndex != sid || sid == "" {
		t.Errorf("SessionIndex %q, want the session %q", a.SessionIndex, sid)
	}
}
