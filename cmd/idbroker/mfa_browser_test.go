package main

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// mfaBrowserConfig: the demo's alice (password alice) at a provider that
// asks for no MFA, granted Developer and Prod; Prod needs MFA.
const mfaBrowserConfig = `
account_id: "123456789012"
region: us-east-1
keys: {dir: ""}
store: {type: memory}
providers:
  - name: demo
    type: static
    display_name: Demo users
    users:
      - {username: alice, display_name: Alice Example, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: developers, when: {groups_any: [developers]}, roles: [Developer, Prod]}
on_ambiguous: choose
roles:
  - name: Developer
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}]
  - name: Prod
    description: Production, with multi-factor authentication.
    require_mfa: true
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:*", Resource: "*"}]}]
`

// TestMFAInBrowser: alice enrols an authenticator in the portal (the QR
// code the broker renders, the key as text, a first code, the recovery
// codes shown once), signs out, signs in, asks for Prod, is asked for a
// code, types one computed from the enrolled key, and gets Prod's keys.
// The console stays free of CSP violations throughout.
func TestMFAInBrowser(t *testing.T) {
	ts := startServer(t, []byte(mfaBrowserConfig))
	c := newPortalBrowser(t, 1280, 900)
	c.signInAs(ts.URL, "alice", "alice")

	// The MFA page, from the portal's link: nothing set up yet.
	c.do("open the MFA page", chromedp.Click(chromedp.CSS(`a[href="/portal/mfa"]`)))
	c.waitFor("the MFA page", `location.pathname === "/portal/mfa" && !!document.querySelector("#mfa-enrol")`)
	c.do("set up an authenticator", chromedp.Click(chromedp.CSS("#mfa-enrol")))
	c.waitFor("the QR code", `!!document.querySelector("#mfa-qr") && document.querySelector("#mfa-qr").complete`)
	qr := eval[map[string]any](c, `({w: document.querySelector("#mfa-qr").naturalWidth, src: document.querySelector("#mfa-qr").getAttribute("src").slice(0, 22)})`)
	if qr["w"] != float64(256) || qr["src"] != "data:image/png;base64," {
		c.fail("QR code %v: want a 256 px PNG the broker rendered", qr)
	}
	secret := strings.ReplaceAll(eval[string](c, `document.querySelector("#mfa-secret").textContent`), " ", "")
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(secret) {
		c.fail("secret %q: want 32 base32 characters", secret)
	}
	app := &authenticator{secret: secret, used: map[int64]bool{}}

	// A wrong first code: the same setup again, with the error.
	c.do("type a wrong code", chromedp.SendKeys(chromedp.CSS("#mfa-code"), "000000"), chromedp.Submit(chromedp.CSS("#mfa-code")))
	c.waitFor("the setup again", `!!document.querySelector("#mfa-error") && !!document.querySelector("#mfa-secret")`)
	if again := strings.ReplaceAll(eval[string](c, `document.querySelector("#mfa-secret").textContent`), " ", ""); again != secret {
		c.fail("the setup after a wrong code shows another key")
	}
	c.do("type the app's code", chromedp.SendKeys(chromedp.CSS("#mfa-code"), app.code(t)), chromedp.Submit(chromedp.CSS("#mfa-code")))
	c.waitFor("the recovery codes", `document.querySelectorAll("#mfa-recovery code").length === 10`)
	codes := eval[[]string](c, `[...document.querySelectorAll("#mfa-recovery code")].map(e => e.textContent)`)
	for _, rc := range codes {
		if !regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`).MatchString(rc) {
			c.fail("recovery code %q", rc)
		}
	}

	// Sign out, and in again: no MFA in the new session yet.
	c.do("back to the portal", chromedp.Click(chromedp.CSS(`a[href="/portal"]`)))
	c.waitFor("the portal", `location.pathname === "/portal" && !!document.querySelector(".cards")`)
	c.do("sign out", chromedp.Click(chromedp.CSS(`form.signout button`)))
	c.waitFor("signed out", `location.pathname === "/logout"`)
	c.signInAs(ts.URL, "alice", "alice")

	// Prod asks for a code.
	c.do("get Prod's credentials", chromedp.Click(chromedp.CSS(`button[name=only][value$=":role/Prod"]`)))
	c.waitFor("the step-up page", `!!document.querySelector("#mfa-code") && !!document.querySelector("#mfa-why")`)
	if why := eval[string](c, `document.querySelector("#mfa-why").textContent`); !strings.Contains(why, "Prod") {
		c.fail("the step-up page says %q", why)
	}
	c.do("type the app's code", chromedp.SendKeys(chromedp.CSS("#mfa-code"), app.code(t)), chromedp.Submit(chromedp.CSS("#mfa-code")))
	c.waitFor("the portal", `location.pathname === "/portal" && !!document.querySelector(".cards")`)
	c.do("get Prod's credentials", chromedp.Click(chromedp.CSS(`button[name=only][value$=":role/Prod"]`)))
	c.waitFor("the credentials page", `location.pathname.startsWith("/portal/credentials/") && !!document.querySelector("#c0-sh-code")`)
	keys := eval[string](c, `document.querySelector("#c0-sh-code").textContent`)
	if !regexp.MustCompile(`^export AWS_ACCESS_KEY_ID=ASIA[A-Z2-7]{16}\n`).MatchString(keys) || !strings.Contains(eval[string](c, `document.querySelector(".creds h2").textContent`), "Prod") {
		c.fail("Prod's credentials page: %q", keys)
	}
	c.assertCleanConsole(ts.URL+"/portal/mfa/confirm", ts.URL+"/portal/credentials")
	for _, s := range append([]string{secret}, codes...) {
		if strings.Contains(ts.Logs.String(), s) {
			t.Errorf("the log holds a secret or recovery code (%.4s…)", s)
		}
	}
}

// TestMFASignInStepUpForms: at a provider with mfa: optional, a person who
// enrolled (through the portal's forms) is sent to the code page right
// after the password, the portal keeps sending them there until a code is
// given, and a recovery code opens it.
func TestMFASignInStepUpForms(t *testing.T) {
	cfg := strings.Replace(mfaBrowserConfig, "    display_name: Demo users\n", "    display_name: Demo users\n    mfa: optional\n", 1)
	ts := startServer(t, []byte(cfg))
	b := newBrowser(t, ts.URL)
	if status, page, resp := b.signIn("demo", "alice", "alice"); status != 200 || resp.Request.URL.Path != "/portal" || !strings.Contains(page, `href="/portal/mfa"`) {
		t.Fatalf("sign-in before enrolment: %d %s", status, resp.Request.URL.Path)
	}
	_, page := b.get("/portal/mfa")
	status, page, _ := b.post("/portal/mfa/enrol", url.Values{"csrf_token": {b.csrf(page)}}, nil)
	m := regexp.MustCompile(`id="mfa-secret" data-secret>([A-Z2-7 ]+)<`).FindStringSubmatch(page)
	pending := regexp.MustCompile(`name="pending" value="([^"]+)"`).FindStringSubmatch(page)
	if status != 200 || m == nil || pending == nil {
		t.Fatalf("enrol page: %d\n%s", status, page)
	}
	app := &authenticator{secret: strings.ReplaceAll(m[1], " ", ""), used: map[int64]bool{}}
	status, page, _ = b.post("/portal/mfa/confirm", url.Values{"csrf_token": {b.csrf(page)}, "pending": {pending[1]}, "code": {app.code(t)}}, nil)
	codes := regexp.MustCompile(`<li><code data-secret>([0-9a-z]{5}-[0-9a-z]{5})</code>`).FindAllStringSubmatch(page, -1)
	if status != 200 || len(codes) != 10 {
		t.Fatalf("confirm: %d, %d recovery codes\n%s", status, len(codes), page)
	}

	// A new sign-in: the code page first, and the portal sends back to it.
	b2 := newBrowser(t, ts.URL)
	status, page, resp := b2.signIn("demo", "alice", "alice")
	if status != 200 || resp.Request.URL.Path != "/portal/mfa/verify" || !strings.Contains(page, `id="mfa-code"`) {
		t.Fatalf("sign-in of an enrolled person: %d at %s", status, resp.Request.URL.Path)
	}
	if status, _ := b2.get("/portal"); status != 200 {
		t.Fatalf("portal: %d", status)
	}
	_, page = b2.get("/portal")
	if !strings.Contains(page, `id="mfa-code"`) || strings.Contains(page, `class="cards"`) {
		t.Fatalf("the portal before the code shows the roles:\n%s", page)
	}
	status, page, _ = b2.post("/portal/mfa/verify", url.Values{"csrf_token": {b2.csrf(page)}, "code": {"000000"}}, nil)
	if status != 401 || !strings.Contains(page, `id="mfa-error"`) {
		t.Fatalf("a wrong code: %d\n%s", status, page)
	}
	status, page, resp = b2.post("/portal/mfa/verify", url.Values{"csrf_token": {b2.csrf(page)}, "code": {strings.ToUpper(codes[0][1])}}, nil)
	if status != 200 || resp.Request.URL.Path != "/portal" || !strings.Contains(page, `class="cards"`) {
		t.Fatalf("a recovery code: %d at %s\n%s", status, resp.Request.URL.Path, page)
	}
	// Prod (require_mfa) is had at once: the session has MFA.
	status, page, resp = b2.choose(page, "arn:aws:iam::123456789012:role/Prod")
	if status != 200 || !strings.HasPrefix(resp.Request.URL.Path, "/portal/credentials/") || !strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("Prod after the recovery code: %d at %s", status, resp.Request.URL.Path)
	}
}
