package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/golang-jwt/jwt/v5"

	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

const (
	oidcClientSecret = "CANARY-oidc-client-secret"
	developerARN     = "arn:aws:iam::123456789012:role/Developer"
	adminARN         = "arn:aws:iam::123456789012:role/Admin"
)

// oidcBrokerConfig configures two upstream OIDC providers: corp (code flow
// with userinfo and overage groups, plus a mobile audience) and other.
// Groups dev earn Developer; ops earn Developer or Admin (chooser).
func oidcBrokerConfig(corp, other *oidctest.Server) []byte {
	return []byte(fmt.Sprintf(`
account_id: "123456789012"
providers:
  - name: corp
    type: oidc
    display_name: Corp SSO
    issuer: %[1]s
    client_id: test-client
    client_secret: %[3]s
    groups_claim: groups
    use_userinfo: true
    overage_endpoint: %[1]s/overage
    allowed_audiences: [mobile-app]
    timeout: 2s
  - name: other
    type: oidc
    issuer: %[2]s
    client_id: test-client
    client_secret: %[3]s
    groups_claim: groups
rules:
  - {name: devs, when: {groups_any: [dev]}, roles: [Developer]}
  - {name: ops, when: {groups_any: [ops]}, roles: [Developer, Admin]}
on_ambiguous: choose
roles:
  - name: Developer
  - name: Admin
`, corp.Issuer(), other.Issuer(), oidcClientSecret))
}

// newIdP is an oidctest issuer with Keycloak-like 5-minute ID tokens (an ID
// token's exp does not bound the session the broker issues) and a client
// secret that is a canary.
func newIdP(t *testing.T, opts ...oidctest.Option) *oidctest.Server {
	return oidctest.New(t, append([]oidctest.Option{oidctest.WithClient("test-client", oidcClientSecret), oidctest.WithTokenLifetime(5 * time.Minute)}, opts...)...)
}

// oidcBrowser is a browser with a cookie jar. follow follows every
// redirect (broker -> IdP -> broker callback -> chooser); noFollow stops at
// the first one.
type oidcBrowser struct {
	t                *testing.T
	base             string
	jar              *cookiejar.Jar
	follow, noFollow *http.Client
}

func newOIDCBrowser(t *testing.T, base string) *oidcBrowser {
	jar, _ := cookiejar.New(nil)
	return &oidcBrowser{
		t: t, base: base, jar: jar,
		follow: &http.Client{Jar: jar, Timeout: 20 * time.Second},
		noFollow: &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

type page struct {
	status int
	body   string
	path   string // final path after redirects
	resp   *http.Response
}

func (b *oidcBrowser) do(c *http.Client, req *http.Request) page {
	b.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body), path: resp.Request.URL.Path, resp: resp}
}

func (b *oidcBrowser) get(c *http.Client, u string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(c, req)
}

// start opens /login/{provider} and returns the authorization URL the
// broker redirects to.
func (b *oidcBrowser) start(provider string) *url.URL {
	b.t.Helper()
	p := b.get(b.noFollow, b.base+"/login/"+provider)
	if p.status != http.StatusFound {
		b.t.Fatalf("login start: %d %s", p.status, p.body)
	}
	u, err := url.Parse(p.resp.Header.Get("Location"))
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// loginCookie is the sealed login cookie the browser holds for provider.
func (b *oidcBrowser) loginCookie(provider string) string {
	u, _ := url.Parse(b.base + "/oidc/" + provider + "/callback")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "idb_oidc" {
			return c.Value
		}
	}
	return ""
}

// callbackWithCookie sends a callback URL with an explicit login cookie
// (what an attacker replaying or moving cookies would do), without the
// browser's other cookies and without following the redirect of a sign-in.
func (b *oidcBrowser) callbackWithCookie(u, cookie string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "idb_oidc", Value: cookie})
	}
	return b.do(&http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, req)
}

