package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/configs"
)

// The broker as the OAuth 2.0 server of its own CLI, against the real
// server (the embedded demo): golang.org/x/oauth2 is the CLI, a loopback
// listener takes the redirect, and the person's part goes through the
// broker's pages with a cookie-keeping HTTP client.

var consentRE = regexp.MustCompile(`name="consent" value="([^"]+)"`)

// cliListener is the CLI's loopback redirect target on 127.0.0.1.
type cliListener struct {
	url string
	got chan url.Values
}

func newCLIListener(t *testing.T) *cliListener {
	t.Helper()
	l := &cliListener{got: make(chan url.Values, 8)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		l.got <- r.URL.Query()
		_, _ = io.WriteString(w, "idbroker: signed in, you can close this tab")
	}))
	t.Cleanup(srv.Close)
	l.url = srv.URL + "/callback"
	return l
}

// callback is the query of the next redirect the listener received.
func (l *cliListener) callback(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-l.got:
		return q
	case <-time.After(15 * time.Second):
		t.Fatal("the browser never came back to the loopback listener")
	}
	return nil
}

func cliConfig(base, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: "idbroker-cli", RedirectURL: redirect, Endpoint: oauth2.Endpoint{
		AuthURL: base + "/oauth2/authorize", TokenURL: base + "/oauth2/token", DeviceAuthURL: base + "/oauth2/device_authorization",
	}}
}

// getURL sends the browser to an absolute URL.
func (b *browser) getURL(u string) (int, string, *http.Response) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

// consent answers the confirmation page with decision (allow or deny).
func (b *browser) consent(page, decision string) (int, string, *http.Response) {
	b.t.Helper()
	m := consentRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no consent form in page:\n%s", page)
	}
	return b.post("/oauth2/authorize", url.Values{"csrf_token": {b.csrf(page)}, "consent": {m[1]}, "decision": {decision}}, nil)
}

