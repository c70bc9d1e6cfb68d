package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
)

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	choiceRE = regexp.MustCompile(`name="choice" value="([^"]+)"`)
)

type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values, header map[string]string) (int, string, *http.Response) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp
}

// choose posts the portal's form (its CSRF token and one-time choice)
// asking for roles: the credentials page its redirect leads to.
func (b *browser) choose(page string, roles ...string) (int, string, *http.Response) {
	b.t.Helper()
	m := choiceRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no role choice in page:\n%s", page)
	}
	return b.post("/portal/credentials", url.Values{"csrf_token": {b.csrf(page)}, "choice": {m[1]}, "role": roles}, nil)
}

// signIn posts provider's password form; the browser lands on the portal.
func (b *browser) signIn(provider, user, password string) (int, string, *http.Response) {
	b.t.Helper()
	_, form := b.get("/login/" + provider)
	return b.post("/login/"+provider, url.Values{"csrf_token": {b.csrf(form)}, "username": {user}, "password": {password}}, nil)
}

func (b *browser) csrf(page string) string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token in page:\n%s", page)
	}
	return m[1]
}

// TestBrowserSignIn walks the demo sign-in as a browser would.
func TestBrowserSignIn(t *testing.T) {
	ts := startServer(t, configs.Demo)

	t.Run("alice gets Developer keys", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		status, page := b.get("/") // one provider: straight to its form
		if status != 200 || !strings.Contains(page, `action="/login/demo"`) {
			t.Fatalf("sign-in page %d:\n%s", status, page)
		}
		status, page, resp := b.signIn("demo", "alice", "alice")
		if status != 200 || resp.Request.URL.Path != "/portal" || !strings.Contains(page, "Read access to the demo buckets.") || strings.Contains(page, `name="role"`) {
			t.Fatalf("login %d at %s:\n%s", status, resp.Request.URL.Path, page)
		}
		status, page, resp = b.choose(page, "arn:aws:iam::123456789012:role/Developer")
		if status != 200 {
			t.Fatalf("credentials %d:\n%s", status, page)
		}
		for _, want := range []string{"export AWS_ACCESS_KEY_ID=ASIA", "export AWS_SECRET_ACCESS_KEY=", "export AWS_SESSION_TOKEN=", "[Developer]", "aws_session_token = ", "arn:aws:sts::123456789012:assumed-role/Developer/alice"} {
			if !strings.Contains(page, want) {
				t.Errorf("credentials page lacks %q", want)
			}
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
	})

	t.Run("bob chooses both roles", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		_, form := b.get("/login/demo")
		status, page, resp := b.post("/login/demo", url.Values{"csrf_token": {b.csrf(form)}, "username": {"bob"}, "password": {"bob"}}, nil)
		if status != 200 || resp.Request.URL.Path != "/portal" {
			t.Fatalf("login: %d at %s", status, resp.Request.URL.Path)
		}
		if !strings.Contains(page, "role/Developer") || !strings.Contains(page, "role/Admin") {
			t.Fatalf("chooser:\n%s", page)
		}
		chooser := page
		status, page, _ = b.choose(chooser, "arn:aws:iam::123456789012:role/Developer", "arn:aws:iam::123456789012:role/Admin")
		if status != 200 || strings.Count(page, "export AWS_ACCESS_KEY_ID=ASIA") != 2 {
			t.Fatalf("credentials %d:\n%s", status, page)
		}
		// The choice is used up: the same form again issues nothing.
		if status, page, _ := b.choose(chooser, "arn:aws:iam::123456789012:role/Admin"); status != 409 || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
			t.Errorf("choice used twice: %d:\n%s", status, page)
		}
	})

	t.Run("bob cannot pick a role he was not granted", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		_, form := b.get("/login/demo")
		_, page, _ := b.post("/login/demo", url.Values{"csrf_token": {b.csrf(form)}, "username": {"bob"}, "password": {"bob"}}, nil)
		status, page, _ := b.choose(page, "arn:aws:iam::123456789012:role/Root")
		if status != 403 || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
			t.Fatalf("%d:\n%s", status, page)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		_, form := b.get("/login/demo")
		token := b.csrf(form)
		cases := []struct {
			name   string
			path   string
			form   url.Values
			header map[string]string
			want   int
		}{
			{"wrong password", "/login/demo", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"CANARY-browser-1"}}, nil, 401},
			{"no CSRF token", "/login/demo", url.Values{"username": {"alice"}, "password": {"alice"}}, nil, 403},
			{"forged CSRF token", "/login/demo", url.Values{"csrf_token": {"AAAA" + token[4:]}, "username": {"alice"}, "password": {"alice"}}, nil, 403},
			{"cross-site post", "/login/demo", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"alice"}}, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, 403},
			{"credentials in the query string", "/login/demo?password=alice", url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"alice"}}, nil, 400},
			{"unknown provider", "/login/nope", url.Values{"csrf_token": {token}}, nil, 404},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, page, _ := b.post(tc.path, tc.form, tc.header)
				if status != tc.want || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
					t.Fatalf("%d (want %d):\n%s", status, tc.want, page)
				}
			})
		}
		if status, _ := b.get("/login/demo?username=alice&password=alice"); status != 200 {
			t.Errorf("GET form: %d", status)
		}
	})
	ts.assertNoSecrets(t, "CANARY-browser-1")
}

func TestHealthAndIssuerEndpoints(t *testing.T) {
	ts := startServer(t, configs.Demo)
	b := newBrowser(t, ts.URL)
	for path, want := range map[string]string{
		"/healthz":                          "ok",
		"/readyz":                           "ready",
		"/.well-known/openid-configuration": `"jwks_uri":"` + ts.URL + `/keys"`,
		"/keys":                             `"alg":"ES256"`,
	} {
		status, body := b.get(path)
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	// The numbers are on the metrics listener only, not the public one.
	if status, _ := b.get("/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener: %d, want 404", status)
	}
	if status, body := newBrowser(t, ts.MetricsURL).get("/metrics"); status != 200 || !strings.Contains(body, "idbroker_sts_credentials_issued_total") {
		t.Errorf("GET /metrics on the metrics listener: %d %s", status, body)
	}
}
