package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/configs"
)

// The CLI's two browser flows in Debian's chromium, driven with chromedp:
// what a cookie-keeping HTTP client cannot judge is whether a real browser
// follows the confirmation's redirect to the loopback listener (CSP
// form-action governs redirects after a form post) and renders the pages
// without a policy violation.

const chromiumPath = "/usr/bin/chromium"

// chrome is a headless chromium tab; problems collects what the browser
// reported: console errors and warnings, exceptions, policy violations.
type chrome struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newChrome(t *testing.T) *chrome {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: scripts/install-test-deps.sh installs chromium", chromiumPath)
		}
		t.Skipf("SKIP: %s is not installed (apt-get install chromium): the real-browser tests cannot run", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Flag("headless", "new"), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	c := &chrome{ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() || strings.Contains(m.Text, "Refused")) && !strings.HasSuffix(m.URL, "/favicon.ico") {
				c.mu.Lock()
				c.problems = append(c.problems, fmt.Sprintf("%s %s: %s (%s)", m.Source, m.Type, m.Text, m.URL))
				c.mu.Unlock()
			}
		}
	}()
	return c
}

// do runs steps, with a screenshot and what the browser reported when one
// fails.
func (c *chrome) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		if shot, _ := chromedp.Run(c.ctx, chromedp.FullScreenshot(80)); len(shot) > 0 {
			path := filepath.Join(t.TempDir(), "failure.jpg")
			_ = os.WriteFile(path, shot, 0o600)
			t.Logf("screenshot: %s", path)
		}
		t.Fatalf("%s: %v (browser reported: %v)", what, err, c.reported())
	}
}

// text is the text of the page's body.
func (c *chrome) text(t *testing.T) string {
	t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("page text: %v", err)
	}
	return s
}

func (c *chrome) reported() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.problems...)
}

// signInSteps fill the demo's password form the browser is on.
func signInSteps(user string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), user),
		chromedp.Click(chromedp.CSS(`form.login button[type=submit]`)),
	)
}

// TestOAuthBrowserFlows: the loopback login (sign-in and back, Allow, the
// redirect reaching the listener) and the device login (the complete URI,
// sign-in and back, the code, Approve) in a real browser, without a
// console error or a policy violation.
func TestOAuthBrowserFlows(t *testing.T) {
	c := newChrome(t)
	ts := startServer(t, configs.Demo)
	cli := newCLIListener(t)
	conf := cliConfig(ts.URL, cli.url)

	verifier := oauth2.GenerateVerifier()
	c.do(t, "loopback sign-in",
		chromedp.Navigate(conf.AuthCodeURL("browser-state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("provider", "demo"))),
		signInSteps("alice"),
		chromedp.WaitVisible(chromedp.CSS(`button[value=allow]`)),
	)
	if text := c.text(t); !strings.Contains(text, "Allow the idbroker command line on this computer to use your sign-in as alice?") {
		t.Errorf("confirmation page:\n%s", text)
	}
	c.do(t, "allow", chromedp.Click(chromedp.CSS(`button[value=allow]`)))
	var q url.Values
	select {
	case q = <-cli.got:
	case <-time.After(15 * time.Second):
		t.Fatalf("the browser never came back to the loopback listener (browser reported: %v)", c.reported())
	}
	if q.Get("state") != "browser-state" || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	c.do(t, "the listener's page", chromedp.WaitNotPresent(chromedp.CSS(`button[value=allow]`)))
	if text := c.text(t); !strings.Contains(text, "you can close this tab") {
		t.Errorf("after Allow the browser shows:\n%s", text)
	}
	tok, err := conf.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if status, out, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", tok.AccessToken, "", ""); status != http.StatusOK || out["user"] != "alice" {
		t.Fatalf("current: %d %v", status, out)
	}
	if p := c.reported(); len(p) > 0 {
		t.Errorf("the browser reported: %v", p)
	}

	// The device flow in a fresh browser profile: sign-in page (the demo's
	// only provider's), then back.
	c = newChrome(t)
	da, err := conf.DeviceAuth(context.Background(), oauth2.SetAuthURLParam("device_name", "pipeline-42"))
	if err != nil {
		t.Fatal(err)
	}
	c.do(t, "device sign-in",
		chromedp.Navigate(da.VerificationURIComplete),
		signInSteps("bob"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=user_code]`)),
	)
	if code, err := chromedp.Run(c.ctx, chromedp.Value(chromedp.CSS(`input[name=user_code]`))); err != nil || code != da.UserCode {
		t.Errorf("code filled in: %q %v", code, err)
	}
	c.do(t, "code", chromedp.Click(chromedp.CSS(`form.login button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`button[value=approve]`)))
	if text := c.text(t); !strings.Contains(text, "pipeline-42") || !strings.Contains(text, da.UserCode) {
		t.Errorf("approval page:\n%s", text)
	}
	c.do(t, "approve", chromedp.Click(chromedp.CSS(`button[value=approve]`)), chromedp.WaitNotPresent(chromedp.CSS(`button[value=approve]`)))
	if text := c.text(t); !strings.Contains(text, "is signed in as bob") {
		t.Errorf("after Approve:\n%s", text)
	}
	if status, out := pollDevice(t, ts.URL, da.DeviceCode); status != http.StatusOK || out["token_type"] != "Bearer" {
		t.Errorf("poll after Approve: %d %v", status, out)
	}
	if p := c.reported(); len(p) > 0 {
		t.Errorf("the browser reported: %v", p)
	}
}