// authorize runs the person's part of a loopback login in a browser that
// is signed in already, allowing it, and returns the code the CLI got.
func authorize(t *testing.T, b *browser, cli *cliListener, conf *oauth2.Config, verifier, state string) string {
	t.Helper()
	status, page, resp := b.getURL(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if status != http.StatusOK || resp.Request.URL.Path != "/oauth2/authorize" {
		t.Fatalf("authorize: %d at %s:\n%s", status, resp.Request.URL, page)
	}
	if status, page, _ := b.consent(page, "allow"); status != http.StatusOK || !strings.Contains(page, "you can close this tab") {
		t.Fatalf("allow: %d:\n%s", status, page)
	}
	q := cli.callback(t)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	return q.Get("code")
}

func oauthCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// TestOAuthLoopbackLogin: the CLI's browser login end to end. The
// authorization request names the provider, so the browser without a
// session goes straight to its sign-in form, then back to the request; the
// person allows, the CLI's listener gets the code and state, and
// x/oauth2's Exchange (PKCE verifier) gets a session token that works as
// a bearer of the sessions API. A code used twice is refused and ends the
// session its first use made; the CLI's sessions and the browser's are
// separate (ending one leaves the other).
func TestOAuthLoopbackLogin(t *testing.T) {
	ts := startServer(t, configs.Demo)
	ctx := context.Background()
	cli := newCLIListener(t)
	conf := cliConfig(ts.URL, cli.url)
	b := newBrowser(t, ts.URL)
	port := strings.TrimPrefix(strings.Split(strings.TrimPrefix(cli.url, "http://"), "/")[0], "127.0.0.1:")

	verifier, state := oauth2.GenerateVerifier(), "state-"+oauth2.GenerateVerifier()[:16]
	status, form, resp := b.getURL(conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("provider", "demo")))
	if status != http.StatusOK || resp.Request.URL.Path != "/login/demo" {
		t.Fatalf("without a session: %d at %s", status, resp.Request.URL)
	}
	status, page, resp := b.post("/login/demo", url.Values{"csrf_token": {b.csrf(form)}, "username": {"alice"}, "password": {"alice"}}, nil)
	if status != http.StatusOK || resp.Request.URL.Path != "/oauth2/authorize" {
		t.Fatalf("after sign-in: %d at %s:\n%s", status, resp.Request.URL, page)
	}
	for _, want := range []string{"Allow the idbroker command line on this computer to use your sign-in as <strong>alice</strong>?", "port <code>" + port + "</code>", " UTC", "<dt>Signed in with</dt><dd>Demo users</dd>"} {
		if !strings.Contains(page, want) {
			t.Errorf("confirmation page lacks %q:\n%s", want, page)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:"+port+";") {
		t.Errorf("CSP %q does not let the form's redirect reach the listener", csp)
	}
	if status, page, _ := b.consent(page, "allow"); status != http.StatusOK || !strings.Contains(page, "you can close this tab") {
		t.Fatalf("allow: %d:\n%s", status, page)
	}
	q := cli.callback(t)
	code := q.Get("code")
	if q.Get("state") != state || len(code) < 43 || len(q) != 2 {
		t.Fatalf("callback %v", q)
	}

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.Before(time.Now().Add(7*time.Hour)) || tok.Expiry.After(time.Now().Add(8*time.Hour+time.Minute)) {
		t.Errorf("token type %q, expiry %s", tok.TokenType, tok.Expiry)
	}
	status, creds, _ := sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/credentials", tok.AccessToken, "application/json", `{}`)
	if status != http.StatusOK {
		t.Fatalf("credentials with the CLI's token: %d %v", status, creds)
	}
	if got := callerARN(t, ts.URL, creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), creds["SessionToken"].(string)); got != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
		t.Errorf("caller %s", got)
	}
	status, cur, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", tok.AccessToken, "", "")
	if status != http.StatusOK || cur["user"] != "alice" || cur["provider"] != "demo" {
		t.Fatalf("current: %d %v", status, cur)
	}

	// The code again: refused, and the session of its first use ends.
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); oauthCode(err) != "invalid_grant" {
		t.Fatalf("code used twice: %v", err)
	}
	if status, out, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", tok.AccessToken, "", ""); status != http.StatusUnauthorized || errCode(out) != "InvalidSession" {
		t.Errorf("the first use's session after a second use: %d %v", status, out)
	}
	// ... and the browser's session goes on.
	if status, page := b.get("/portal"); status != http.StatusOK {
		t.Fatalf("browser after the CLI's session ended: %d\n%s", status, page)
	}

	// Signed in already: straight to the confirmation page.
	verifier2 := oauth2.GenerateVerifier()
	code2 := authorize(t, b, cli, conf, verifier2, "second")
	tok2, err := conf.Exchange(ctx, code2, oauth2.VerifierOption(verifier2))
	if err != nil {
		t.Fatalf("second exchange: %v", err)
	}
	_, roles := b.get("/portal")
	if status, _, _ := b.post("/logout", url.Values{"csrf_token": {b.csrf(roles)}}, nil); status != http.StatusOK {
		t.Fatalf("sign out: %d", status)
	}
	if status, out, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", tok2.AccessToken, "", ""); status != http.StatusOK {
		t.Errorf("the CLI's session after the browser signed out: %d %v", status, out)
	}

	logs := ts.Logs.String()
	for _, ev := range []string{`"event":"oauth2.code_issued"`, `"event":"oauth2.code_redeemed"`, `"event":"oauth2.code_refused"`, `"reason":"its authorization code was used twice"`} {
		if !strings.Contains(logs, ev) {
			t.Errorf("logs lack %s", ev)
		}
	}
	_, secret, _ := strings.Cut(tok.AccessToken, ".")
	_, secret2, _ := strings.Cut(tok2.AccessToken, ".")
	ts.assertNoSecrets(t, code, code2, verifier, verifier2, secret, secret2, creds["SecretAccessKey"].(string))
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestOAuthAuthorizeRefusals: an authorization request whose client or
// redirect cannot be trusted gets an error page and is never redirected;
// the other errors go back to the CLI's listener with error and state
// (RFC 6749 §4.1.2.1). PKCE S256 and state are required.
func TestOAuthAuthorizeRefusals(t *testing.T) {
	ts := startServer(t, configs.Demo)
	cli := newCLIListener(t)
	port := strings.TrimPrefix(strings.Split(strings.TrimPrefix(cli.url, "http://"), "/")[0], "127.0.0.1:")
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	valid := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {"idbroker-cli"}, "redirect_uri": {cli.url},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"s-1"}}
	}
	with := func(k string, v ...string) url.Values {
		q := valid()
		if v == nil {
			q.Del(k)
		} else {
			q[k] = v
		}
		return q
	}
	get := func(t *testing.T, q url.Values) *http.Response {
		t.Helper()
		resp, err := noRedirects.Get(ts.URL + "/oauth2/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"unknown client", with("client_id", "aws-cli")},
		{"no client", with("client_id")},
		{"no redirect", with("redirect_uri")},
		{"foreign host", with("redirect_uri", "http://evil.example:"+port+"/callback")},
		{"localhost", with("redirect_uri", "http://localhost:"+port+"/callback")},
		{"https", with("redirect_uri", "https://127.0.0.1:"+port+"/callback")},
		{"no port", with("redirect_uri", "http://127.0.0.1/callback")},
		{"port 0", with("redirect_uri", "http://127.0.0.1:0/callback")},
		{"short address", with("redirect_uri", "http://127.1:"+port+"/callback")},
		{"mapped address", with("redirect_uri", "http://[::ffff:127.0.0.1]:"+port+"/callback")},
		{"userinfo", with("redirect_uri", "http://evil.example@127.0.0.1:"+port+"/callback")},
		{"query", with("redirect_uri", cli.url+"?next=http://evil.example/")},
		{"fragment", with("redirect_uri", cli.url+"#x")},
		{"backslash", with("redirect_uri", "http://127.0.0.1:"+port+"\\@evil.example/")},
		{"two redirects", with("redirect_uri", cli.url, "http://evil.example/")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.q)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}

	for _, tc := range []struct {
		name      string
		q         url.Values
		code      string
		withState bool
	}{
		{"plain PKCE", with("code_challenge_method", "plain"), "invalid_request", true},
		{"no PKCE method", with("code_challenge_method"), "invalid_request", true},
		{"no challenge", with("code_challenge"), "invalid_request", true},
		{"short challenge", with("code_challenge", "abc"), "invalid_request", true},
		{"implicit", with("response_type", "token"), "unsupported_response_type", true},
		{"unknown provider", with("provider", "nope"), "invalid_request", true},
		{"no state", with("state"), "invalid_request", false},
		{"state too long", with("state", strings.Repeat("s", 513)), "invalid_request", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.q)
			loc, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), cli.url+"?") {
				t.Fatalf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			got := loc.Query()
			if got.Get("error") != tc.code || got.Has("code") || got.Has("state") != tc.withState || (tc.withState && got.Get("state") != "s-1") {
				t.Errorf("redirected with %v", got)
			}
		})
	}

	// Without a session and without a provider: the sign-in page (the
	// demo's only provider's), then back.
	b := newBrowser(t, ts.URL)
	status, page, resp := b.getURL(ts.URL + "/oauth2/authorize?" + valid().Encode())
	if status != http.StatusOK || resp.Request.URL.Path != "/login/demo" || !strings.Contains(page, `action="/login/demo"`) {
		t.Fatalf("without a session: %d at %s", status, resp.Request.URL)
	}
	status, page, resp = b.signIn("demo", "bob", "bob")
	if status != http.StatusOK || resp.Request.URL.Path != "/oauth2/authorize" || resp.Request.URL.Query().Get("state") != "s-1" {
		t.Fatalf("after sign-in: %d at %s", status, resp.Request.URL)
	}
	// A cross-site post of the confirmation is refused by the mux.
	m := consentRE.FindStringSubmatch(page)
	if status, _, _ := b.post("/oauth2/authorize", url.Values{"csrf_token": {b.csrf(page)}, "consent": {m[1]}, "decision": {"allow"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); status != http.StatusForbidden {
		t.Errorf("cross-site allow: %d", status)
	}
	select {
	case q := <-cli.got:
		t.Fatalf("the listener got %v", q)
	default:
	}
	// Deny: access_denied with the state; the same form cannot answer again.
	if status, body, _ := b.consent(page, "deny"); status != http.StatusOK || !strings.Contains(body, "close this tab") {
		t.Fatalf("deny: %d", status)
	}
	if q := cli.callback(t); q.Get("error") != "access_denied" || q.Get("state") != "s-1" || q.Has("code") {
		t.Errorf("deny redirected with %v", q)
	}
	if status, body, _ := b.consent(page, "allow"); status != http.StatusConflict || !strings.Contains(body, "answered already") {
		t.Errorf("the same confirmation again: %d\n%s", status, body)
	}
}

// TestOAuthTokenRefusals: the authorization_code grant refuses another
// client, a client secret, a wrong PKCE verifier, another redirect_uri and
// a code in the query string, each without using the code up: the right
// request still works afterwards, once.
func TestOAuthTokenRefusals(t *testing.T) {
	ts := startServer(t, configs.Demo)
	ctx := context.Background()
	cli := newCLIListener(t)
	conf := cliConfig(ts.URL, cli.url)
	b := newBrowser(t, ts.URL)
	if status, _, _ := b.signIn("demo", "alice", "alice"); status != http.StatusOK {
		t.Fatal("sign-in")
	}
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, b, cli, conf, verifier, "s")

	form := func(kv ...string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "client_id": {"idbroker-cli"}, "code": {code}, "redirect_uri": {cli.url}, "code_verifier": {verifier}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	post := func(t *testing.T, path string, f url.Values, basic ...string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if len(basic) == 2 {
			req.SetBasicAuth(basic[0], basic[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("not JSON: %s", raw)
		}
		return resp.StatusCode, out, resp.Header
	}
	for _, tc := range []struct {
		name   string
		path   string
		f      url.Values
		basic  []string
		status int
		code   string
	}{
		{"another client", "/oauth2/token", form("client_id", "aws-cli"), nil, 401, "invalid_client"},
		{"no client", "/oauth2/token", form("client_id", ""), nil, 401, "invalid_client"},
		{"client secret", "/oauth2/token", form("client_secret", "s3cret"), nil, 401, "invalid_client"},
		{"basic with a secret", "/oauth2/token", form("client_id", ""), []string{"idbroker-cli", "s3cret"}, 401, "invalid_client"},
		{"basic of another client", "/oauth2/token", form(), []string{"aws-cli", ""}, 401, "invalid_client"},
		{"wrong verifier", "/oauth2/token", form("code_verifier", oauth2.GenerateVerifier()), nil, 400, "invalid_grant"},
		{"no verifier", "/oauth2/token", form("code_verifier", ""), nil, 400, "invalid_request"},
		{"verifier as challenge", "/oauth2/token", form("code_verifier", oauth2.S256ChallengeFromVerifier(verifier)), nil, 400, "invalid_grant"},
		{"other redirect_uri", "/oauth2/token", form("redirect_uri", strings.Replace(cli.url, "/callback", "/other", 1)), nil, 400, "invalid_grant"},
		{"unknown code", "/oauth2/token", form("code", oauth2.GenerateVerifier()), nil, 400, "invalid_grant"},
		{"in the query", "/oauth2/token?code=" + code, form(), nil, 400, "invalid_request"},
		{"unknown grant", "/oauth2/token", form("grant_type", "password"), nil, 400, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, h := post(t, tc.path, tc.f, tc.basic...)
			if status != tc.status || out["error"] != tc.code || out["access_token"] != nil {
				t.Errorf("%d %v", status, out)
			}
			if tc.code == "invalid_client" && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("no Basic challenge: %q", h.Get("WWW-Authenticate"))
			}
		})
	}
	// Basic authentication with the client id and no secret, as x/oauth2
	// tries first: accepted.
	status, out, h := post(t, "/oauth2/token", form("client_id", ""), "idbroker-cli", "")
	if status != http.StatusOK || out["token_type"] != "Bearer" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("the right request after the refused ones: %d %v", status, out)
	}
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); oauthCode(err) != "invalid_grant" {
		t.Errorf("used code: %v", err)
	}
	ts.assertNoSecrets(t, code, verifier, fmt.Sprint(out["access_token"]))
}
