package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// loginMFAConfig: MFA off at sign-in, but the role Prod needs it.
const loginMFAConfig = `
account_id: "123456789012"
region: us-east-1
keys: {dir: ""}
store: {type: memory}
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: developers, when: {groups_any: [developers]}, roles: [Developer, Prod]}
roles:
  - name: Developer
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}]
  - name: Prod
    require_mfa: true
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:*", Resource: "*"}]}]
`

// TestLoginStepsUpForAnMFARole: idbroker login for a role that needs MFA,
// from a sign-in that did not ask for it, asks for a code at the terminal
// (without echo) and steps the session up; the profile then gives the
// role's keys to the AWS CLI without asking again. Without a terminal it
// says how to get MFA.
func TestLoginStepsUpForAnMFARole(t *testing.T) {
	bin := buildIdbroker(t)
	ts := startServer(t, []byte(loginMFAConfig))
	token, _ := newSession(t, ts.URL, "demo", "alice", "alice")
	app, _ := enrolByAPI(t, ts.URL, token, nil)

	home := newCLIHome(t, bin)
	if code, _, errOut := home.run("alice\n", "login", "--url", ts.URL, "--provider", "demo", "--username", "alice", "--password-stdin", "--role", "Prod", "--profile", "prod-nomfa"); code != 0 || !strings.Contains(errOut, "needs multi-factor authentication, which this session has not") {
		t.Fatalf("login without a terminal: exit %d\n%s", code, errOut)
	}

	login := exec.Command(bin, "login", "--url", ts.URL, "--provider", "demo", "--username", "alice", "--role", "Prod", "--profile", "prod")
	login.Env = home.env("TERM=dumb")
	term := startPTY(t, login)
	at := term.waitFor(t, 0, "Password for alice: ")
	term.typeLine(t, "alice")
	at = term.waitFor(t, at, "needs multi-factor authentication.")
	at = term.waitFor(t, at, "MFA code from your authenticator app (or a recovery code): ")
	term.typeLine(t, wrongCode(t, app))
	at = term.waitFor(t, at, "That code is wrong or was used already.")
	code := app.code(t)
	term.typeLine(t, code)
	if err := term.wait(t); err != nil {
		t.Fatalf("idbroker login: %v\n%s", err, term.String())
	}
	if strings.Contains(term.String()[at:], code) {
		t.Errorf("the code was echoed:\n%s", term.String())
	}
	if arn := home.callerARN(ts.URL, "prod"); !strings.HasSuffix(arn, ":assumed-role/Prod/alice") {
		t.Errorf("the profile's caller: %s", arn)
	}
}

// wrongCode is six digits that are none of the codes the broker would
// accept now (the steps around the present).
func wrongCode(t *testing.T, app *authenticator) string {
	t.Helper()
	now := time.Now()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-60 * time.Second, -30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		valid[app.at(t, now.Add(d))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444", "555555"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}
