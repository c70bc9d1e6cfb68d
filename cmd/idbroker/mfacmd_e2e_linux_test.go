package main

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/pquerna/otp/totp"
)

// idbroker mfa enroll and idbroker mfa reset against the real server: a
// person signed in with idbroker login enrols in a real terminal with a
// code computed from the secret the terminal showed, signs in with a
// recovery code, and the credential report says so; an administrator
// resets the enrolment with the built command.

const mfaCLIConfig = `
account_id: "123456789012"
region: us-east-1
keys: {dir: ""}
store: {type: memory}
providers:
  - name: demo
    type: static
    mfa: optional
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
      - {username: bob, password_hash: "$2a$10$ZYkh3xcRWKVhyMZNErTSr.KpqR4duZOuHdI3ODMpQzNt4qzkbK/UK", groups: [admins]}
rules:
  - {name: developers, when: {groups_any: [developers]}, roles: [Developer]}
  - {name: admins, when: {groups_any: [admins]}, roles: [Admin]}
roles:
  - name: Developer
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}]
  - name: Admin
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["idbroker:ResetMFA", "idbroker:GetCredentialReport"], Resource: "*"}]}]
admin: {roles: [Admin]}
`

// personRow is alice's row of the credential report (JSON).
func personRow(t *testing.T, ac *adminClient, user string) map[string]any {
	t.Helper()
	body, err := ac.send(context.Background(), "GET", "/api/v1/admin/reports/credentials", nil, nil, "application/json", "report", "idbroker:GetCredentialReport")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct{ People []map[string]any }
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.People {
		if p["user"] == user {
			return p
		}
	}
	t.Fatalf("no row for %s: %s", user, body)
	return nil
}

func TestMFAEnrollAndResetEndToEnd(t *testing.T) {
	bin := buildIdbroker(t)
	ts := startServer(t, []byte(mfaCLIConfig))
	home := newCLIHome(t, bin)
	home.login(ts.URL, "alice", "alice", "--provider", "demo", "--role", "Developer")

	cmd := exec.Command(bin, "mfa", "enroll", "--url", ts.URL)
	cmd.Env = home.env("TERM=dumb")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	screen := &ptyScreen{}
	go func() { _, _ = io.Copy(screen, tty) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	at := screen.waitFor(t, 0, "█")
	start := screen.waitFor(t, at, "  otpauth://")
	end := screen.waitFor(t, start, "\n")
	uri, err := url.Parse("otpauth://" + strings.TrimSpace(screen.String()[start:end]))
	if err != nil || uri.Query().Get("secret") == "" {
		t.Fatalf("the otpauth URI on the terminal: %v\n%s", err, screen.String())
	}
	secret := uri.Query().Get("secret")
	at = screen.waitFor(t, end, "Code from the app: ")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tty.Write([]byte(code + "\r")); err != nil {
		t.Fatal(err)
	}
	at = screen.waitFor(t, at, "Recovery codes")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("mfa enroll: %v\n%s", err, screen.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("mfa enroll did not end:\n%s", screen.String())
	}
	var recovery []string
	for line := range strings.SplitSeq(screen.String()[at:], "\n") {
		if f := strings.TrimSpace(line); strings.HasPrefix(line, "  ") && f != "" {
			recovery = append(recovery, f)
		}
	}
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes on the terminal:\n%s", len(recovery), screen.String())
	}
	if strings.Contains(screen.String()[end:], code) {
		t.Errorf("the code was echoed:\n%s", screen.String())
	}

	// alice is enrolled now: her next sign-in needs a code; a recovery code does.
	if status, out := sessionWith(t, ts.URL, "demo", "alice", "alice", nil); status != 401 || errCode(out) != "MFARequired" {
		t.Fatalf("sign-in without a code: %d %v", status, out)
	}
	if status, out := sessionWith(t, ts.URL, "demo", "alice", "alice", map[string]any{"recovery_code": recovery[3]}); status != 201 {
		t.Fatalf("sign-in with a recovery code: %d %v", status, out)
	}

	// idbroker login at a terminal asks for the code after the password
	// (without echo), and signs in with it; the profile then gives keys.
	// A code of the next time step: this one was used by the enrolment.
	login := exec.Command(bin, "login", "--url", ts.URL, "--provider", "demo", "--username", "alice", "--role", "Developer", "--profile", "alice-mfa")
	login.Env = home.env("TERM=dumb")
	term := startPTY(t, login)
	lat := term.waitFor(t, 0, "Password for alice: ")
	term.typeLine(t, "alice")
	lat = term.waitFor(t, lat, "MFA code from your authenticator app (or a recovery code): ")
	next, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	term.typeLine(t, next)
	if err := term.wait(t); err != nil {
		t.Fatalf("idbroker login with an MFA code: %v\n%s", err, term.String())
	}
	if strings.Contains(term.String()[lat:], next) || !strings.Contains(term.String(), "Signed in to "+ts.URL+" as alice") {
		t.Fatalf("login's terminal:\n%s", term.String())
	}
	if arn := home.callerARN(ts.URL, "alice-mfa"); !strings.HasSuffix(arn, ":assumed-role/Developer/alice") {
		t.Errorf("the profile's caller: %s", arn)
	}

	admin := oneShot(t, ts.URL, "bob", "bob", "Admin")
	ac := adminAPI(t, ts.URL, admin)
	row := personRow(t, ac, "alice")
	if row["mfa_enrolled"] != true || row["mfa_last_used"] == nil || row["recovery_codes_used"] != float64(1) {
		t.Errorf("alice's row after enrolment: %v", row)
	}

	env := []string{"AWS_ACCESS_KEY_ID=" + admin.id, "AWS_SECRET_ACCESS_KEY=" + admin.secret, "AWS_SESSION_TOKEN=" + admin.token}
	rc, out, errOut := home.exec(exec.Command(bin, "mfa", "reset", "--url", ts.URL, "--user", "Alice", "--provider", "demo"), "", env...)
	if rc != 0 || !strings.Contains(out, "Removed the TOTP enrolment of Alice at demo.") {
		t.Fatalf("idbroker mfa reset: %d\n%s%s", rc, out, errOut)
	}
	rc, out, _ = home.exec(exec.Command(bin, "mfa", "reset", "--url", ts.URL, "--user", "alice"), "", env...)
	if rc != 0 || !strings.Contains(out, "had no TOTP enrolment") {
		t.Errorf("a second reset: %d %s", rc, out)
	}
	if row := personRow(t, ac, "alice"); row["mfa_enrolled"] != false {
		t.Errorf("alice's row after the reset: %v", row)
	}
	// A Developer may not reset.
	dev := oneShot(t, ts.URL, "alice", "alice", "Developer")
	denv := []string{"AWS_ACCESS_KEY_ID=" + dev.id, "AWS_SECRET_ACCESS_KEY=" + dev.secret, "AWS_SESSION_TOKEN=" + dev.token}
	if rc, _, errOut := home.exec(exec.Command(bin, "mfa", "reset", "--url", ts.URL, "--user", "alice"), "", denv...); rc != 1 || !strings.Contains(errOut, "AccessDenied") {
		t.Errorf("a Developer's reset: %d %s", rc, errOut)
	}
}
