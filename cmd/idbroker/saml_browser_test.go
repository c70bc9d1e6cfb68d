package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSAMLPostBindingInBrowser signs in through a SAML IdP over the
// HTTP-POST binding in Debian's chromium: the broker's self-submitting
// page (its script allowed by hash, nothing else: no inline style, no
// other origin) carries the AuthnRequest to crewjam's IdP, whose answer is
// posted back to the ACS, and the browser lands on the portal with both
// roles, without a CSP violation or any other console error.
func TestSAMLPostBindingInBrowser(t *testing.T) {
	env := startSAMLBroker(t)
	c := newPortalBrowser(t, 1280, 900)
	before := env.corp.SSORequests()
	c.do("start the corp sign-in", chromedp.Navigate(env.ts.URL+"/login/corp"))
	c.waitFor("the portal", `location.origin === "`+env.ts.URL+`" && location.pathname === "/portal" && !!document.querySelector(".cards")`)
	if env.corp.SSORequests() != before+1 {
		c.fail("the IdP saw %d AuthnRequests, want 1", env.corp.SSORequests()-before)
	}
	if n := eval[int](c, `document.querySelectorAll(".cards input[type=checkbox], .cards .card").length`); n == 0 {
		c.fail("the portal shows no role")
	}
	c.assertCleanConsole()
}