// choose posts the portal p's form (its CSRF token and one-time choice)
// for roles and returns the credentials page its redirect leads to.
func (b *oidcBrowser) choose(p page, roles ...string) page {
	b.t.Helper()
	if p.status != http.StatusOK || p.path != "/portal" {
		b.t.Fatalf("not the portal: %d at %s:\n%s", p.status, p.path, p.body)
	}
	csrf, choice := csrfRE.FindStringSubmatch(p.body), choiceRE.FindStringSubmatch(p.body)
	if csrf == nil || choice == nil {
		b.t.Fatalf("no form on the portal:\n%s", p.body)
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+"/portal/credentials", strings.NewReader(url.Values{"csrf_token": {csrf[1]}, "choice": {choice[1]}, "role": roles}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(b.follow, req)
}

var (
	keyIDRE    = regexp.MustCompile(`AWS_ACCESS_KEY_ID=([A-Z0-9]+)`)
	secretRE   = regexp.MustCompile(`AWS_SECRET_ACCESS_KEY=([A-Za-z0-9+/=_-]+)`)
	sessTokRE  = regexp.MustCompile(`AWS_SESSION_TOKEN=([A-Za-z0-9+/=_.-]+)`)
	roleOptsRE = regexp.MustCompile(`name="role" value="(arn:aws:iam::[^"]+)"`)
)

// pageKeys extracts the first set of keys from a credentials page.
func pageKeys(t *testing.T, body string) (id, secret, token string) {
	t.Helper()
	body = html.UnescapeString(body)
	m1, m2, m3 := keyIDRE.FindStringSubmatch(body), secretRE.FindStringSubmatch(body), sessTokRE.FindStringSubmatch(body)
	if m1 == nil || m2 == nil || m3 == nil {
		t.Fatalf("no keys on the page:\n%s", body)
	}
	return m1[1], m2[1], m3[1]
}

func callerARN(t *testing.T, base, id, secret, token string) string {
	t.Helper()
	who, err := stsClient(base, staticCreds(id, secret, token)).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return aws.ToString(who.Arn)
}

func noKeys(t *testing.T, body string) {
	t.Helper()
	if strings.Contains(body, "AWS_SECRET_ACCESS_KEY") || strings.Contains(body, "SecretAccessKey") {
		t.Fatalf("credentials issued:\n%s", body)
	}
}

// TestOIDCBrowserLogin walks the code flow as a browser: sign-in page,
// redirect to the IdP with PKCE S256, callback, userinfo/overage groups,
// role chooser, keys, and GetCallerIdentity with the AWS SDK.
func TestOIDCBrowserLogin(t *testing.T) {
	corp, other := newIdP(t), newIdP(t)
	sentinel := oidctest.NewSentinel(t)
	ts := startServer(t, oidcBrokerConfig(corp, other))
	var secrets []string

	t.Run("authorization request", func(t *testing.T) {
		b := newOIDCBrowser(t, ts.URL)
		if p := b.get(b.follow, ts.URL+"/"); !strings.Contains(p.body, `href="/login/corp"`) || !strings.Contains(p.body, "Corp SSO") {
			t.Fatalf("sign-in page lacks corp:\n%s", p.body)
		}
		p := b.get(b.noFollow, ts.URL+"/login/corp")
		if p.status != http.StatusFound || p.resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("login start: %d %v", p.status, p.resp.Header)
		}
		u, _ := url.Parse(p.resp.Header.Get("Location"))
		q := u.Query()
		if !strings.HasPrefix(u.String(), corp.URL(oidctest.Authorize)+"?") {
			t.Fatalf("redirected to %s", u)
		}
		want := map[string]string{"client_id": "test-client", "response_type": "code", "code_challenge_method": "S256", "redirect_uri": ts.URL + "/oidc/corp/callback"}
		for k, v := range want {
			if q.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, q.Get(k), v)
			}
		}
		for _, k := range []string{"state", "nonce", "code_challenge"} {
			if len(q.Get(k)) < 43 {
				t.Errorf("%s %q is too short", k, q.Get(k))
			}
		}
		if !strings.Contains(q.Get("scope"), "openid") {
			t.Errorf("scope %q", q.Get("scope"))
		}
		var c *http.Cookie
		for _, ck := range p.resp.Cookies() {
			if ck.Name == "idb_oidc" {
				c = ck
			}
		}
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/oidc/corp/" || c.MaxAge != 600 || c.Secure {
			t.Fatalf("login cookie %+v", c)
		}
		for _, v := range []string{q.Get("state"), q.Get("nonce")} {
			if strings.Contains(c.Value, v) {
				t.Error("state or nonce readable in the cookie")
			}
		}
		// Nothing in the request chooses where the browser goes (WEB-02).
		for _, q := range []string{"redirect_uri=https://evil.example/cb", "next=//evil.example", "return_to=%2F%09%2Fevil.example", "state=chosen"} {
			p := b.get(b.noFollow, ts.URL+"/login/corp?"+q)
			u, _ := url.Parse(p.resp.Header.Get("Location"))
			if p.status != http.StatusFound || !strings.HasPrefix(u.String(), corp.URL(oidctest.Authorize)+"?") ||
				u.Query().Get("redirect_uri") != ts.URL+"/oidc/corp/callback" || u.Query().Get("state") == "chosen" {
				t.Errorf("?%s: %d to %s", q, p.status, u)
			}
		}
		// A second login gets fresh values.
		if u2 := b.start("corp"); u2.Query().Get("state") == q.Get("state") || u2.Query().Get("nonce") == q.Get("nonce") {
			t.Error("state/nonce reused across logins")
		}
	})

	t.Run("dev group from the ID token gives Developer keys", func(t *testing.T) {
		b := newOIDCBrowser(t, ts.URL)
		p := b.get(b.follow, ts.URL+"/login/corp")
		if p.status != 200 || p.path != "/portal" {
			t.Fatalf("%d at %s:\n%s", p.status, p.path, p.body)
		}
		p = b.choose(p, developerARN)
		id, secret, token := pageKeys(t, p.body)
		secrets = append(secrets, secret, token)
		if got := callerARN(t, ts.URL, id, secret, token); got != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
			t.Errorf("caller %s", got)
		}
		if c := b.loginCookie("corp"); c != "" {
			t.Error("login cookie not cleared after the callback")
		}
	})

	t.Run("userinfo groups lead to the role chooser", func(t *testing.T) {
		corp.SetUser(map[string]any{"sub": "u-ops", "preferred_username": "olivia", "email": "olivia@example.com", "email_verified": true})
		corp.SetUserinfo(map[string]any{"sub": "u-ops", "groups": []any{"ops"}})
		t.Cleanup(func() { corp.SetUserinfo(nil) })
		b := newOIDCBrowser(t, ts.URL)
		before := corp.Hits(oidctest.Userinfo)
		p := b.get(b.follow, ts.URL+"/login/corp")
		if p.status != 200 || p.path != "/portal" {
			t.Fatalf("%d at %s:\n%s", p.status, p.path, p.body)
		}
		if corp.Hits(oidctest.Userinfo) != before+1 {
			t.Error("userinfo not called")
		}
		var roles []string
		for _, m := range roleOptsRE.FindAllStringSubmatch(p.body, -1) {
			roles = append(roles, m[1])
		}
		if strings.Join(roles, " ") != developerARN+" "+adminARN {
			t.Fatalf("chooser offers %v:\n%s", roles, p.body)
		}
		p = b.choose(p, adminARN)
		if p.status != 200 {
			t.Fatalf("choose Admin: %d\n%s", p.status, p.body)
		}
		id, secret, token := pageKeys(t, p.body)
		secrets = append(secrets, secret, token)
		if got := callerARN(t, ts.URL, id, secret, token); got != "arn:aws:sts::123456789012:assumed-role/Admin/olivia" {
			t.Errorf("caller %s", got)
		}
	})

	t.Run("overage groups come from the configured endpoint, never the token's", func(t *testing.T) {
		corp.SetUser(map[string]any{
			"sub": "u-ovr", "preferred_username": "oscar",
			"_claim_names":   map[string]any{"groups": "src1"},
			"_claim_sources": map[string]any{"src1": map[string]any{"endpoint": sentinel.URL() + "/getMemberObjects"}},
		})
		corp.SetOverageGroups([]string{"dev"})
		before := corp.Hits(oidctest.Overage)
		b := newOIDCBrowser(t, ts.URL)
		p := b.choose(b.get(b.follow, ts.URL+"/login/corp"), developerARN)
		if p.status != 200 {
			t.Fatalf("%d at %s:\n%s", p.status, p.path, p.body)
		}
		id, secret, token := pageKeys(t, p.body)
		secrets = append(secrets, secret, token)
		if got := callerARN(t, ts.URL, id, secret, token); got != "arn:aws:sts::123456789012:assumed-role/Developer/oscar" {
			t.Errorf("caller %s", got)
		}
		if corp.Hits(oidctest.Overage) != before+1 || sentinel.Hits() != 0 {
			t.Errorf("overage hits %d, sentinel hits %d", corp.Hits(oidctest.Overage)-before, sentinel.Hits())
		}
	})

	t.Run("no grant", func(t *testing.T) {
		corp.SetUser(map[string]any{"sub": "u-eve", "preferred_username": "eve", "groups": []any{"contractors"}})
		b := newOIDCBrowser(t, ts.URL)
		p := b.get(b.follow, ts.URL+"/login/corp")
		if p.status != http.StatusForbidden {
			t.Fatalf("%d:\n%s", p.status, p.body)
		}
		noKeys(t, p.body)
	})
	ts.assertNoSecrets(t, append(secrets, oidcClientSecret)...)
}

