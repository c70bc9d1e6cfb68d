package broker

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// signInBrowser signs user in with the password form and returns the
// browser (holding the session cookie) and the portal.
func (b *sessionBroker) signInBrowser(t *testing.T, user string) (*testBrowser, string) {
	t.Helper()
	br := newTestBrowser(b.s, b.pub)
	form := br.get("/login/corp")
	m := formTokenRE.FindStringSubmatch(form.Body.String())
	if m == nil {
		t.Fatalf("no sign-in form: %s", form.Body)
	}
	rec := br.post("/login/corp", url.Values{"csrf_token": {m[1]}, "username": {user}, "password": {"pw"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/portal" {
		t.Fatalf("sign-in: %d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	page := br.get("/portal")
	if page.Code != http.StatusOK {
		t.Fatalf("portal: %d %s", page.Code, page.Body)
	}
	return br, page.Body.String()
}

func hasSecrets(body string) bool {
	return strings.Contains(body, "AWS_SECRET_ACCESS_KEY") || strings.Contains(body, "secret-mo-")
}

// TestBrowserSessionCookie: the session cookie is HttpOnly, SameSite=Lax,
// Path=/, host-only, and on https Secure with the __Host- prefix; on the
// plain-http loopback demo it is idb_session. It holds the token only.
func TestBrowserSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		pub, name string
		secure    bool
	}{
		{"https://broker.example.com", "__Host-idb_session", true},
		{"http://127.0.0.1:8080", "idb_session", false},
	} {
		t.Run(tc.pub, func(t *testing.T) {
			b := newSessionBroker(t, tc.pub, Sessions{Duration: time.Hour})
			br, _ := b.signInBrowser(t, "alice")
			c := br.cookies[tc.name]
			if c == nil || !c.HttpOnly || c.Secure != tc.secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
				t.Fatalf("cookie %+v", c)
			}
			if c.MaxAge <= 0 || c.MaxAge > 3600 {
				t.Errorf("Max-Age %d, want the session's hour", c.MaxAge)
			}
			if _, _, ok := parseSessionToken(c.Value); !ok {
				t.Errorf("cookie value is not a session token")
			}
			if len(br.cookies) != 2 { // the session and the CSRF cookie
				t.Errorf("cookies %v", br.cookies)
			}
		})
	}
}

// TestBrowserRoleChoiceOnce: the portal's choice is used once, from any
// browser: the same form posted again (a page restored from the browser's
// cache), by a copy of the browser, or by another session's browser issues
// nothing and offers the portal again; the session meanwhile gives new
// credentials without a password, never the old ones.
func TestBrowserRoleChoiceOnce(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	br, page := b.signInBrowser(t, "olga")
	if !strings.Contains(page, moRoleARN("Developer")) || !strings.Contains(page, moRoleARN("Ops")) {
		t.Fatalf("portal:\n%s", page)
	}
	first := br.choose(t, page, moRoleARN("Ops"))
	if first.Code != http.StatusOK || !strings.Contains(first.Body.String(), "ASIAMO00000000000001") {
		t.Fatalf("credentials: %d\n%s", first.Code, first.Body)
	}
	if first.Header().Get("Cache-Control") != "no-store" {
		t.Error("the credentials page may be cached")
	}

	// The form posted again by the same browser, a copy of it (same
	// cookies), and another user's browser.
	copied := newTestBrowser(b.s, b.pub)
	for k, v := range br.cookies {
		copied.cookies[k] = v
	}
	other, _ := b.signInBrowser(t, "alice")
	for _, tc := range []struct {
		name   string
		br     *testBrowser
		notice string
	}{
		{"posted again", br, noticeChoiceUsed},
		{"a copy of the browser", copied, noticeChoiceUsed},
		{"another session's browser", other, noticeChoiceExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := formFields(t, page)
			f["role"] = []string{moRoleARN("Ops")}
			if tc.br == other {
				// Its own CSRF token, the stolen choice.
				f.Set("csrf_token", formTokenRE.FindStringSubmatch(other.get("/portal").Body.String())[1])
			}
			rec := tc.br.post("/portal/credentials", f)
			if rec.Code != http.StatusConflict || hasSecrets(rec.Body.String()) || !strings.Contains(rec.Body.String(), tc.notice) {
				t.Fatalf("%d:\n%s", rec.Code, rec.Body)
			}
			if !choiceRE.MatchString(rec.Body.String()) {
				t.Error("no new choice offered")
			}
		})
	}
	if n := len(b.sts.calls()); n != 1 {
		t.Fatalf("%d issuances, want 1", n)
	}
	if ev := b.auditEvents(t, "choice.refused"); len(ev) != 3 {
		t.Errorf("%d choice.refused events, want 3", len(ev))
	}

	// Back to the portal: new credentials, no password.
	again := br.get("/portal")
	second := br.choose(t, again.Body.String(), moRoleARN("Ops"))
	if second.Code != http.StatusOK || !strings.Contains(second.Body.String(), "ASIAMO00000000000002") || strings.Contains(second.Body.String(), "ASIAMO00000000000001") {
		t.Fatalf("new credentials: %d\n%s", second.Code, second.Body)
	}
	// Every issuance names the browser's session.
	sid := strings.SplitN(br.cookies[sessionCookieSecure].Value, ".", 2)[0]
	for _, c := range b.sts.calls() {
		if jwtClaims(t, c.WebIdentityToken)["sid"] != sid {
			t.Errorf("issued without the session id")
		}
	}
}

