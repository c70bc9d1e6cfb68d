package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCLICredentialProcessRefusals: credential-process without a usable
// session prints nothing on stdout, exits 1 and says on stderr what
// happened and what to run: never signed in, after logout, after the
// session was ended at the broker (a revocation), a role the rules no
// longer grant (after a configuration reload), the broker unreachable.
// The AWS CLI passes the words on. login's own refusals are said too.
func TestCLICredentialProcessRefusals(t *testing.T) {
	bin := buildIdbroker(t)
	cfgPath := filepath.Join(t.TempDir(), "idbroker.yaml")
	cfg := cliDemoConfig(t)
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	broker := startBrokerBinary(t, bin, cfgPath)
	base := broker.base
	home := newCLIHome(t, bin)

	refused := func(t *testing.T, profile string, want ...string) {
		t.Helper()
		code, out, errOut := home.run("", "credential-process", "--profile", profile)
		if code != 1 || out != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and nothing on stdout", code, out, errOut)
		}
		for _, w := range want {
			if !strings.Contains(errOut, w) {
				t.Errorf("stderr %q lacks %q", errOut, w)
			}
		}
	}

	t.Run("never signed in", func(t *testing.T) {
		refused(t, "Admin", "idbroker has no sign-in for profile Admin: run `idbroker login --url <broker URL> --profile Admin`")
	})

	t.Run("login refusals", func(t *testing.T) {
		for _, tc := range []struct {
			stdin string
			args  []string
			want  string
		}{
			{"wrong\n", []string{"--username", "carol", "--password-stdin"}, "wrong username or password"},
			{"x\n", []string{"--username", "carol", "--password-stdin", "--provider", "nope"}, `the broker has no provider "nope"; it has: demo`},
			{"", []string{"--provider", "demo"}, "no terminal to ask for the password: pass --username U --password-stdin"},
			{"", []string{"--role", "Nope", "--username", "carol", "--password-stdin"}, "--password-stdin: stdin gave no password"},
		} {
			code, out, errOut := home.run(tc.stdin, append([]string{"login", "--url", base}, tc.args...)...)
			if code != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("login %v: exit %d\n%s%s\nwant %q", tc.args, code, out, errOut, tc.want)
			}
		}
		code, _, errOut := home.run(carolPassword+"\n", "login", "--url", base, "--username", "carol", "--password-stdin", "--role", "Auditor")
		if code != 1 || !strings.Contains(errOut, "role Auditor is not granted to carol; granted: Developer, Admin") {
			t.Errorf("a role not granted: exit %d %s", code, errOut)
		}
		if code, _, errOut := home.run("", "login", "--url", "http://idbroker.example.com"); code != 1 || !strings.Contains(errOut, "plain http to another machine") {
			t.Errorf("plain http: exit %d %s", code, errOut)
		}
		if code, _, errOut := home.run("", "login", "--url", base, "--browser", "--device"); code != 2 || !strings.Contains(errOut, "choose one") {
			t.Errorf("--browser --device: exit %d %s", code, errOut)
		}
	})

	t.Run("after logout", func(t *testing.T) {
		home.login(base, "carol", carolPassword)
		if code, out, errOut := home.run("", "logout"); code != 0 || !strings.Contains(out, "Signed out of "+base+" as carol.") {
			t.Fatalf("logout: exit %d\n%s%s", code, out, errOut)
		}
		refused(t, "Admin", "you are not signed in to "+base+" as carol: run `idbroker login --profile Admin`")
		if code, out, _ := home.run("", "logout"); code != 0 || !strings.Contains(out, "Not signed in.") {
			t.Errorf("logout again: exit %d %s", code, out)
		}
	})

	t.Run("after the session ended at the broker", func(t *testing.T) {
		home.login(base, "carol", carolPassword)
		token := home.cachedSession()["session_token"].(string)
		// A revocation by ending the session with its token (the admin
		// API's revocation ends it the same way).
		if status, _, _ := sessionAPI(t, http.MethodDelete, base+"/api/v1/sessions/current", token, "", ""); status != 204 {
			t.Fatalf("ending the session: %d", status)
		}
		refused(t, "Admin", "the idbroker session of carol at "+base+" has ended (signed out, revoked, or expired at the broker)",
			"run `idbroker login --profile Admin`")
		// The AWS CLI passes the words on.
		code, _, errOut := home.aws(base, "sts", "get-caller-identity", "--profile", "Developer")
		if _, err := os.Stat(awsCLI); err == nil && (code == 0 || !strings.Contains(errOut, "idbroker login --profile Developer")) {
			t.Errorf("aws: exit %d %s", code, errOut)
		}
		// The ended session was forgotten.
		if code, out, _ := home.run("", "status", "--offline"); code != 0 || !strings.Contains(out, "Not signed in to any broker") {
			t.Errorf("status: %s", out)
		}
	})

	t.Run("after an administrator's revocation", func(t *testing.T) {
		needAWSClients(t)
		home.login(base, "carol", carolPassword)
		if code, _, errOut := home.run("", "credential-process", "--profile", "Developer"); code != 0 {
			t.Fatalf("credential-process: exit %d %s", code, errOut)
		}
		// bob, an administrator, revokes carol with idbroker revoke,
		// signed with his Admin keys from idbroker env.
		admin := newCLIHome(t, bin)
		admin.login(base, "bob", "bob", "--role", "Admin", "--profile", "bob-admin")
		script := `eval "$('` + bin + `' env --profile bob-admin)" && '` + bin + `' revoke --url ` + base + ` --user carol`
		if code, out, errOut := admin.exec(exec.Command("sh", "-c", script), ""); code != 0 {
			t.Fatalf("idbroker revoke: exit %d\n%s%s", code, out, errOut)
		}
		// carol's cached keys are refused by the STS; the next profile
		// that asks the broker finds the session ended, and then every
		// profile of the session says so.
		if code, out, _ := home.aws(base, "sts", "get-caller-identity", "--profile", "Developer"); code == 0 {
			t.Errorf("revoked keys accepted: %s", out)
		}
		refused(t, "Admin", "the idbroker session of carol at "+base+" has ended", "run `idbroker login --profile Admin`")
		code, _, errOut := home.aws(base, "sts", "get-caller-identity", "--profile", "Developer")
		if code == 0 || !strings.Contains(errOut, "you are not signed in to "+base+" as carol: run `idbroker login --profile Developer`") {
			t.Errorf("aws after the revocation: exit %d %s", code, errOut)
		}
	})

	t.Run("a role no longer granted", func(t *testing.T) {
		home.login(base, "carol", carolPassword)
		token := home.cachedSession()["session_token"].(string)
		// The rules lose the admins rule; the broker reloads on SIGHUP.
		reduced := strings.Replace(string(cfg), "    continue: true            # keep looking: admins may earn a second role\n  - name: admins\n    when: {groups_any: [admins]}\n    roles: [Admin]\n", "", 1)
		reduced = strings.Replace(reduced, "admin:\n  roles: [Admin]\n", "", 1)
		reduced = strings.Replace(reduced, "  - name: bob chooses between Developer and Admin\n    identity: {provider: demo, username: bob, groups: [developers, admins]}\n    expect: {decision: choose, roles: [Developer, Admin]}\n", "", 1)
		if reduced == string(cfg) {
			t.Fatal("the demo rules changed: the test cannot remove the admins rule")
		}
		if err := os.WriteFile(cfgPath, []byte(reduced), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := broker.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, 20*time.Second, "the reload taking effect", func() string {
			_, cur, _ := sessionAPI(t, http.MethodGet, base+"/api/v1/sessions/current", token, "", "")
			if roles, _ := cur["roles"].([]any); len(roles) != 1 {
				return fmt.Sprintf("roles %v\n%s", cur["roles"], broker.log.String())
			}
			return ""
		})
		refused(t, "Admin", "role arn:aws:iam::123456789012:role/Admin is no longer granted to carol at "+base,
			"run `idbroker login --url "+base+"` to see the roles you have now")
		if code, out, errOut := home.run("", "credential-process", "--profile", "Developer"); code != 0 || !strings.Contains(out, `"Version":1`) {
			t.Errorf("Developer: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("logout of one session or all", func(t *testing.T) {
		home.login(base, "bob", "bob", "--role", "Developer", "--profile", "bob-dev")
		code, _, errOut := home.run("", "logout")
		if code != 1 || !strings.Contains(errOut, "there are 2 sessions") || !strings.Contains(errOut, "--all") {
			t.Fatalf("logout with two sessions: exit %d %s", code, errOut)
		}
		if code, out, errOut := home.run("", "logout", "--profile", "bob-dev"); code != 0 || out != "Signed out of "+base+" as bob.\n" {
			t.Fatalf("logout --profile bob-dev: exit %d\n%s%s", code, out, errOut)
		}
		refused(t, "bob-dev", "not signed in to "+base+" as bob")
		home.login(base, "bob", "bob", "--profile", "bob-dev")
		code, out, errOut := home.run("", "logout", "--all")
		if code != 0 || !strings.Contains(out, "as bob.") || !strings.Contains(out, "as carol.") {
			t.Fatalf("logout --all: exit %d\n%s%s", code, out, errOut)
		}
		refused(t, "Developer", "not signed in to "+base+" as carol")
		home.login(base, "carol", carolPassword)
		if code, _, errOut := home.run("", "credential-process", "--profile", "Developer"); code != 0 {
			t.Fatalf("credential-process: exit %d %s", code, errOut)
		}
	})

	t.Run("the broker unreachable", func(t *testing.T) {
		if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		broker.stop(t)
		// Developer's keys are cached: they are served without the broker.
		if code, out, _ := home.run("", "credential-process", "--profile", "Developer"); code != 0 || !strings.Contains(out, `"AccessKeyId"`) {
			t.Errorf("cached keys without the broker: exit %d", code)
		}
		refused(t, "Admin", "cannot reach the broker at "+base+": the connection was refused. Is the URL right, and is the broker running?")
		code, _, errOut := home.run("", "logout")
		if code != 1 || !strings.Contains(errOut, "could not be ended, and is kept") {
			t.Errorf("logout without the broker: exit %d %s", code, errOut)
		}
	})
}