// TestOIDCCallbackRefusals covers THREATS §2.4 (state, nonce, PKCE, mix-up,
// IdP errors) and hostile ID tokens at the browser callback: each is
// refused with no keys, no egress to the sentinel, and nothing secret in
// the logs.
func TestOIDCCallbackRefusals(t *testing.T) {
	corp, other := newIdP(t), newIdP(t)
	sentinel := oidctest.NewSentinel(t)
	ts := startServer(t, oidcBrokerConfig(corp, other))
	var secrets []string

	// authorized runs the login start and the IdP approval, returning the
	// callback URL (not yet visited) and the browser.
	authorized := func(t *testing.T, provider string, idp *oidctest.Server) (*oidcBrowser, *url.URL, url.Values) {
		b := newOIDCBrowser(t, ts.URL)
		authURL := b.start(provider)
		cb, err := idp.Authorize(authURL.String())
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, cb.Query().Get("code"))
		return b, cb, authURL.Query()
	}
	withQuery := func(u *url.URL, edit func(q url.Values)) string {
		c := *u
		q := c.Query()
		edit(q)
		c.RawQuery = q.Encode()
		return c.String()
	}
	hostileToken := func(t *testing.T, tok string) {
		body, _ := json.Marshal(map[string]any{"access_token": "at-x", "token_type": "Bearer", "id_token": tok})
		corp.SetFault(oidctest.Token, oidctest.Fault{Body: body})
		t.Cleanup(func() { corp.ClearFault(oidctest.Token) })
		secrets = append(secrets, tok)
	}

	cases := []struct {
		name string
		// run returns the callback page; tokenHits is how many token
		// endpoint requests the case may make (0: refused before).
		run       func(t *testing.T) page
		wantCode  int
		tokenHits int
	}{
		{"state missing", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cb, func(q url.Values) { q.Del("state") }))
		}, 400, 0},
		{"state forged", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cb, func(q url.Values) { s := q.Get("state"); q.Set("state", flipFirst(s)) }))
		}, 400, 0},
		{"state of another browser", func(t *testing.T) page {
			_, cbA, _ := authorized(t, "corp", corp)
			b, cbB, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cbB, func(q url.Values) { q.Set("state", cbA.Query().Get("state")) }))
		}, 400, 0},
		{"state repeated", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cb, func(q url.Values) { q.Add("state", q.Get("state")) }))
		}, 400, 0},
		{"no login cookie", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			return b.callbackWithCookie(cb.String(), "")
		}, 400, 0},
		{"tampered login cookie", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			c := []byte(b.loginCookie("corp"))
			c[len(c)/2] ^= 1
			return b.callbackWithCookie(cb.String(), string(c))
		}, 400, 0},
		{"cookie of provider other at corp's callback", func(t *testing.T) page {
			b, cbOther, _ := authorized(t, "other", other)
			cookie := b.loginCookie("other")
			u := withQuery(cbOther, func(url.Values) {})
			u = strings.Replace(u, "/oidc/other/", "/oidc/corp/", 1)
			return b.callbackWithCookie(u, cookie)
		}, 400, 0},
		{"other IdP's response with corp's state (mix-up)", func(t *testing.T) page {
			// The browser started at corp; IdP other answers with its own
			// code and corp's state. Corp's token endpoint refuses the
			// foreign code; other's never sees it (checked below).
			b, cbCorp, _ := authorized(t, "corp", corp)
			otherAuth := b.start("other")
			cbOther, err := other.Authorize(otherAuth.String())
			if err != nil {
				t.Fatal(err)
			}
			return b.get(b.follow, withQuery(cbCorp, func(q url.Values) { q.Set("code", cbOther.Query().Get("code")) }))
		}, 401, 1},
		{"iss parameter of another issuer", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cb, func(q url.Values) { q.Set("iss", other.Issuer()) }))
		}, 401, 0},
		{"IdP error parameter", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cb, func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("error_description", "<script>alert(1)</script>")
			}))
		}, 403, 0},
		{"code missing", func(t *testing.T) page {
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cb, func(q url.Values) { q.Del("code") }))
		}, 400, 0},
		{"code of another login (PKCE: wrong verifier)", func(t *testing.T) page {
			_, cbVictim, _ := authorized(t, "corp", corp)
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, withQuery(cb, func(q url.Values) { q.Set("code", cbVictim.Query().Get("code")) }))
		}, 401, 1},
		{"wrong nonce", func(t *testing.T) page {
			corp.MutateIDToken(func(c map[string]any) { c["nonce"] = "not-the-nonce" })
			t.Cleanup(func() { corp.MutateIDToken(nil) })
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"nonce missing", func(t *testing.T) page {
			corp.MutateIDToken(func(c map[string]any) { delete(c, "nonce") })
			t.Cleanup(func() { corp.MutateIDToken(nil) })
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"expired ID token", func(t *testing.T) page {
			corp.MutateIDToken(func(c map[string]any) {
				c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
				c["exp"] = time.Now().Add(-time.Hour).Unix()
			})
			t.Cleanup(func() { corp.MutateIDToken(nil) })
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"wrong aud", func(t *testing.T) page {
			corp.MutateIDToken(func(c map[string]any) { c["aud"] = "other-client" })
			t.Cleanup(func() { corp.MutateIDToken(nil) })
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"mobile audience is not enough for the code flow", func(t *testing.T) page {
			corp.MutateIDToken(func(c map[string]any) { c["aud"] = "mobile-app" })
			t.Cleanup(func() { corp.MutateIDToken(nil) })
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"at_hash mismatch", func(t *testing.T) page {
			corp.MutateIDToken(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" })
			t.Cleanup(func() { corp.MutateIDToken(nil) })
			b, cb, _ := authorized(t, "corp", corp)
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"ID token issued by the other IdP", func(t *testing.T) page {
			b, cb, auth := authorized(t, "corp", corp)
			c := other.Claims("test-client")
			c["nonce"] = auth.Get("nonce")
			hostileToken(t, other.Sign(c))
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"alg none", func(t *testing.T) page {
			b, cb, auth := authorized(t, "corp", corp)
			c := corp.Claims("test-client")
			c["nonce"] = auth.Get("nonce")
			hostileToken(t, oidctest.Unsigned(map[string]any{"alg": "none", "typ": "JWT"}, c))
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"jku and x5u to the sentinel, known kid", func(t *testing.T) page {
			b, cb, auth := authorized(t, "corp", corp)
			c := corp.Claims("test-client")
			c["nonce"] = auth.Get("nonce")
			evil := corp.NewKey("RS256")
			hostileToken(t, corp.SignWith(evil, map[string]any{"kid": corp.CurrentKey().KID, "jku": sentinel.URL() + "/jwks.json", "x5u": sentinel.URL() + "/cert.pem"}, c))
			return b.get(b.follow, cb.String())
		}, 401, 1},
		// An unknown kid, with the issuer's key set fetched fine, is a
		// refused token (not an outage).
		{"jku and x5u to the sentinel, unknown kid", func(t *testing.T) page {
			b, cb, auth := authorized(t, "corp", corp)
			c := corp.Claims("test-client")
			c["nonce"] = auth.Get("nonce")
			evil := corp.NewKey("RS256")
			hostileToken(t, corp.SignWith(evil, map[string]any{"kid": evil.KID, "jku": sentinel.URL() + "/jwks.json", "x5u": sentinel.URL() + "/cert.pem"}, c))
			return b.get(b.follow, cb.String())
		}, 401, 1},
		{"overage pointing at the sentinel without overage endpoint (other)", func(t *testing.T) page {
			other.SetUser(map[string]any{"sub": "u-1", "_claim_names": map[string]any{"groups": "s"}, "_claim_sources": map[string]any{"s": map[string]any{"endpoint": sentinel.URL()}}})
			t.Cleanup(func() {
				other.SetUser(map[string]any{"sub": "u-123", "preferred_username": "alice", "groups": []any{"dev"}})
			})
			b, cb, _ := authorized(t, "other", other)
			return b.get(b.follow, cb.String())
		}, 502, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := corp.Hits(oidctest.Token)
			otherBefore := other.Hits(oidctest.Token)
			p := tc.run(t)
			if p.status != tc.wantCode {
				t.Fatalf("status %d, want %d:\n%s", p.status, tc.wantCode, p.body)
			}
			noKeys(t, p.body)
			if !strings.Contains(p.body, "Request ID") || strings.Contains(p.body, "<script>") {
				t.Errorf("error page:\n%s", p.body)
			}
			if got := corp.Hits(oidctest.Token) - before; got != tc.tokenHits {
				t.Errorf("corp token endpoint hit %d times, want %d", got, tc.tokenHits)
			}
			if tc.name != "overage pointing at the sentinel without overage endpoint (other)" {
				if got := other.Hits(oidctest.Token) - otherBefore; got != 0 {
					t.Errorf("other's token endpoint hit %d times", got)
				}
			}
			if sentinel.Hits() != 0 {
				t.Error("the sentinel was contacted")
			}
		})
	}

	t.Run("replayed callback with a replayed cookie", func(t *testing.T) {
		b, cb, _ := authorized(t, "corp", corp)
		cookie := b.loginCookie("corp")
		p := b.callbackWithCookie(cb.String(), cookie)
		if p.status != http.StatusSeeOther || p.resp.Header.Get("Location") != "/portal" {
			t.Fatalf("first callback %d:\n%s", p.status, p.body)
		}
		before := corp.Hits(oidctest.Token)
		p = b.callbackWithCookie(cb.String(), cookie)
		if p.status != 400 || corp.Hits(oidctest.Token) != before {
			t.Fatalf("replay: %d, token hits +%d", p.status, corp.Hits(oidctest.Token)-before)
		}
		noKeys(t, p.body)
	})

	t.Run("unknown provider callback", func(t *testing.T) {
		b := newOIDCBrowser(t, ts.URL)
		if p := b.get(b.follow, ts.URL+"/oidc/nope/callback?code=x&state=y"); p.status != 404 {
			t.Fatalf("%d", p.status)
		}
	})
	if logs := ts.Logs.String(); !strings.Contains(logs, "oidc state replayed") || !strings.Contains(logs, "access_denied") {
		t.Error("refusal reasons missing from the log")
	}
	ts.assertNoSecrets(t, append(secrets, oidcClientSecret)...)
}

// TestOIDCIssParameterRequired: a provider advertising RFC 9207 must send
// iss; its absence stops the login before the code is redeemed.
func TestOIDCIssParameterRequired(t *testing.T) {
	corp, other := newIdP(t, oidctest.WithIssParameter()), newIdP(t)
	ts := startServer(t, oidcBrokerConfig(corp, other))
	b := newOIDCBrowser(t, ts.URL)
	cb, err := corp.Authorize(b.start("corp").String())
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("iss") != corp.Issuer() {
		t.Fatalf("IdP did not send iss: %s", cb)
	}
	q := cb.Query()
	q.Del("iss")
	stripped := *cb
	stripped.RawQuery = q.Encode()
	p := b.get(b.follow, stripped.String())
	if p.status != 401 || corp.Hits(oidctest.Token) != 0 {
		t.Fatalf("without iss: %d, token hits %d", p.status, corp.Hits(oidctest.Token))
	}
	noKeys(t, p.body)
	// With iss the flow completes.
	p = b.choose(b.get(b.follow, ts.URL+"/login/corp"), developerARN)
	if p.status != 200 {
		t.Fatalf("with iss: %d\n%s", p.status, p.body)
	}
	_, secret, token := pageKeys(t, p.body)
	ts.assertNoSecrets(t, secret, token, oidcClientSecret)
}

// apiJSON posts JSON to the credentials API.
func apiJSON(t *testing.T, base string, body map[string]any) (int, map[string]any) {
	t.Helper()
	return apiLogin(t, base, body)
}

// postToken posts an RFC 8693 request.
func postToken(t *testing.T, base string, form url.Values) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d, body not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out, resp.Header
}

func exchangeForm(token string, extra ...string) url.Values {
	v := url.Values{
		"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":      {token},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			v.Del(extra[i])
		} else {
			v.Set(extra[i], extra[i+1])
		}
	}
	return v
}

// TestOIDCTokenExchange: an app presents an upstream ID token at
// /api/v1/credentials or /oauth2/token (RFC 8693) and gets keys for one
// granted role; hostile tokens are refused with no keys and no egress.
func TestOIDCTokenExchange(t *testing.T) {
	corp, other := newIdP(t), newIdP(t)
	sentinel := oidctest.NewSentinel(t)
	ts := startServer(t, oidcBrokerConfig(corp, other))
	var secrets []string

	mobile := func(groups ...any) map[string]any {
		c := corp.Claims("mobile-app")
		c["sub"], c["preferred_username"], c["groups"] = "u-m", "mia", groups
		return c
	}
	devToken, opsToken := corp.Sign(mobile("dev")), corp.Sign(mobile("ops"))
	secrets = append(secrets, devToken, opsToken)

	t.Run("mobile exchange", func(t *testing.T) {
		status, out := apiJSON(t, ts.URL, map[string]any{"provider": "corp", "id_token": devToken})
		if status != 200 || out["RoleArn"] != developerARN || out["Version"] != float64(1) {
			t.Fatalf("%d %v", status, out)
		}
		secrets = append(secrets, out["SecretAccessKey"].(string), out["SessionToken"].(string))
		if got := callerARN(t, ts.URL, out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)); got != "arn:aws:sts::123456789012:assumed-role/Developer/mia" {
			t.Errorf("caller %s", got)
		}
		// The code-flow client id is accepted as an audience too.
		c := mobile("dev")
		c["aud"] = "test-client"
		tok := corp.Sign(c)
		secrets = append(secrets, tok)
		if status, out := apiJSON(t, ts.URL, map[string]any{"provider": "corp", "id_token": tok}); status != 200 {
			t.Fatalf("client_id audience: %d %v", status, out)
		}
		status, out = apiJSON(t, ts.URL, map[string]any{"provider": "corp", "id_token": opsToken})
		e, _ := out["error"].(map[string]any)
		if status != 409 || e["code"] != "RoleChoiceRequired" || fmt.Sprint(e["roles"]) != "["+developerARN+" "+adminARN+"]" {
			t.Fatalf("ops without role: %d %v", status, out)
		}
		status, out = apiJSON(t, ts.URL, map[string]any{"provider": "corp", "id_token": opsToken, "role": "Admin", "duration_seconds": 900})
		if status != 200 || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Admin/mia" {
			t.Fatalf("ops as Admin: %d %v", status, out)
		}
		secrets = append(secrets, out["SecretAccessKey"].(string), out["SessionToken"].(string))
		if exp, _ := time.Parse(time.RFC3339, out["Expiration"].(string)); time.Until(exp) > 16*time.Minute {
			t.Errorf("duration_seconds ignored: expires %v", exp)
		}
	})

	t.Run("RFC 8693", func(t *testing.T) {
		status, out, hdr := postToken(t, ts.URL, exchangeForm(opsToken, "resource", adminARN))
		if status != 200 {
			t.Fatalf("%d %v", status, out)
		}
		secrets = append(secrets, out["SecretAccessKey"].(string), out["SessionToken"].(string))
		if out["access_token"] != out["SessionToken"] || out["issued_token_type"] != "urn:idbroker:params:oauth:token-type:aws-credentials" ||
			out["token_type"] != "N_A" || out["RoleArn"] != adminARN || out["scope"] != "Admin" {
			t.Errorf("answer %v", out)
		}
		if ei, _ := out["expires_in"].(float64); ei < 3500 || ei > 3600 {
			t.Errorf("expires_in %v", out["expires_in"])
		}
		if hdr.Get("Cache-Control") != "no-store" || hdr.Get("Pragma") != "no-cache" {
			t.Errorf("headers %v", hdr)
		}
		if got := callerARN(t, ts.URL, out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["access_token"].(string)); got != "arn:aws:sts::123456789012:assumed-role/Admin/mia" {
			t.Errorf("caller %s", got)
		}
		// scope naming the role, provider chosen by name.
		status, out, _ = postToken(t, ts.URL, exchangeForm(opsToken, "scope", "Developer", "provider", "corp", "requested_token_type", "urn:idbroker:params:oauth:token-type:aws-credentials"))
		if status != 200 || out["RoleArn"] != developerARN {
			t.Fatalf("scope: %d %v", status, out)
		}
		secrets = append(secrets, out["SecretAccessKey"].(string), out["SessionToken"].(string))
		// Single grant: no role needed.
		status, out, _ = postToken(t, ts.URL, exchangeForm(devToken, "audience", "corp"))
		if status != 200 || out["RoleArn"] != developerARN {
			t.Fatalf("single grant: %d %v", status, out)
		}
		secrets = append(secrets, out["SecretAccessKey"].(string), out["SessionToken"].(string))
	})

	expired := mobile("dev")
	expired["iat"], expired["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
	wrongAud := mobile("dev")
	wrongAud["aud"] = "someone-else"
	future := mobile("dev")
	future["iat"] = time.Now().Add(10 * time.Minute).Unix()
	otherClaims := other.Claims("mobile-app")
	otherClaims["groups"] = []any{"ops"}
	otherForCorp := other.Claims("test-client") // valid at other, presented as corp
	otherForCorp["groups"] = []any{"ops"}
	forgedIss := mobile("ops")
	forgedIss["iss"] = other.Issuer() // corp-signed, claims other's issuer
	overage := mobile()
	delete(overage, "groups")
	overage["_claim_names"] = map[string]any{"groups": "src1"}
	overage["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": sentinel.URL()}}
	evil := corp.NewKey("RS256")
	pubPEM := publicKeyPEM(t, corp.CurrentKey().Public())
	dupGroups := mobile("dev")
	dupGroups["Groups"] = []any{"ops"}

	hostile := []struct {
		name, provider, token string
		wantAPI               int
		wantCode              string
	}{
		{"alg none", "corp", oidctest.Unsigned(map[string]any{"alg": "none", "typ": "JWT"}, mobile("ops")), 401, "InvalidToken"},
		{"alg none, no signature segment", "corp", strings.TrimSuffix(oidctest.Unsigned(map[string]any{"alg": "none"}, mobile("ops")), "."), 401, "InvalidToken"},
		{"HS256 keyed with the public key", "corp", corp.SignHMAC("HS256", pubPEM, map[string]any{"kid": corp.CurrentKey().KID}, mobile("ops")), 401, "InvalidToken"},
		{"expired", "corp", corp.Sign(expired), 401, "InvalidToken"},
		{"wrong aud", "corp", corp.Sign(wrongAud), 401, "InvalidToken"},
		{"iat in the future", "corp", corp.Sign(future), 401, "InvalidToken"},
		{"token of other posted as corp", "corp", other.Sign(otherForCorp), 401, "InvalidToken"},
		{"token of corp posted as other", "other", corp.Sign(mobile("ops")), 401, "InvalidToken"},
		{"corp-signed token claiming other's issuer", "other", corp.Sign(forgedIss), 401, "InvalidToken"},
		{"evil key with jku and x5u to the sentinel", "corp", corp.SignWith(evil, map[string]any{"kid": corp.CurrentKey().KID, "jku": sentinel.URL() + "/jwks.json", "x5u": sentinel.URL() + "/x.pem"}, mobile("ops")), 401, "InvalidToken"},
		{"evil key with unknown kid, jku and x5u to the sentinel", "corp", corp.SignWith(evil, map[string]any{"kid": evil.KID, "jku": sentinel.URL() + "/jwks.json", "x5u": sentinel.URL() + "/x.pem"}, mobile("ops")), 401, "InvalidToken"},
		{"jwk header with the evil key", "corp", corp.SignWith(evil, map[string]any{"kid": corp.CurrentKey().KID, "jwk": oidctest.JWK(evil)}, mobile("ops")), 401, "InvalidToken"},
		{"overage to the sentinel (no access token to resolve it)", "corp", corp.Sign(overage), 401, "InvalidToken"},
		{"duplicate groups claim in another case", "corp", corp.Sign(dupGroups), 200, ""},
		{"garbage", "corp", "not.a.jwt", 401, "InvalidToken"},
		{"access token typ at+jwt", "corp", corp.SignWith(corp.CurrentKey(), map[string]any{"kid": corp.CurrentKey().KID, "typ": "at+jwt"}, mobile("ops")), 401, "InvalidToken"},
		{"a million dots", "corp", "a" + strings.Repeat(".", 50000), 401, "InvalidToken"},
		{"duplicate groups key", "corp", signRawPayload(t, corp, dupPayload(t, mobile("ops"))), 401, "InvalidToken"},
	}
	for _, tc := range hostile {
		t.Run("api/"+tc.name, func(t *testing.T) {
			secrets = append(secrets, tc.token)
			status, out := apiJSON(t, ts.URL, map[string]any{"provider": tc.provider, "id_token": tc.token, "role": "Admin"})
			e, _ := out["error"].(map[string]any)
			if tc.wantAPI == 200 {
				// Groups are matched case-sensitively by claim name: only
				// "groups" counts, so Admin is not granted.
				if status != 403 || e["code"] != "RoleNotGranted" {
					t.Fatalf("got %d %v", status, out)
				}
				return
			}
			if status != tc.wantAPI || e["code"] != tc.wantCode {
				t.Fatalf("got %d %v, want %d %s", status, out, tc.wantAPI, tc.wantCode)
			}
			noKeys(t, fmt.Sprint(out))
		})
		t.Run("rfc8693/"+tc.name, func(t *testing.T) {
			status, out, _ := postToken(t, ts.URL, exchangeForm(tc.token, "provider", tc.provider, "scope", "Admin"))
			if tc.wantAPI == 200 {
				if status != 400 || out["error"] != "invalid_scope" {
					t.Fatalf("got %d %v", status, out)
				}
				return
			}
			want, wantErr := 400, "invalid_grant"
			if tc.wantAPI == 503 {
				want, wantErr = 503, "temporarily_unavailable"
			}
			if status != want || out["error"] != wantErr {
				t.Fatalf("got %d %v, want %d %s", status, out, want, wantErr)
			}
			noKeys(t, fmt.Sprint(out))
		})
	}
	if sentinel.Hits() != 0 {
		t.Errorf("the sentinel was contacted %d times", sentinel.Hits())
	}

	t.Run("RFC 8693 request errors", func(t *testing.T) {
		cases := []struct {
			name       string
			form       url.Values
			wantStatus int
			wantError  string
		}{
			{"no grant_type", exchangeForm(opsToken, "grant_type", ""), 400, "invalid_request"},
			{"other grant_type", exchangeForm(opsToken, "grant_type", "password"), 400, "unsupported_grant_type"},
			{"no subject_token", exchangeForm("", "scope", "Admin"), 400, "invalid_request"},
			{"access token type", exchangeForm(opsToken, "subject_token_type", "urn:ietf:params:oauth:token-type:access_token"), 400, "invalid_request"},
			{"actor token", exchangeForm(opsToken, "actor_token", devToken, "actor_token_type", "urn:ietf:params:oauth:token-type:id_token"), 400, "invalid_request"},
			{"other requested type", exchangeForm(opsToken, "requested_token_type", "urn:ietf:params:oauth:token-type:jwt"), 400, "invalid_request"},
			{"several roles granted, none named", exchangeForm(opsToken), 400, "invalid_request"},
			{"role not granted (scope)", exchangeForm(devToken, "scope", "Admin"), 400, "invalid_scope"},
			{"role not granted (resource)", exchangeForm(devToken, "resource", adminARN), 400, "invalid_target"},
			{"two roles in scope", exchangeForm(opsToken, "scope", "Admin Developer"), 400, "invalid_scope"},
			{"resource and scope disagree", exchangeForm(opsToken, "resource", adminARN, "scope", "Developer"), 400, "invalid_request"},
			{"resource not an ARN", exchangeForm(opsToken, "resource", "https://evil.example/"), 400, "invalid_target"},
			{"unknown provider", exchangeForm(opsToken, "provider", "nope"), 400, "invalid_target"},
			{"provider and audience disagree", exchangeForm(opsToken, "provider", "corp", "audience", "other"), 400, "invalid_request"},
			{"issuer not configured", exchangeForm(corpLike(t)), 400, "invalid_grant"},
			{"no issuer", exchangeForm("a.b.c"), 400, "invalid_grant"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, out, _ := postToken(t, ts.URL, tc.form)
				if status != tc.wantStatus || out["error"] != tc.wantError {
					t.Fatalf("got %d %v, want %d %s", status, out, tc.wantStatus, tc.wantError)
				}
				noKeys(t, fmt.Sprint(out))
			})
		}
		// Repeated parameter, token in the query string, JSON body.
		form := exchangeForm(opsToken, "scope", "Admin")
		form.Add("scope", "Developer")
		if status, out, _ := postToken(t, ts.URL, form); status != 400 || out["error"] != "invalid_request" {
			t.Errorf("repeated scope: %d %v", status, out)
		}
		for _, req := range []*http.Request{
			mustReq(http.MethodPost, ts.URL+"/oauth2/token?subject_token="+url.QueryEscape(opsToken), "application/x-www-form-urlencoded", exchangeForm(opsToken, "scope", "Admin").Encode()),
			mustReq(http.MethodPost, ts.URL+"/oauth2/token", "application/json", `{"grant_type":"urn:ietf:params:oauth:grant-type:token-exchange"}`),
		} {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(raw), `"error":"invalid_request"`) {
				t.Errorf("%s %s: %d %s", req.URL.Path, req.Header.Get("Content-Type"), resp.StatusCode, raw)
			}
		}
		if resp, err := http.Get(ts.URL + "/oauth2/token"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /oauth2/token: %v %v", resp.StatusCode, err)
		}
	})

	t.Run("API request errors", func(t *testing.T) {
		status, out := apiJSON(t, ts.URL, map[string]any{"provider": "corp", "id_token": devToken, "username": "mia", "password": "x"})
		if e, _ := out["error"].(map[string]any); status != 400 || e["code"] != "InvalidRequest" {
			t.Errorf("token and password: %d %v", status, out)
		}
		status, out = apiJSON(t, ts.URL, map[string]any{"provider": "corp", "username": "mia", "password": "x"})
		if e, _ := out["error"].(map[string]any); status != 400 || e["code"] != "UnsupportedProvider" {
			t.Errorf("password at an oidc provider: %d %v", status, out)
		}
	})
	ts.assertNoSecrets(t, append(secrets, oidcClientSecret)...)
}

