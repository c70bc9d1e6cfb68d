package broker

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// testBrowser drives a broker in process as a browser does: it keeps the
// cookies the broker sets (host-only, by name) and sends them back.
type testBrowser struct {
	s       *Server
	base    string
	cookies map[string]*http.Cookie
}

func newTestBrowser(s *Server, base string) *testBrowser {
	return &testBrowser{s: s, base: base, cookies: map[string]*http.Cookie{}}
}

// absorb keeps the cookies an answer sets and forgets those it clears.
func (b *testBrowser) absorb(rec *httptest.ResponseRecorder) {
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
}

func (b *testBrowser) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, b.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, b.base+path, nil)
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	b.absorb(rec)
	return rec
}

func (b *testBrowser) get(path string) *httptest.ResponseRecorder {
	return b.do(http.MethodGet, path, nil)
}

func (b *testBrowser) post(path string, form url.Values) *httptest.ResponseRecorder {
	return b.do(http.MethodPost, path, form)
}

var choiceRE = regexp.MustCompile(`name="choice" value="([^"]+)"`)

// formFields are the hidden fields of the portal's form (CSRF token and
// choice).
func formFields(t *testing.T, page string) url.Values {
	t.Helper()
	csrf, choice := formTokenRE.FindStringSubmatch(page), choiceRE.FindStringSubmatch(page)
	if csrf == nil || choice == nil {
		t.Fatalf("no CSRF token or choice in the page:\n%s", page)
	}
	return url.Values{"csrf_token": {csrf[1]}, "choice": {choice[1]}}
}

// choose posts the portal's form for roles (ticked, each with its card's
// default duration) and returns the answer: for an issuance, the
// credentials page its redirect leads to (see issue).
func (b *testBrowser) choose(t *testing.T, page string, roles ...string) *httptest.ResponseRecorder {
	t.Helper()
	f := formFields(t, page)
	f["role"] = roles
	return b.issue(t, f)
}

// issue posts a portal form and, when it answers with the redirect to the
// credentials page, follows it.
func (b *testBrowser) issue(t *testing.T, f url.Values) *httptest.ResponseRecorder {
	t.Helper()
	rec := b.post("/portal/credentials", f)
	if rec.Code != http.StatusSeeOther {
		return rec
	}
	loc := rec.Header().Get("Location")
	if !strings.HasPrefix(loc, "/portal/credentials/") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("issuing redirect to %q (Cache-Control %q)", loc, rec.Header().Get("Cache-Control"))
	}
	if hasSecrets(rec.Body.String()) {
		t.Fatalf("the redirect carries the keys")
	}
	return b.get(loc)
}

// credentialsAfterSignIn follows a sign-in's redirect to the portal and
// asks for the one role granted; it returns the credentials page.
func (b *testBrowser) credentialsAfterSignIn(t *testing.T, signIn *httptest.ResponseRecorder, role string) *httptest.ResponseRecorder {
	t.Helper()
	if signIn.Code != http.StatusSeeOther || signIn.Header().Get("Location") != "/portal" {
		t.Fatalf("sign-in: %d to %q:\n%s", signIn.Code, signIn.Header().Get("Location"), signIn.Body)
	}
	page := b.get("/portal")
	if page.Code != http.StatusOK {
		t.Fatalf("portal: %d:\n%s", page.Code, page.Body)
	}
	return b.choose(t, page.Body.String(), role)
}
