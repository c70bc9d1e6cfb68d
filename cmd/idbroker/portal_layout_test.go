package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The pages' layout, read in the browser (getBoundingClientRect and
// computed styles, not the HTML): at 1280 and 375 px wide nothing overflows
// the viewport, a role's checkbox and its name share a row, text meets WCAG
// AA contrast, every control has a name, and the keyboard reaches every
// control with a visible focus. With IDBROKER_SCREENSHOTS=DIR the same walk
// saves each page to DIR/<page>-<width>.png (the README's pictures).

// brandedDemo is the demo configuration with a portal block (title, logo,
// help link, banner).
func brandedDemo(t *testing.T) []byte {
	t.Helper()
	logo := filepath.Join(t.TempDir(), "logo.svg")
	svg := `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#f0b429"/>` +
		`<path d="M18 44V20h8l6 12 6-12h8v24h-7V32l-7 12-7-12v12z" fill="#18202f"/></svg>`
	if err := os.WriteFile(logo, []byte(svg), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := withPortal(`portal:
  title: Example Corp AWS access
  logo_file: ` + logo + `
  help_url: https://wiki.example.com/aws-access
  banner: |
    Authorised use only. Sign-ins and credentials are logged and reviewed.
`)
	// The commands on the pages name the demo's URL (as in the README's
	// pictures); every link of the pages is relative.
	const listen = "server:\n  listen: 127.0.0.1:8080\n"
	if !bytes.Contains(cfg, []byte(listen)) {
		t.Fatal("the demo configuration has changed its server block")
	}
	return bytes.Replace(cfg, []byte(listen), []byte(listen+"  public_url: http://127.0.0.1:8080\n"), 1)
}

// portalPage is one page of the walk: how to get there from the previous
// one, and what must hold there.
type portalPage struct {
	name  string
	reach func(c *portalBrowser, base string)
	check func(c *portalBrowser)
}

func portalWalk() []portalPage {
	return []portalPage{
		{"sign-in", func(c *portalBrowser, base string) {
			c.do("open the start page", chromedp.Navigate(base+"/"))
			c.waitFor("the sign-in form", `!!document.querySelector("#password")`)
		}, nil},
		{"portal", func(c *portalBrowser, base string) {
			c.do("sign in",
				chromedp.SendKeys(chromedp.CSS("#username"), "bob"),
				chromedp.SendKeys(chromedp.CSS("#password"), "bob"),
				chromedp.Click(chromedp.CSS(`form button[type=submit]`)),
			)
			c.waitFor("the portal", `!!document.querySelector(".cards")`)
		}, (*portalBrowser).assertSelectorsShareRow},
		{"credentials", func(c *portalBrowser, base string) {
			c.do("get Developer's credentials", chromedp.Click(chromedp.CSS(`button[name=only][value$=":role/Developer"]`)))
			c.waitFor("the credentials page", `!!document.querySelector("#c0-sh-code")`)
		}, nil},
		{"shown-once", func(c *portalBrowser, base string) {
			c.do("reload", chromedp.Reload())
			c.waitFor("the portal with its notice", `!!document.querySelector(".notice")`)
		}, nil},
		{"mfa", func(c *portalBrowser, base string) {
			c.do("open the MFA page", chromedp.Navigate(base+"/portal/mfa"))
			c.waitFor("the MFA page", `!!document.querySelector("#mfa-enrol")`)
		}, nil},
		{"mfa-enrol", func(c *portalBrowser, base string) {
			c.do("set up an authenticator app", chromedp.Click(chromedp.CSS(`#mfa-enrol`)))
			c.waitFor("the QR code and the key", `!!document.querySelector("#mfa-qr") && document.querySelector("#mfa-qr").complete && document.querySelector("#mfa-qr").naturalWidth > 0 && !!document.querySelector("#mfa-secret")`)
		}, nil},
		{"authorize", func(c *portalBrowser, base string) {
			// The confirmation of `idbroker login` (loopback): no listener is
			// needed to look at it.
			q := url.Values{"response_type": {"code"}, "client_id": {"idbroker-cli"}, "redirect_uri": {"http://127.0.0.1:9/callback"},
				"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}, "state": {"layout"}}
			c.do("open the confirmation", chromedp.Navigate(base+"/oauth2/authorize?"+q.Encode()))
			c.waitFor("the confirmation", `!!document.querySelector("button[value=allow]")`)
		}, nil},
		{"device-code", func(c *portalBrowser, base string) {
			// `idbroker login --device`: the code entry, filled from the link.
			resp, err := http.PostForm(base+"/oauth2/device_authorization", url.Values{"client_id": {"idbroker-cli"}, "device_name": {"build-host-7"}})
			if err != nil {
				c.fail("device authorization: %v", err)
			}
			defer resp.Body.Close()
			var da struct {
				UserCode string `json:"user_code"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&da); err != nil || da.UserCode == "" {
				c.fail("device authorization: %d %v", resp.StatusCode, err)
			}
			// verification_uri_complete names the public URL, not this
			// test's listener.
			c.do("open the device page", chromedp.Navigate(base+"/device?"+url.Values{"user_code": {da.UserCode}}.Encode()))
			c.waitFor("the code entry", `!!document.querySelector("input[name=user_code]") && document.querySelector("input[name=user_code]").value !== ""`)
		}, nil},
		{"device", func(c *portalBrowser, base string) {
			c.do("continue", chromedp.Click(chromedp.CSS(`form.login button[type=submit]`)))
			c.waitFor("the approval page", `!!document.querySelector("button[value=approve]")`)
		}, nil},
		{"device-approved", func(c *portalBrowser, base string) {
			c.do("approve", chromedp.Click(chromedp.CSS(`button[value=approve]`)))
			c.waitFor("the approved page", `!!document.querySelector(".success")`)
		}, nil},
		{"error", func(c *portalBrowser, base string) {
			c.do("open an unknown sign-in", chromedp.Navigate(base+"/login/nope"))
			c.waitFor("the error page", `!!document.querySelector("h1")`)
		}, nil},
		{"signed-out", func(c *portalBrowser, base string) {
			c.do("open the portal", chromedp.Navigate(base+"/portal"))
			c.waitFor("the portal", `!!document.querySelector(".cards")`)
			c.do("sign out", chromedp.Click(chromedp.CSS(`header form.signout button`)))
			c.waitFor("the signed-out page", `location.pathname === "/logout"`)
		}, nil},
	}
}

func TestPortalLayout(t *testing.T) {
	ts := startServer(t, brandedDemo(t))
	shots := os.Getenv("IDBROKER_SCREENSHOTS")
	for _, size := range []struct{ w, h int }{{1280, 900}, {375, 812}} {
		t.Run(fmt.Sprint(size.w), func(t *testing.T) {
			c := newPortalBrowser(t, size.w, size.h)
			for _, p := range portalWalk() {
				p.reach(c, ts.URL)
				c.assertNoOverflow(p.name)
				c.assertCommandWordsWhole(p.name)
				c.assertContrast(p.name)
				c.assertNamedControls(p.name)
				c.assertKeyboardFocus(p.name)
				if p.check != nil {
					p.check(c)
				}
				if shots != "" {
					c.saveScreenshot(filepath.Join(shots, fmt.Sprintf("%s-%d.png", p.name, size.w)))
				}
			}
			c.assertCleanConsole(ts.URL + "/login/nope")
		})
	}
}

// assertNoOverflow: no visible element reaches past the viewport's sides,
// and the page does not scroll sideways.
func (c *portalBrowser) assertNoOverflow(page string) {
	c.t.Helper()
	bad := eval[[]string](c, `(() => {
		const w = document.documentElement.clientWidth, bad = [];
		if (document.documentElement.scrollWidth > w) bad.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " > " + w);
		for (const el of document.body.querySelectorAll("*")) {
			if (el.closest(".skip, .visually-hidden, [hidden]")) continue;
			const r = el.getBoundingClientRect();
			if (r.width === 0 || r.height === 0) continue;
			if (r.right > w + 0.5 || r.left < -0.5) bad.push(el.tagName.toLowerCase() + "." + el.className + " spans " + Math.round(r.left) + ".." + Math.round(r.right));
		}
		return bad;
	})()`)
	if len(bad) > 0 {
		c.fail("%s at %d px: overflow:\n  %s", page, eval[int](c, "innerWidth"), strings.Join(bad, "\n  "))
	}
}

// assertCommandWordsWhole: a command's name and flags (".nw" in a code
// block) sit on one line each: a narrow screen breaks the command between
// words, never "--" from "endpoint-url".
func (c *portalBrowser) assertCommandWordsWhole(page string) {
	c.t.Helper()
	if eval[bool](c, `!!document.querySelector("#check-code") && !document.querySelector("#check-code .nw")`) {
		c.fail("%s: the check command's flags are not kept whole", page)
	}
	bad := eval[[]string](c, `[...document.querySelectorAll("pre.code .nw")]
		.filter(el => el.getClientRects().length > 1).map(el => el.textContent)`)
	if len(bad) > 0 {
		c.fail("%s at %d px: broken inside: %q", page, eval[int](c, "innerWidth"), bad)
	}
}

// assertSelectorsShareRow: each role's checkbox sits left of its name, on
// the name's row.
func (c *portalBrowser) assertSelectorsShareRow() {
	c.t.Helper()
	rows := eval[[]map[string]float64](c, `[...document.querySelectorAll(".card.role")].map(card => {
		const box = card.querySelector("input.role-select").getBoundingClientRect();
		const name = card.querySelector(".role-name label").getBoundingClientRect();
		return {boxTop: box.top, boxBottom: box.bottom, boxRight: box.right, nameTop: name.top, nameBottom: name.bottom, nameLeft: name.left};
	})`)
	if len(rows) != 2 {
		c.fail("%d role cards", len(rows))
	}
	for i, r := range rows {
		boxMid, nameMid := (r["boxTop"]+r["boxBottom"])/2, (r["nameTop"]+r["nameBottom"])/2
		if r["boxRight"] > r["nameLeft"] || boxMid < r["nameTop"] || boxMid > r["nameBottom"] || nameMid < r["boxTop"]-4 || nameMid > r["boxBottom"]+4 {
			c.fail("role %d: the checkbox %v is not on its name's row", i, r)
		}
	}
}

// assertContrast: every visible text meets WCAG AA against the background
// it is drawn on (4.5:1, or 3:1 for large text).
func (c *portalBrowser) assertContrast(page string) {
	c.t.Helper()
	bad := eval[[]string](c, `(() => {
		const parse = s => { const p = s.match(/[\d.]+/g).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
		const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		const lum = c => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
		const back = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c.a > 0) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
		const bad = [], walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		while (walk.nextNode()) {
			const text = walk.currentNode.textContent.trim(), el = walk.currentNode.parentElement;
			if (!text || el.closest(".skip, .visually-hidden, [hidden], script")) continue;
			const cs = getComputedStyle(el);
			if (cs.display === "none" || cs.visibility === "hidden" || el.getClientRects().length === 0 || el.getBoundingClientRect().width <= 1) continue;
			const l1 = lum(parse(cs.color)), l2 = lum(back(el));
			const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
			const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
			const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
			if (ratio < need) bad.push(JSON.stringify(text.slice(0, 40)) + " " + ratio.toFixed(2) + " < " + need);
		}
		return bad;
	})()`)
	if len(bad) > 0 {
		c.fail("%s: contrast below WCAG AA:\n  %s", page, strings.Join(bad, "\n  "))
	}
}

// assertNamedControls: every input, select and button has a name a screen
// reader reads (its label, or its text).
func (c *portalBrowser) assertNamedControls(page string) {
	c.t.Helper()
	bad := eval[[]string](c, `[...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
		.filter(el => !el.closest("[hidden]"))
		.filter(el => !([...(el.labels || [])].map(l => l.textContent).join("") + (el.getAttribute("aria-label") || "") + (el.tagName === "BUTTON" ? el.textContent : "")).trim())
		.map(el => el.outerHTML.slice(0, 100))`)
	if len(bad) > 0 {
		c.fail("%s: controls without a name:\n  %s", page, strings.Join(bad, "\n  "))
	}
}

// assertKeyboardFocus tabs through the page: every visible link and
// control is reached, each with a visible focus ring.
func (c *portalBrowser) assertKeyboardFocus(page string) {
	c.t.Helper()
	want := eval[int](c, `(() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);
		const all = [...document.querySelectorAll("a[href], button, input:not([type=hidden]), select")].filter(el => !el.closest("[hidden]") && el.tabIndex >= 0 && el.getClientRects().length > 0);
		all.forEach((el, i) => el.dataset.focusIndex = i);
		return all.length; })()`)
	seen := map[string]bool{}
	for i := 0; i < want+3; i++ {
		c.do("press Tab", chromedp.KeyEvent(kb.Tab))
		f := eval[map[string]string](c, `(() => { const el = document.activeElement; if (!el || el === document.body) return {id: ""};
			const cs = getComputedStyle(el);
			return {id: el.dataset.focusIndex + ": " + el.tagName.toLowerCase() + " " + (el.getAttribute("href") || el.name || "") + " " + el.textContent.trim().slice(0, 20),
				outline: cs.outlineStyle + " " + cs.outlineWidth}; })()`)
		if f["id"] == "" {
			continue
		}
		if strings.HasPrefix(f["outline"], "none") || strings.HasSuffix(f["outline"], " 0px") {
			c.fail("%s: %s has no visible focus (%s)", page, f["id"], f["outline"])
		}
		seen[f["id"]] = true
	}
	if len(seen) < want {
		c.fail("%s: the keyboard reached %d of %d controls: %v", page, len(seen), want, seen)
	}
}

// saveScreenshot writes the whole page to path.
func (c *portalBrowser) saveScreenshot(path string) {
	c.t.Helper()
	c.do("settle", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0)`))
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.fail("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}
