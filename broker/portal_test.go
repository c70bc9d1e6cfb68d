package broker

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	viewRE        = regexp.MustCompile(`^/portal/credentials/([A-Za-z0-9_-]{22})$`)
	inlineRE      = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`)
	durationSelRE = regexp.MustCompile(`<option value="(\d+)"( selected)?>([^<]+)</option>`)
)

// TestPortalPage: the portal names the person, their provider and their
// session's end, and shows one card per granted role with its description,
// account, longest session and the durations up to it (an hour chosen
// first); the page has no inline script or style and sends the CSP.
func TestPortalPage(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{Duration: 2 * time.Hour})
	br, page := b.signInBrowser(t, "olga")
	for _, want := range []string{
		"Signed in as <strong>olga</strong> with corp",
		`datetime="` + b.clk.now().Add(2*time.Hour).UTC().Format(time.RFC3339) + `"`,
		`<label for="role-0">Developer</label>`, "Build and test in the development account.",
		`<label for="role-1">Ops</label>`, "Operate production services.",
		"<dd>" + moAccount + "</dd>", "<dd>4 hours</dd>",
		`name="duration:` + moRoleARN("Developer") + `"`, `name="only" value="` + moRoleARN("Ops") + `"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the portal lacks %q", want)
		}
	}
	var got []string
	for _, m := range durationSelRE.FindAllStringSubmatch(page, -1)[:5] {
		got = append(got, m[1]+m[2])
	}
	if strings.Join(got, ",") != "900,1800,3600 selected,7200,14400" {
		t.Errorf("durations %v", got)
	}
	if inlineRE.MatchString(page) {
		t.Errorf("inline script or style: %s", inlineRE.FindString(page))
	}
	rec := br.get("/portal")
	if csp := rec.Header().Get("Content-Security-Policy"); csp != pageCSP || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		"Strict-Transport-Security": "max-age=31536000", "Cache-Control": "no-store"} {
		if rec.Header().Get(k) != v {
			t.Errorf("%s: %q, want %q", k, rec.Header().Get(k), v)
		}
	}
	if rec := br.get("/roles"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/portal" {
		t.Errorf("GET /roles: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// TestDurationOptions: 15 minutes up to the grant's maximum, which is
// offered when it is no step; an hour (or the maximum) chosen first.
func TestDurationOptions(t *testing.T) {
	for _, tc := range []struct {
		max  time.Duration
		want string
	}{
		{time.Hour, "15 minutes,30 minutes,1 hour*"},
		{45 * time.Minute, "15 minutes,30 minutes,45 minutes*"},
		{15 * time.Minute, "15 minutes*"},
		{90 * time.Minute, "15 minutes,30 minutes,1 hour*,1 hour 30 minutes"},
		{12 * time.Hour, "15 minutes,30 minutes,1 hour*,2 hours,4 hours,8 hours,12 hours"},
	} {
		var got []string
		for _, o := range durationOptions(tc.max) {
			l := o.Label
			if o.Selected {
				l += "*"
			}
			got = append(got, l)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s: %v, want %s", tc.max, got, tc.want)
		}
	}
}

// TestCredentialsShownOnce: the issuing POST answers with a redirect that
// carries no secret; the credentials page shows the keys for the duration
// chosen, once: a reload, a copy of the browser and another session's
// browser get the portal with a notice, never the keys, and never a
// failure page. The keys are held sealed in the session until then and
// dropped from it once shown.
func TestCredentialsShownOnce(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	br, page := b.signInBrowser(t, "olga")
	f := formFields(t, page)
	f.Set("only", moRoleARN("Developer"))
	f.Set("duration:"+moRoleARN("Developer"), "1800")
	f.Set("duration:"+moRoleARN("Ops"), "7200")
	rec := br.post("/portal/credentials", f)
	m := viewRE.FindStringSubmatch(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || m == nil || hasSecrets(rec.Body.String()) {
		t.Fatalf("issuing POST: %d to %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	calls := b.sts.calls()
	if len(calls) != 1 || calls[0].RoleArn != moRoleARN("Developer") || *calls[0].DurationSeconds != 1800 {
		t.Fatalf("STS calls %+v", calls)
	}
	sid := strings.SplitN(br.cookies[sessionCookieSecure].Value, ".", 2)[0]
	if se := b.session(t, sid); len(se.Pending) != 1 || se.Pending[0].ID != m[1] {
		t.Fatalf("pending %+v", se.Pending)
	}
	if strings.Contains(b.logs.String(), "secret-mo-1") || strings.Contains(b.logs.String(), m[1]) {
		t.Error("a secret or the view id reached the log")
	}

	creds := br.get(m[0])
	body := creds.Body.String()
	for _, want := range []string{
		"export AWS_ACCESS_KEY_ID=ASIAMO00000000000001\n", "export AWS_SECRET_ACCESS_KEY=secret-mo-1\n",
		"set -gx AWS_SESSION_TOKEN token-mo-1<", `$Env:AWS_SECRET_ACCESS_KEY="secret-mo-1"`,
		"[Developer]\naws_access_key_id = ASIAMO00000000000001",
		`datetime="` + b.clk.now().Add(30*time.Minute).UTC().Format(time.RFC3339) + `"`, "(30 minutes)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the credentials page lacks %q", want)
		}
	}
	// The commands as copied: the page's text (its markup keeps flags from
	// breaking inside on a narrow screen).
	text := html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, ""))
	for _, want := range []string{
		"idbroker login --url https://broker.example.com --provider corp --role Developer --profile Developer\naws sts get-caller-identity --profile Developer --endpoint-url https://broker.example.com --region us-east-1\n",
		"aws sts get-caller-identity --endpoint-url https://broker.example.com --region us-east-1\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the credentials page's text lacks %q", want)
		}
	}
	if creds.Code != http.StatusOK || creds.Header().Get("Cache-Control") != "no-store" || inlineRE.MatchString(body) {
		t.Fatalf("credentials page: %d %q", creds.Code, creds.Header().Get("Cache-Control"))
	}
	if se := b.session(t, sid); len(se.Pending) != 0 {
		t.Error("the keys stay in the session after they were shown")
	}

	copied := newTestBrowser(b.s, b.pub)
	for k, v := range br.cookies {
		copied.cookies[k] = v
	}
	other, _ := b.signInBrowser(t, "alice")
	for name, tb := range map[string]*testBrowser{"reload": br, "a copy of the browser": copied, "another session's browser": other} {
		t.Run(name, func(t *testing.T) {
			rec := tb.get(m[0])
			body := rec.Body.String()
			if rec.Code != http.StatusOK || hasSecrets(body) || strings.Contains(body, "ASIAMO") || !strings.Contains(body, noticeShownOnce) || !choiceRE.MatchString(body) {
				t.Fatalf("%d:\n%s", rec.Code, body)
			}
			if strings.Contains(body, "failed") {
				t.Error("the page reads as a failure")
			}
		})
	}
	if n := len(b.sts.calls()); n != 1 {
		t.Fatalf("%d issuances", n)
	}
}