// TestBrowserSignOut: POST /logout (CSRF-checked) ends the session on the
// server and clears the cookie; a copy of the cookie taken before does
// nothing afterwards; a new sign-in ends the browser's previous session.
func TestBrowserSignOut(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	br, page := b.signInBrowser(t, "alice")
	stolen := *br.cookies[sessionCookieSecure]

	// Without the CSRF token nothing happens.
	if rec := br.post("/logout", url.Values{}); rec.Code != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d", rec.Code)
	}
	if rec := br.get("/portal"); rec.Code != http.StatusOK {
		t.Fatalf("session ended by a forged sign-out: %d", rec.Code)
	}
	rec := br.post("/logout", url.Values{"csrf_token": {formFields(t, page).Get("csrf_token")}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "You are signed out") {
		t.Fatalf("sign-out: %d\n%s", rec.Code, rec.Body)
	}
	if _, ok := br.cookies[sessionCookieSecure]; ok {
		t.Error("cookie not cleared")
	}

	thief := newTestBrowser(b.s, b.pub)
	thief.cookies[stolen.Name] = &stolen
	thief.cookies[csrfCookie] = br.cookies[csrfCookie]
	if rec := thief.get("/portal"); rec.Code != http.StatusForbidden || choiceRE.MatchString(rec.Body.String()) {
		t.Errorf("copied cookie, portal: %d", rec.Code)
	}
	if _, ok := thief.cookies[stolen.Name]; ok {
		t.Error("the portal did not clear the cookie of an ended session")
	}
	thief.cookies[stolen.Name] = &stolen
	f := formFields(t, page)
	f["role"] = []string{moRoleARN("Developer")}
	if rec := thief.post("/portal/credentials", f); rec.Code != http.StatusForbidden || hasSecrets(rec.Body.String()) {
		t.Errorf("copied cookie, choice: %d", rec.Code)
	}
	if n := len(b.sts.calls()); n != 0 {
		t.Fatalf("%d issuances after sign-out", n)
	}

	// A second sign-in in one browser ends the first session.
	br2, _ := b.signInBrowser(t, "alice")
	firstCookie := *br2.cookies[sessionCookieSecure]
	form := br2.get("/login/corp")
	m := formTokenRE.FindStringSubmatch(form.Body.String())
	if rec := br2.post("/login/corp", url.Values{"csrf_token": {m[1]}, "username": {"alice"}, "password": {"pw"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", rec.Code)
	}
	if br2.cookies[sessionCookieSecure].Value == firstCookie.Value {
		t.Fatal("no new session")
	}
	old := newTestBrowser(b.s, b.pub)
	old.cookies[firstCookie.Name] = &firstCookie
	if rec := old.get("/portal"); rec.Code != http.StatusForbidden {
		t.Errorf("the replaced session still works: %d", rec.Code)
	}
	if ev := b.auditEvents(t, "session.ended"); len(ev) != 2 {
		t.Errorf("%d session.ended events, want 2", len(ev))
	}
}
