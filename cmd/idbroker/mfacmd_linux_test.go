package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/idbroker/idbroker/internal/cli"
)

// idbroker mfa enroll as a person runs it, in a real terminal, against a
// minimal server of the MFA API's contract (POST /api/v1/mfa/totp and
// /confirm with the session's bearer token), the session taken from the
// cache idbroker login writes.

const (
	standInSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	standInToken  = "standin-session.token-8d1c5f0a2b"
	standInCode   = "493817"
)

var standInRecovery = []string{"rc01-aaaa", "rc02-bbbb", "rc03-cccc", "rc04-dddd", "rc05-eeee",
	"rc06-ffff", "rc07-gggg", "rc08-hhhh", "rc09-iiii", "rc10-jjjj"}

// standInMFA serves the enrolment's two calls: the secret, then the
// recovery codes for standInCode.
func standInMFA(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	bearer := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer "+standInToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":{"code":"InvalidSession","message":"the session token is not valid"}}`)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /api/v1/mfa/totp", func(w http.ResponseWriter, r *http.Request) {
		if !bearer(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"secret": standInSecret,
			"otpauth_uri": "otpauth://totp/idbroker:carol?algorithm=SHA1&digits=6&issuer=idbroker&period=30&secret=" + standInSecret})
	})
	mux.HandleFunc("POST /api/v1/mfa/totp/confirm", func(w http.ResponseWriter, r *http.Request) {
		if !bearer(w, r) {
			return
		}
		var req struct{ Code string }
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil || req.Code != standInCode {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":{"code":"InvalidMFACode","message":"the code is wrong or was used already"}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"recovery_codes": standInRecovery})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// signedInAt writes the cached session idbroker login would leave.
func (h *cliHome) signedInAt(t *testing.T, base, user, token string) {
	t.Helper()
	c, err := cli.OpenCache(h.cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := c.SaveSession(&cli.CachedSession{BrokerURL: base, Provider: "demo", User: user, SessionID: "standin",
		Token: token, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// TestMFAEnrollPrompt: the QR code and the otpauth URI are shown, the code
// is asked without echo, and the recovery codes are printed once.
func TestMFAEnrollPrompt(t *testing.T) {
	bin := buildIdbroker(t)
	srv := standInMFA(t)
	home := newCLIHome(t, bin)
	home.signedInAt(t, srv.URL, "carol", standInToken)

	cmd := exec.Command(bin, "mfa", "enroll", "--url", srv.URL)
	cmd.Env = home.env("TERM=dumb")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 160})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	screen := &ptyScreen{}
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(screen, tty); close(copied) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	at := screen.waitFor(t, 0, "Scan this QR code")
	at = screen.waitFor(t, at, "█")
	at = screen.waitFor(t, at, "otpauth://totp/idbroker:carol?")
	at = screen.waitFor(t, at, "Code from the app: ")
	if _, err := tty.Write([]byte(standInCode + "\r")); err != nil {
		t.Fatal(err)
	}
	at = screen.waitFor(t, at, "Recovery codes")
	screen.waitFor(t, at, standInRecovery[9])
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("mfa enroll: %v\n%s", err, screen.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("mfa enroll did not end:\n%s", screen.String())
	}
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	out := screen.String()
	if strings.Contains(out, standInCode) {
		t.Errorf("the code was echoed:\n%s", out)
	}
	for _, rc := range standInRecovery {
		if strings.Count(out, rc) != 1 {
			t.Errorf("recovery code %s shown %d times:\n%s", rc, strings.Count(out, rc), out)
		}
	}
}

// TestMFAEnrollRefusals: without a terminal the code is the first line of
// stdin; a wrong code, no session and an ended session are said in words.
func TestMFAEnrollRefusals(t *testing.T) {
	bin := buildIdbroker(t)
	srv := standInMFA(t)
	home := newCLIHome(t, bin)
	if code, _, errOut := home.run("", "mfa", "enroll", "--url", srv.URL); code != 1 || !strings.Contains(errOut, "not signed in to "+srv.URL) {
		t.Errorf("no session: %d %s", code, errOut)
	}
	home.signedInAt(t, srv.URL, "carol", standInToken)
	if code, out, errOut := home.run("000000\n", "mfa", "enroll", "--url", srv.URL); code != 1 || !strings.Contains(errOut, "InvalidMFACode") || strings.Contains(out, "rc01") {
		t.Errorf("wrong code: %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := home.run(standInCode+"\n", "mfa", "enroll")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("  %s\n", standInRecovery[0])) {
		t.Errorf("code on stdin: %d\n%s%s", code, out, errOut)
	}
	home.signedInAt(t, srv.URL, "carol", "ended-session.token-00000000")
	if code, _, errOut := home.run(standInCode+"\n", "mfa", "enroll", "--url", srv.URL); code != 1 || !strings.Contains(errOut, "has ended: run idbroker login") {
		t.Errorf("ended session: %d %s", code, errOut)
	}
	if code, _, errOut := home.run("", "mfa", "enroll", "--profile", "Nope"); code != 1 || !strings.Contains(errOut, "no profile Nope") {
		t.Errorf("unknown profile: %d %s", code, errOut)
	}
}
