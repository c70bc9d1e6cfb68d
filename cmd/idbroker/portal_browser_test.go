package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York without the system's zoneinfo

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/idbroker/idbroker/configs"
)

// The portal in a real browser (Debian's chromium through chromedp), on the
// demo configuration: bob is granted Developer ("Read access to the demo
// buckets.", up to 4 hours) and Admin ("Everything, for at most one hour.").

const (
	developerDesc = "Read access to the demo buckets."
	adminDesc     = "Everything, for at most one hour."
)

// signInAs opens the start page (the demo has one provider: its form) and
// signs in; the browser lands on the portal.
func (c *portalBrowser) signInAs(base, user, password string) {
	c.t.Helper()
	c.do("open the start page", chromedp.Navigate(base+"/"))
	c.waitFor("the sign-in form", `location.pathname === "/login/demo" && !!document.querySelector("#username")`)
	c.do("sign in",
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
	)
	c.waitFor("the portal", `location.pathname === "/portal" && !!document.querySelector(".cards")`)
}

// TestPortalInBrowser is the scenario: sign in as a person with two
// roles, see both cards with their descriptions, get credentials for one
// with a chosen duration, copy a block, reload (no failure page, no
// secrets), go Back, get new credentials without a password, sign out, and
// find the portal closed. The console stays free of CSP violations and
// errors throughout.
func TestPortalInBrowser(t *testing.T) {
	ts := startServer(t, configs.Demo)
	c := newPortalBrowser(t, 1280, 900)
	// The person is in New York: times show there, UTC on hover.
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatalf("time zone data: %v", err)
	}
	c.do("set the time zone", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"})
		return err
	}))
	c.signInAs(ts.URL, "bob", "bob")

	// Two cards, each with its description, account and longest session.
	cards := eval[[]map[string]string](c, `[...document.querySelectorAll(".card.role")].map(el => ({
		name: el.querySelector(".role-name").textContent.trim(),
		desc: el.querySelector(".role-desc").textContent.trim(),
		facts: el.querySelector(".facts").innerText.replace(/\s+/g, " ").trim()}))`)
	if len(cards) != 2 || cards[0]["name"] != "Developer" || cards[0]["desc"] != developerDesc || cards[1]["name"] != "Admin" || cards[1]["desc"] != adminDesc {
		c.fail("cards %v", cards)
	}
	if cards[0]["facts"] != "Account 123456789012 Longest session 4 hours" || cards[1]["facts"] != "Account 123456789012 Longest session 1 hour" {
		c.fail("facts %v", cards)
	}
	if who := eval[string](c, `document.querySelector(".who-line").textContent`); !strings.Contains(who, "Bob Example (bob) with Demo users") || !strings.Contains(who, "Your session ends at") {
		c.fail("who line %q", who)
	}

	// Developer for 30 minutes.
	c.do("choose 30 minutes and get Developer's credentials",
		chromedp.SetValue(chromedp.CSS("#duration-0"), "1800"),
		chromedp.Click(chromedp.CSS(`button[name=only][value$=":role/Developer"]`)),
	)
	c.waitFor("the credentials page", `location.pathname.startsWith("/portal/credentials/") && !!document.querySelector("#c0-sh-code")`)
	credsURL := eval[string](c, "location.href")
	first := eval[string](c, `document.querySelector("#c0-sh-code").textContent`)
	if !regexp.MustCompile(`^export AWS_ACCESS_KEY_ID=ASIA[A-Z2-7]{16}\nexport AWS_SECRET_ACCESS_KEY=\S{40}\nexport AWS_SESSION_TOKEN=\S+$`).MatchString(first) {
		c.fail("bash block %q", first)
	}
	expiry := eval[map[string]string](c, `({dt: document.querySelector(".creds time").getAttribute("datetime"),
		title: document.querySelector(".creds time").title, shown: document.querySelector(".creds time").textContent,
		left: document.querySelector(".creds .countdown").textContent})`)
	at, err := time.Parse(time.RFC3339, expiry["dt"])
	if err != nil || at.Sub(time.Now()) > 31*time.Minute || at.Sub(time.Now()) < 25*time.Minute {
		c.fail("expiry %v (%v), want about 30 minutes from now", expiry, err)
	}
	local := at.In(newYork)
	if expiry["title"] != at.UTC().Format("Mon 2 Jan 2006, 15:04 UTC") || !strings.HasPrefix(expiry["shown"], local.Format("03:04 PM")) || !strings.HasSuffix(expiry["shown"], local.Format("MST")) {
		c.fail("expiry shown %q, title %q", expiry["shown"], expiry["title"])
	}
	if !regexp.MustCompile(`^ \(in (29|30|2[5-8]) min \d+ s\)$`).MatchString(expiry["left"]) {
		c.fail("countdown %q", expiry["left"])
	}
	check := eval[string](c, `document.querySelector("#check-code").textContent`)
	if check != "aws sts get-caller-identity --endpoint-url "+ts.URL+" --region us-east-1" {
		c.fail("check command %q", check)
	}

	// Tabs: five formats, bash/zsh first; fish by click, PowerShell by
	// arrow key.
	tabs := eval[[]string](c, `[...document.querySelectorAll(".creds [role=tab]")].map(t => t.textContent)`)
	if strings.Join(tabs, "|") != "bash / zsh|fish|PowerShell|~/.aws/credentials|idbroker login" {
		c.fail("tabs %q", tabs)
	}
	c.do("open the fish tab", chromedp.Click(chromedp.CSS(`#c0-fish-tab`)))
	if v := eval[string](c, `[document.querySelector("#c0-sh").hidden, document.querySelector("#c0-fish").hidden, document.activeElement.id].join()`); v != "true,false,c0-fish-tab" {
		c.fail("after clicking fish: %s", v)
	}
	c.do("arrow right", chromedp.KeyEvent(kb.ArrowRight))
	if v := eval[string](c, `[document.querySelector("#c0-fish").hidden, document.querySelector("#c0-ps").hidden, document.activeElement.id].join()`); v != "true,false,c0-ps-tab" {
		c.fail("after ArrowRight: %s", v)
	}
	if ps := eval[string](c, `document.querySelector("#c0-ps-code").textContent`); !strings.HasPrefix(ps, `$Env:AWS_ACCESS_KEY_ID="ASIA`) {
		c.fail("PowerShell block %q", ps)
	}
	c.do("back to bash", chromedp.Click(chromedp.CSS(`#c0-sh-tab`)))

	// Copy the bash block: the button says so, and the clipboard holds it.
	c.do("grant the clipboard", grantClipboard(ts.URL))
	c.do("copy the bash block", chromedp.Click(chromedp.CSS(`#c0-sh button.copy`)))
	c.waitFor("the copy button's effect", `document.querySelector("#c0-sh button.copy").textContent.startsWith("Copied")`)
	if clip := eval[string](c, `navigator.clipboard.readText()`); clip != first {
		c.fail("clipboard %q, want the bash block", clip)
	}
	// Long tokens wrap: no block is wider than its box.
	if over := eval[[]string](c, `[...document.querySelectorAll("pre.code")].filter(p => !p.closest("[hidden]") && p.scrollWidth > p.clientWidth + 1).map(p => p.id)`); len(over) > 0 {
		c.fail("blocks running off: %v", over)
	}

	// Reload: the keys were shown once; the portal says so and offers
	// new ones. Never a failure page, never the secrets.
	c.do("reload", chromedp.Reload())
	c.waitFor("the portal after reload", `!!document.querySelector(".cards")`)
	page := eval[string](c, `document.body.innerText`)
	if !strings.Contains(page, "Those credentials were shown once") || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") || strings.Contains(page, "failed") {
		c.fail("after reload:\n%s", page)
	}
	if c.path() != strings.TrimPrefix(credsURL, ts.URL) {
		c.fail("reload moved to %s", c.path())
	}

	// Back: the portal the credentials were asked from, working.
	c.do("back", chromedp.NavigateBack())
	c.waitFor("the portal after Back", `location.pathname === "/portal" && !!document.querySelector(".cards")`)
	if page := eval[string](c, `document.body.innerText`); strings.Contains(page, "AWS_SECRET_ACCESS_KEY") || strings.Contains(page, "failed") {
		c.fail("after Back:\n%s", page)
	}

	// New credentials without a password: Admin this time.
	c.do("get Admin's credentials", chromedp.Click(chromedp.CSS(`button[name=only][value$=":role/Admin"]`)))
	c.waitFor("the new credentials page", `location.pathname.startsWith("/portal/credentials/") && !!document.querySelector("#c0-sh-code")`)
	second := eval[string](c, `document.querySelector("#c0-sh-code").textContent`)
	if second == "" || second == first || !strings.Contains(eval[string](c, `document.querySelector(".creds h2").textContent`), "Admin") {
		c.fail("second credentials %q", second)
	}

	// Sign out: the page says so; the portal is closed (the sign-in form).
	c.do("sign out", chromedp.Click(chromedp.CSS(`header form.signout button`)))
	c.waitFor("the signed-out page", `location.pathname === "/logout"`)
	if h := eval[string](c, `document.querySelector("h1").textContent`); h != "You are signed out" {
		c.fail("after sign-out: %q", h)
	}
	// Back to the credentials page: never the keys again (the page is
	// fetched anew, or restored from the back-forward cache with the keys
	// wiped when it was left).
	c.do("back to the credentials", chromedp.NavigateBack())
	c.waitFor("the page Back leads to", `document.readyState === "complete"`)
	if page := eval[string](c, `document.body.innerText`); strings.Contains(page, "AWS_SECRET_ACCESS_KEY=") || strings.Contains(page, strings.SplitN(second, "\n", 2)[0]) {
		c.fail("Back after sign-out shows the keys:\n%s", page)
	}
	c.do("open the portal", chromedp.Navigate(ts.URL+"/portal"))
	c.waitFor("the sign-in form", `location.pathname === "/login/demo" && !!document.querySelector("#password")`)
	if n := eval[int](c, `document.querySelectorAll(".cards, [data-secret]").length`); n != 0 {
		c.fail("the portal is still open")
	}
	c.assertCleanConsole()
}