// session reads the session id from the store.
func (b *sessionBroker) session(t *testing.T, id string) *session {
	t.Helper()
	se, err := b.s.loadSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return se
}

// TestPortalSeveralRoles: ticked roles are issued at once, each for its
// own card's duration, on one credentials page; no role ticked is the
// portal again with a notice, and nothing is issued.
func TestPortalSeveralRoles(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	br, page := b.signInBrowser(t, "olga")
	f := formFields(t, page)
	f.Set("selected", "1")
	if rec := br.post("/portal/credentials", f); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Tick at least one role") || len(b.sts.calls()) != 0 {
		t.Fatalf("nothing ticked: %d\n%s", rec.Code, rec.Body)
	}
	page = br.get("/portal").Body.String()
	f = formFields(t, page)
	f["role"] = []string{moRoleARN("Ops"), moRoleARN("Developer")}
	f.Set("duration:"+moRoleARN("Developer"), "900")
	f.Set("duration:"+moRoleARN("Ops"), "14400")
	rec := br.issue(t, f)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || strings.Count(body, "export AWS_ACCESS_KEY_ID=") != 2 || !strings.Contains(body, "<title>Your credentials") {
		t.Fatalf("%d\n%s", rec.Code, body)
	}
	got := map[string]int32{}
	for _, c := range b.sts.calls() {
		got[c.RoleArn] = *c.DurationSeconds
	}
	if got[moRoleARN("Ops")] != 14400 || got[moRoleARN("Developer")] != 900 {
		t.Errorf("durations %v", got)
	}
	if strings.Index(body, "ASIAMO00000000000001") > strings.Index(body, "ASIAMO00000000000002") {
		t.Error("the roles are not shown in the order ticked")
	}
}