// dupPayload renders claims as JSON with a second "groups" member
// (["dev"] first, then the claims' own), the last-wins trap of encoding/json.
func dupPayload(t *testing.T, claims map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(`{"groups":["dev"],`), b[1:]...)
}

// signRawPayload signs an exact payload with the issuer's current RS256 key.
func signRawPayload(t *testing.T, idp *oidctest.Server, payload []byte) string {
	t.Helper()
	k := idp.CurrentKey()
	h, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": k.KID, "typ": "JWT"})
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := jwt.SigningMethodRS256.Sign(signing, k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// corpLike is a well-formed token from an issuer nobody configured.
func corpLike(t *testing.T) string {
	stranger := oidctest.New(t)
	return stranger.Sign(stranger.Claims("mobile-app"))
}

func mustReq(method, u, contentType, body string) *http.Request {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", contentType)
	return req
}

// TestOIDCKeysUnavailable: JWKS down, slow or oversized gives a
// "provider unavailable" answer within the timeout, and sign-in works
// again once the JWKS is back.
func TestOIDCKeysUnavailable(t *testing.T) {
	idp := newIdP(t)
	ts := startServer(t, []byte(fmt.Sprintf(`
account_id: "123456789012"
providers:
  - name: flaky
    type: oidc
    issuer: %s
    client_id: test-client
    client_secret: %s
    allowed_audiences: [mobile-app]
    groups_claim: groups
    timeout: 1s
    jwks_refresh_interval: 1s
rules:
  - {name: devs, when: {groups_any: [dev]}, roles: [Developer]}
roles:
  - name: Developer
`, idp.Issuer(), oidcClientSecret)))
	tok := idp.Sign(idp.Claims("mobile-app"))
	faults := []struct {
		name  string
		fault oidctest.Fault
	}{
		{"JWKS answers 500", oidctest.Fault{Status: 500, BodySize: 1 << 20}},
		{"JWKS hangs", oidctest.Fault{Delay: 10 * time.Second}},
		{"JWKS is 3 MiB", oidctest.Fault{BodySize: 3 << 20}},
		{"JWKS is not JSON", oidctest.Fault{Body: []byte("<html>down</html>")}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			idp.SetFault(oidctest.JWKS, f.fault)
			time.Sleep(1100 * time.Millisecond) // past the refresh throttle
			start := time.Now()
			status, out := apiJSON(t, ts.URL, map[string]any{"provider": "flaky", "id_token": tok})
			if e, _ := out["error"].(map[string]any); status != 503 || e["code"] != "ProviderUnavailable" {
				t.Fatalf("api: %d %v", status, out)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			// A long run of the padding and the HTML tag: a short "aaaa"
			// could occur inside the answer's random request id.
			if got := fmt.Sprint(out); strings.Contains(got, strings.Repeat("a", 32)) || strings.Contains(got, "<html>") {
				t.Errorf("upstream body echoed: %v", out)
			}
			time.Sleep(1100 * time.Millisecond)
			status, rfc, _ := postToken(t, ts.URL, exchangeForm(tok))
			if status != 503 || rfc["error"] != "temporarily_unavailable" {
				t.Fatalf("rfc8693: %d %v", status, rfc)
			}
		})
	}
	idp.ClearFault(oidctest.JWKS)
	time.Sleep(1100 * time.Millisecond)
	status, out := apiJSON(t, ts.URL, map[string]any{"provider": "flaky", "id_token": tok})
	if status != 200 {
		t.Fatalf("after recovery: %d %v", status, out)
	}
	ts.assertNoSecrets(t, tok, out["SecretAccessKey"].(string), out["SessionToken"].(string), oidcClientSecret)
}

// TestWebIdentitySessionTags: an app calling AssumeRoleWithWebIdentity
// directly with a token carrying https://aws.amazon.com/tags gets those
// tags as aws:RequestTag in the trust policy evaluation.
func TestWebIdentitySessionTags(t *testing.T) {
	idp := newIdP(t)
	u, _ := url.Parse(idp.Issuer())
	hostPath := u.Host + u.Path
	ts := startServer(t, []byte(fmt.Sprintf(`
account_id: "123456789012"
roles:
  - name: Blue
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "arn:aws:iam::123456789012:oidc-provider/%[2]s"}
          Action: [sts:AssumeRoleWithWebIdentity, sts:TagSession]
          Condition:
            StringEquals: {"%[2]s:aud": "app", "aws:RequestTag/team": "blue"}
sts:
  oidc_providers:
    - issuer: %[1]s
      client_ids: [app]
`, idp.Issuer(), hostPath)))
	tagged := func(team string) string {
		c := idp.Claims("app")
		if team != "" {
			c["https://aws.amazon.com/tags"] = map[string]any{"principal_tags": map[string]any{"team": []any{team}}, "transitive_tag_keys": []any{"team"}}
		}
		return idp.Sign(c)
	}
	cases := []struct {
		team, wantCode string
	}{
		{"blue", ""},
		{"red", "AccessDenied"},
		{"", "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run("team="+tc.team, func(t *testing.T) {
			tok := tagged(tc.team)
			out, err := stsClient(ts.URL, nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
				RoleArn: aws.String("arn:aws:iam::123456789012:role/Blue"), RoleSessionName: aws.String("app-1"), WebIdentityToken: aws.String(tok),
			})
			if code := apiCode(err); code != tc.wantCode {
				t.Fatalf("error %v (code %q), want %q", err, code, tc.wantCode)
			}
			if err == nil {
				c := out.Credentials
				if got := callerARN(t, ts.URL, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken); got != "arn:aws:sts::123456789012:assumed-role/Blue/app-1" {
					t.Errorf("caller %s", got)
				}
				ts.assertNoSecrets(t, *c.SecretAccessKey, *c.SessionToken)
			}
			ts.assertNoSecrets(t, tok)
		})
	}
}

