package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
)

// The broker sessions as a program and a browser meet them, against the
// real server (the embedded demo: alice -> Developer; bob -> Developer or
// Admin).

// sessionAPI sends a request to the sessions API with an optional bearer
// token and body, and decodes a JSON answer.
func sessionAPI(t *testing.T, method, u, bearer, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %s", method, u, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// newSession creates a session for user with a password.
func newSession(t *testing.T, base, provider, user, password string) (token, id string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"provider": provider, "username": user, "password": password})
	status, out, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/sessions", "", "application/json", string(body))
	if status != http.StatusCreated {
		t.Fatalf("create session for %s: %d %v", user, status, out)
	}
	token, _ = out["session_token"].(string)
	id, _ = out["session_id"].(string)
	if token == "" || id == "" {
		t.Fatalf("session answer %v", out)
	}
	return token, id
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// TestSessionsAPI: create a session with a password, read it, get keys
// with the bearer token alone (the AWS SDK accepts them), end it; the
// token is then refused everywhere with 401 InvalidSession.
func TestSessionsAPI(t *testing.T) {
	ts := startServer(t, configs.Demo)
	if status, out, _ := sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/sessions", "", "application/json", `{"provider":"demo","username":"bob","password":"CANARY-sessions-wrong"}`); status != 401 || errCode(out) != "InvalidCredentials" {
		t.Fatalf("wrong password: %d %v", status, out)
	}
	token, sid := newSession(t, ts.URL, "demo", "bob", "bob")

	status, out, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", token, "", "")
	if status != 200 || out["session_id"] != sid || out["user"] != "bob" || len(out["roles"].([]any)) != 2 {
		t.Fatalf("current: %d %v", status, out)
	}
	if status, out, _ := sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/credentials", token, "application/json", `{}`); status != 409 || errCode(out) != "RoleChoiceRequired" {
		t.Fatalf("no role: %d %v", status, out)
	}
	before := ts.issued(t)
	var secrets []string
	for _, role := range []string{"Admin", "Developer"} {
		status, creds, _ := sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/credentials", token, "application/json", `{"role":"`+role+`"}`)
		if status != 200 {
			t.Fatalf("%s: %d %v", role, status, creds)
		}
		secrets = append(secrets, creds["SecretAccessKey"].(string), creds["SessionToken"].(string))
		if got := callerARN(t, ts.URL, creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), creds["SessionToken"].(string)); got != "arn:aws:sts::123456789012:assumed-role/"+role+"/bob" {
			t.Errorf("caller %s", got)
		}
	}
	if ts.issued(t) != before+2 {
		t.Errorf("issued %d, want 2", ts.issued(t)-before)
	}

	if status, _, _ := sessionAPI(t, http.MethodDelete, ts.URL+"/api/v1/sessions/current", token, "", ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/sessions/current", ""},
		{http.MethodPost, "/api/v1/credentials", `{"role":"Admin"}`},
		{http.MethodDelete, "/api/v1/sessions/current", ""},
	} {
		ct := ""
		if tc.body != "" {
			ct = "application/json"
		}
		status, out, h := sessionAPI(t, tc.method, ts.URL+tc.path, token, ct, tc.body)
		if status != 401 || errCode(out) != "InvalidSession" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s after DELETE: %d %v", tc.method, tc.path, status, out)
		}
	}
	if ts.issued(t) != before+2 {
		t.Error("an ended session issued")
	}
	_, secret, _ := strings.Cut(token, ".")
	ts.assertNoSecrets(t, append(secrets, secret, "CANARY-sessions-wrong")...)
}