// TestPendingKeysDropped: keys never read leave the session when they are
// stale (at its next write) and when the session ends.
func TestPendingKeysDropped(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	br, page := b.signInBrowser(t, "olga")
	sid := strings.SplitN(br.cookies[sessionCookieSecure].Value, ".", 2)[0]
	ask := func(page string) {
		f := formFields(t, page)
		f.Set("only", moRoleARN("Ops"))
		if rec := br.post("/portal/credentials", f); rec.Code != http.StatusSeeOther {
			t.Fatalf("issuing: %d", rec.Code)
		}
	}
	ask(page)
	b.clk.add(pendingTTL + time.Second)
	ask(br.get("/portal").Body.String())
	if se := b.session(t, sid); len(se.Pending) != 1 {
		t.Fatalf("%d pending, want the fresh one only", len(se.Pending))
	}
	if rec := br.post("/logout", url.Values{"csrf_token": {formFields(t, page).Get("csrf_token")}}); rec.Code != http.StatusOK {
		t.Fatalf("sign-out: %d", rec.Code)
	}
	if se := b.session(t, sid); len(se.Pending) != 0 || se.Ended.IsZero() {
		t.Fatalf("ended session keeps %d pending", len(se.Pending))
	}
}

// TestPortalNoGrant: a person whom no rule grants a role sees the portal
// saying so (403, audited), with the sign-out button.
func TestPortalNoGrant(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	br, _ := b.signInBrowser(t, "alice")
	b.mapper.set(t, "rules:\n  - {name: ops, when: {groups_any: [ops]}, roles: [Ops]}\n")
	rec := br.get("/portal")
	body := rec.Body.String()
	if rec.Code != http.StatusForbidden || !strings.Contains(body, "no role is granted to you") || !strings.Contains(body, `action="/logout"`) || choiceRE.MatchString(body) {
		t.Fatalf("%d\n%s", rec.Code, body)
	}
}

// TestStartPage: / sends a signed-in browser to the portal, and with one
// provider straight to its sign-in; a banner keeps the list before a
// redirect to an identity provider, and is shown on the sign-in pages.
func TestStartPage(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	anon := newTestBrowser(b.s, b.pub)
	if rec := anon.get("/"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/corp" {
		t.Errorf("one password provider: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	br, _ := b.signInBrowser(t, "alice")
	if rec := br.get("/"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/portal" {
		t.Errorf("signed in: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := anon.get("/portal"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Errorf("portal without a session: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	b.s.portal.Banner = "Authorised use only.\n\nActivity is logged."
	if rec := anon.get("/login/corp"); !strings.Contains(rec.Body.String(), "<p>Authorised use only.</p>\n<p>Activity is logged.</p>") {
		t.Errorf("no banner on the sign-in form:\n%s", rec.Body)
	}
	b.s.cfg.Providers = []Provider{{Name: "okta", Type: "saml", DisplayName: "Okta", Impl: struct{}{}}}
	if rec := anon.get("/"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `href="/login/okta"`) || !strings.Contains(rec.Body.String(), "Authorised use only.") {
		t.Errorf("banner before a redirect provider: %d\n%s", rec.Code, rec.Body)
	}
}