// TestOIDCProviderConfig: the oidc kind's keys, defaults and errors.
func TestOIDCProviderConfig(t *testing.T) {
	base := `
account_id: "123456789012"
roles: [{name: Developer}]
providers:
  - name: corp
    type: oidc
`
	cases := []struct {
		name  string
		extra string
		want  []string // substrings of the error; none = valid
	}{
		{"valid", "    issuer: https://idp.example.com\n    client_id: c\n    timeout: 3s\n", nil},
		{"loopback http issuer", "    issuer: http://127.0.0.1:9/\n    client_id: c\n", nil},
		{"missing issuer and client", "", []string{"providers[0].issuer: must be set", "providers[0].client_id: must be set"}},
		{"plain http issuer", "    issuer: http://idp.example.com\n    client_id: c\n", []string{"providers[0].issuer: must use https://"}},
		{"scopes without openid", "    issuer: https://idp.example.com\n    client_id: c\n    scopes: [email]\n", []string{"providers[0].scopes: must include openid"}},
		{"bad redirect", "    issuer: https://idp.example.com\n    client_id: c\n    redirect_url: http://evil.example/cb\n", []string{"providers[0].redirect_url:"}},
		{"bad overage endpoint", "    issuer: https://idp.example.com\n    client_id: c\n    overage_endpoint: http://169.254.169.254/x\n", []string{"providers[0].overage_endpoint:"}},
		{"unknown key", "    issuer: https://idp.example.com\n    client_id: c\n    jwks_url: https://x\n", []string{"providers[0].jwks_url: unknown key"}},
		{"bad duration", "    issuer: https://idp.example.com\n    client_id: c\n    timeout: soon\n", []string{"soon", "time.Duration"}},
		{"negative duration", "    issuer: https://idp.example.com\n    client_id: c\n    clock_skew: -1s\n", []string{"providers[0].clock_skew: must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig([]byte(base+tc.extra), func(string) (string, bool) { return "", false })
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if _, ok := cfg.Providers[0].Settings.(interface{ Validate() error }); !ok {
					t.Fatalf("settings %T", cfg.Providers[0].Settings)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	t.Run("default redirect URL", func(t *testing.T) {
		idp := newIdP(t)
		ts := startServer(t, []byte(fmt.Sprintf(base+"    issuer: %s\n    client_id: test-client\n    client_secret: %s\n", idp.Issuer(), oidcClientSecret)))
		b := newOIDCBrowser(t, ts.URL)
		if got := b.start("corp").Query().Get("redirect_uri"); got != ts.URL+"/oidc/corp/callback" {
			t.Errorf("redirect_uri %q", got)
		}
	})
	t.Run("IdP down at login start", func(t *testing.T) {
		idp := newIdP(t)
		idp.SetFault(oidctest.Discovery, oidctest.Fault{Status: 503})
		ts := startServer(t, []byte(fmt.Sprintf(base+"    issuer: %s\n    client_id: test-client\n", idp.Issuer())))
		b := newOIDCBrowser(t, ts.URL)
		p := b.get(b.noFollow, ts.URL+"/login/corp")
		if p.status != 503 || !strings.Contains(p.body, "Request ID") {
			t.Fatalf("%d %s", p.status, p.body)
		}
	})
}

// flipFirst changes the first character of s to another base64url one
// (always a change: "A" becomes "B", anything else "A").
func flipFirst(s string) string {
	if strings.HasPrefix(s, "A") {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