// TestSessionsRemapAfterReload: a session's issuances follow the rules in
// force: after a reload that maps alice's group to Admin instead of
// Developer, her session (made before) gets Admin and is refused
// Developer by name, without signing in again.
func TestSessionsRemapAfterReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, configs.Demo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadServeConfig(path, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	trigger := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveReloading(ctx, cfg, slog.New(slog.DiscardHandler), ready, trigger, func() (*fileConfig, error) { return loadServeConfig(path, "") })
	}()
	base := "http://" + <-ready
	t.Cleanup(func() { cancel(); <-done })

	token, _ := newSession(t, base, "demo", "alice", "alice")
	if status, out, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{}`); status != 200 || out["RoleArn"] != "arn:aws:iam::123456789012:role/Developer" {
		t.Fatalf("before reload: %d %v", status, out)
	}
	changed := strings.Replace(string(configs.Demo), "    roles: [Developer]\n", "    roles: [Admin]\n", 1)
	if changed == string(configs.Demo) {
		t.Fatal("demo config changed shape; update the test")
	}
	changed = changed[:strings.Index(changed, "\ntests:")]
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	trigger <- os.Interrupt
	waitFor(t, func() bool {
		_, out, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{}`)
		return out["RoleArn"] == "arn:aws:iam::123456789012:role/Admin"
	})
	status, out, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{"role":"Developer"}`)
	msg, _ := out["error"].(map[string]any)["message"].(string)
	if status != 403 || errCode(out) != "RoleNoLongerGranted" || !strings.HasSuffix(msg, "Developer") {
		t.Fatalf("the role taken away: %d %v", status, out)
	}
}

// TestJSONEndpoints415: every JSON endpoint refuses a body that is not
// declared as JSON with 415, as a cross-site web page would send it
// (text/plain or a form, which need no CORS preflight); no login is tried.
func TestJSONEndpoints415(t *testing.T) {
	ts := startServer(t, configs.Demo)
	token, _ := newSession(t, ts.URL, "demo", "alice", "alice")
	login := `{"provider":"demo","username":"alice","password":"alice"}`
	for _, ep := range []struct {
		method, path, body string
		bearer             bool
	}{
		{http.MethodPost, "/api/v1/credentials", login, false},
		{http.MethodPost, "/api/v1/credentials", `{"role":"Developer"}`, true},
		{http.MethodPost, "/api/v1/sessions", login, false},
		{http.MethodGet, "/api/v1/sessions/current", "{}", true},
		{http.MethodDelete, "/api/v1/sessions/current", "{}", true},
		{http.MethodPost, "/api/v1/authorize", `{"action":"s3:GetObject","resource":"*"}`, false},
		{http.MethodGet, "/api/v1/explain?identity=%7B%7D", "{}", false},
		{http.MethodPost, "/api/v1/admin/revocations", `{"user":"alice"}`, false},
		{http.MethodGet, "/api/v1/admin/sessions?user=alice", "{}", false},
	} {
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
			req, _ := http.NewRequest(ep.method, ts.URL+ep.path, strings.NewReader(ep.body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			if ep.bearer {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType || !bytes.Contains(raw, []byte(`"code":"UnsupportedMediaType"`)) {
				t.Errorf("%s %s as %s: %d %s", ep.method, ep.path, ct, resp.StatusCode, raw)
			}
		}
	}
	if n := strings.Count(ts.Logs.String(), `"event":"login"`); n != 1 {
		t.Errorf("%d logins, want only the session's", n)
	}
	// The session is still there: DELETE with a form body did nothing.
	if status, _, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", token, "", ""); status != 200 {
		t.Errorf("session after refused requests: %d", status)
	}
}

// TestBrowserSessionChoiceAndSignOut: a role choice is used once, whether
// the same browser posts it again (a reload) or another browser holding a
// copy of the cookies does; the session meanwhile offers new credentials
// without a password; after sign-out a copied cookie does nothing.
func TestBrowserSessionChoiceAndSignOut(t *testing.T) {
	ts := startServer(t, configs.Demo)
	b := newBrowser(t, ts.URL)
	status, chooser, resp := b.signIn("demo", "bob", "bob")
	if status != 200 || resp.Request.URL.Path != "/portal" {
		t.Fatalf("sign-in: %d at %s", status, resp.Request.URL.Path)
	}
	before := ts.issued(t)
	status, page, _ := b.choose(chooser, adminARN)
	if status != 200 || !strings.Contains(page, "assumed-role/Admin/bob") {
		t.Fatalf("credentials: %d\n%s", status, page)
	}
	_, firstSecret, firstToken := pageKeys(t, page)

	// A copy of the browser: the same cookies in another jar.
	u, _ := url.Parse(ts.URL)
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, b.c.Jar.Cookies(u))
	stolen := jar.Cookies(u)
	copied := &browser{t: t, c: &http.Client{Jar: jar}, base: ts.URL}
	for name, br := range map[string]*browser{"the same browser": b, "a copy of the browser": copied} {
		status, page, _ := br.choose(chooser, adminARN)
		if status != 409 || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") || !choiceRE.MatchString(page) {
			t.Errorf("%s posting the used choice: %d\n%s", name, status, page)
		}
	}
	if ts.issued(t) != before+1 {
		t.Fatalf("the choice issued %d times", ts.issued(t)-before)
	}
	// Back on the portal: new keys, no password.
	_, chooser = b.get("/portal")
	status, page, _ = b.choose(chooser, developerARN)
	if status != 200 || !strings.Contains(page, "assumed-role/Developer/bob") || strings.Contains(page, firstSecret) {
		t.Fatalf("new credentials: %d\n%s", status, page)
	}
	_, secondSecret, secondToken := pageKeys(t, page)

	// Sign out; the copy of the cookies is dead too.
	status, page, _ = b.post("/logout", url.Values{"csrf_token": {b.csrf(page)}}, nil)
	if status != 200 || !strings.Contains(page, "You are signed out") {
		t.Fatalf("sign-out: %d\n%s", status, page)
	}
	if status, page := b.get("/portal"); status != 200 || !strings.Contains(page, `action="/login/demo"`) {
		t.Errorf("portal after sign-out: %d", status)
	}
	if status, page := copied.get("/portal"); status != 403 || choiceRE.MatchString(page) {
		t.Errorf("copied cookie after sign-out: %d", status)
	}
	_, fresh := b.get("/login/demo") // a CSRF token for the copy's post
	jar.SetCookies(u, stolen)        // the portal cleared the dead cookie; the copy sends it anyway
	status, page, _ = copied.post("/portal/credentials", url.Values{"csrf_token": {copied.csrf(fresh)}, "choice": {choiceRE.FindStringSubmatch(chooser)[1]}, "role": {adminARN}}, nil)
	if status != 403 || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("copied cookie posting a choice after sign-out: %d", status)
	}
	if ts.issued(t) != before+2 {
		t.Errorf("issued %d, want 2", ts.issued(t)-before)
	}
	ts.assertNoSecrets(t, firstSecret, firstToken, secondSecret, secondToken)
}