// grantClipboard lets pages of origin read and write the clipboard (a
// person's browser asks them; a test cannot click the prompt).
func grantClipboard(origin string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
				Setting:    cdpbrowser.PermissionSettingGranted,
				Origin:     origin,
			})
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	})
}

// TestPortalWithoutJavaScript: with scripts off, the pages still work: sign
// in, get credentials, every format listed one after another with its
// heading and the keys selectable, the expiry in UTC, sign out.
func TestPortalWithoutJavaScript(t *testing.T) {
	ts := startServer(t, configs.Demo)
	c := newPortalBrowser(t, 1280, 900)
	c.do("turn scripts off", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	c.signInAs(ts.URL, "alice", "alice")
	c.do("get Developer's credentials", chromedp.Click(chromedp.CSS(`button[name=only]`)))
	c.waitFor("the credentials page", `location.pathname.startsWith("/portal/credentials/")`)
	// Scripts are off for the page, not for the test's own evaluation.
	got := eval[map[string]any](c, `({
		titles: [...document.querySelectorAll(".panel-title")].filter(h => h.getClientRects().length > 0 && h.getBoundingClientRect().width > 1).map(h => h.textContent),
		visible: [...document.querySelectorAll(".panel")].filter(p => !p.hidden && p.getClientRects().length > 0).length,
		tabs: document.querySelectorAll("[role=tab]").length,
		copy: [...document.querySelectorAll("button.copy")].filter(b => !b.hidden).length,
		bash: document.querySelector("#c0-sh-code").textContent,
		expiry: document.querySelector(".creds time").textContent})`)
	if fmt.Sprint(got["titles"]) != "[bash / zsh fish PowerShell ~/.aws/credentials idbroker login]" || got["visible"] != float64(5) || got["tabs"] != float64(0) || got["copy"] != float64(0) {
		c.fail("without scripts: %v", got)
	}
	if !strings.HasPrefix(got["bash"].(string), "export AWS_ACCESS_KEY_ID=ASIA") || !strings.HasSuffix(got["expiry"].(string), "UTC") {
		c.fail("without scripts: %v", got)
	}
	c.do("sign out", chromedp.Click(chromedp.CSS(`header form.signout button`)))
	c.waitFor("the signed-out page", `location.pathname === "/logout" && document.querySelector("h1").textContent === "You are signed out"`)
	c.assertCleanConsole()
}
