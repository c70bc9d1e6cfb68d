package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// portalBrowser drives Debian's chromium, headless, through chromedp: one browser
// and one tab per test, every console message kept, and a screenshot saved
// (and named in the failure) when a step fails.
type portalBrowser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// findChromium finds chromium: a test needing it fails under CI=true when it
// is missing (make test installs it) and skips loudly otherwise.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed: run scripts/install-test-deps.sh as root (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIP: " + msg)
	return ""
}

// newPortalBrowser starts a browser with a window of width×height CSS pixels.
func newPortalBrowser(t *testing.T, width, height int) *portalBrowser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoSandbox,
		chromedp.Flag("headless", "new"),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	c := &portalBrowser{t: t, ctx: ctx}
	// The first call starts the browser and binds it to its context: the
	// test's, without a timeout (each later step has one).
	if err := chromedp.Do(ctx, c.viewport(width, height)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.console = append(c.console, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// viewport sets the page's width and height; under 500 px wide it is a
// phone's (mobile, touch, device scale 2).
func (c *portalBrowser) viewport(width, height int) chromedp.Action[chromedp.Void] {
	if width < 500 {
		return chromedp.EmulateViewport(int64(width), int64(height), chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return chromedp.EmulateViewport(int64(width), int64(height))
}

// do runs actions; a failure saves a screenshot and ends the test.
func (c *portalBrowser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.fail("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](c *portalBrowser, expr string) T {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil {
		c.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it holds (the page has loaded
// after a navigation, say) or a generous deadline passes.
func (c *portalBrowser) waitFor(what, predicate string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("document.readyState === 'complete' && ("+predicate+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			c.fail("waiting for %s (%s): last error %v", what, predicate, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// path is the page's location path.
func (c *portalBrowser) path() string {
	c.t.Helper()
	return eval[string](c, "location.pathname")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// fail saves a full-page screenshot where it outlives the test and ends the
// test, naming it.
func (c *portalBrowser) fail(format string, a ...any) {
	c.t.Helper()
	msg := fmt.Sprintf(format, a...)
	c.t.Fatalf("%s\n(screenshot: %s; console: %s)", msg, c.screenshot("failure"), c.consoleText())
}

// screenshot writes a full-page PNG into a directory of its own under the
// system's temporary directory and returns its path (or why not).
func (c *portalBrowser) screenshot(name string) string {
	dir, err := os.MkdirTemp("", "idbroker-"+unsafeName.ReplaceAllString(c.t.Name(), "_")+"-")
	if err != nil {
		return "none: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "none: " + err.Error()
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		return "none: " + err.Error()
	}
	return p
}

// consoleText is every console message so far, one a line.
func (c *portalBrowser) consoleText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, m := range c.console {
		fmt.Fprintf(&b, "\n  %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
	}
	if b.Len() == 0 {
		return "empty"
	}
	return b.String()
}

// assertCleanConsole fails on any error, warning or exception the pages
// logged: a CSP violation ("Refused to …"), a failed load, a script error.
// The pages at errorPages answer with an error status on purpose: the
// browser's note of that status is expected.
func (c *portalBrowser) assertCleanConsole(errorPages ...string) {
	c.t.Helper()
	c.mu.Lock()
	var bad []string
	for _, m := range c.console {
		if slices.Contains(errorPages, m.URL) && strings.HasPrefix(m.Text, "Failed to load resource: the server responded with a status of 4") {
			continue
		}
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
			bad = append(bad, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
		}
	}
	c.mu.Unlock()
	if len(bad) > 0 {
		c.fail("the console has errors:\n  %s", strings.Join(bad, "\n  "))
	}
}
