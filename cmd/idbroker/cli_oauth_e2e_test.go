package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The browser and device ways into `idbroker login`, end to end: the
// built CLI against the broker's OAuth server for its CLI, the person's
// part through the broker's pages (person).

// runningCLI is a command running in the background.
type runningCLI struct {
	stdout, stderr *lockedBuffer
	done           chan int
}

func startCLI(t *testing.T, home *cliHome, extraEnv []string, args ...string) *runningCLI {
	t.Helper()
	cmd := exec.Command(home.bin, args...)
	cmd.Env = home.env(extraEnv...)
	r := &runningCLI{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan int, 1)}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		r.done <- cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return r
}

// wait is the exit code.
func (r *runningCLI) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("the command did not end\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	return -1
}

// waitOutput waits until re matches stderr and returns its groups.
func (r *runningCLI) waitOutput(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(r.stderr.String()); m != nil {
			return m
		}
		select {
		case code := <-r.done:
			t.Fatalf("the command ended (%d) before printing %v\nstdout:\n%s\nstderr:\n%s", code, re, r.stdout, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command never printed %v\nstderr:\n%s", re, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCLIBrowserLogin: `idbroker login --browser` opens the authorization
// URL with $BROWSER; the person signs in on the broker's pages and
// allows; the browser lands on the CLI's loopback listener ("you can
// close this tab"); the CLI writes the profiles and the session serves
// credential-process. Denying in the browser ends login with the words.
func TestCLIBrowserLogin(t *testing.T) {
	ts := startServer(t, cliDemoConfig(t))
	bin := buildIdbroker(t)

	for _, tc := range []struct {
		decision string
		code     int
		want     string
	}{
		{"allow", 0, "Signed in to " + ts.URL + " as carol (demo)"},
		{"deny", 1, "the sign-in was denied in the browser"},
	} {
		t.Run(tc.decision, func(t *testing.T) {
			home := newCLIHome(t, bin)
			// $BROWSER is a script that writes down the URL it is given.
			opened := filepath.Join(home.dir, "opened-url")
			script := filepath.Join(home.dir, "browser.sh")
			if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$1\" > "+opened+".tmp && mv "+opened+".tmp "+opened+"\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			cli := startCLI(t, home, []string{"BROWSER=" + script}, "login", "--url", ts.URL, "--provider", "demo", "--browser")
			cli.waitOutput(t, regexp.MustCompile(`Opening the sign-in page in your browser`))
			var authURL string
			deadline := time.Now().Add(20 * time.Second)
			for authURL == "" {
				if raw, err := os.ReadFile(opened); err == nil {
					authURL = strings.TrimSpace(string(raw))
				} else if time.Now().After(deadline) {
					t.Fatalf("the browser was never opened\n%s", cli.stderr)
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if !strings.HasPrefix(authURL, ts.URL+"/oauth2/authorize?") || !strings.Contains(cli.stderr.String(), authURL) {
				t.Fatalf("opened %q\nstderr:\n%s", authURL, cli.stderr)
			}
			p := newPerson(t, "carol", carolPassword, "demo")
			last := p.goThrough(p.open(authURL), "", tc.decision)
			if last.url.Hostname() != "127.0.0.1" || last.url.Path != "/callback" {
				t.Fatalf("the browser ended on %s:\n%s", last.url, last.body)
			}
			wantPage := "You can close this tab"
			if tc.decision == "deny" {
				wantPage = "The sign-in did not complete"
			}
			if !strings.Contains(last.body, wantPage) {
				t.Errorf("the loopback page:\n%s", last.body)
			}
			code := cli.wait(t)
			if code != tc.code || !strings.Contains(cli.stdout.String()+cli.stderr.String(), tc.want) {
				t.Fatalf("exit %d, want %d and %q\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, cli.stdout, cli.stderr)
			}
			if tc.code == 0 {
				if code, out, errOut := home.run("", "credential-process", "--profile", "Admin"); code != 0 || !strings.Contains(out, `"Version":1`) {
					t.Errorf("credential-process: exit %d\n%s%s", code, out, errOut)
				}
			}
			ts.assertNoSecrets(t, carolPassword)
		})
	}
}

// TestCLIDeviceLogin: `idbroker login --device` shows the code
// (XXXX-XXXX) and the verification URL; the person signs in at the URL,
// sees this machine's name, and approves: the CLI, polling, gets the
// session and writes the profiles. Denying ends login with the words.
func TestCLIDeviceLogin(t *testing.T) {
	ts := startServer(t, cliDemoConfig(t))
	bin := buildIdbroker(t)
	host, _ := os.Hostname()
	shown := regexp.MustCompile(`open (\S+) in a browser on any device and enter the code\n\n    ([B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4})\n\n\(or open (\S+)\)`)

	for _, tc := range []struct {
		decision string
		code     int
		want     string
	}{
		{"approve", 0, "Signed in to " + ts.URL + " as carol (demo)"},
		{"deny", 1, "the sign-in was denied in the browser"},
	} {
		t.Run(tc.decision, func(t *testing.T) {
			home := newCLIHome(t, bin)
			cli := startCLI(t, home, nil, "login", "--url", ts.URL, "--device", "--role", "Developer")
			m := cli.waitOutput(t, shown)
			if m[1] != ts.URL+"/device" || m[3] != ts.URL+"/device?user_code="+m[2] {
				t.Errorf("verification URIs %q %q", m[1], m[3])
			}
			p := newPerson(t, "carol", carolPassword, "demo")
			// The person types the code on the plain page.
			p.goThrough(p.open(m[1]), m[2], tc.decision)
			named := false
			for _, b := range p.seen {
				named = named || strings.Contains(b, m[2]) && strings.Contains(b, host)
			}
			if host != "" && !named {
				t.Errorf("the approval page does not name this machine (%s):\n%s", host, strings.Join(p.seen, "\n----\n"))
			}
			code := cli.wait(t)
			if code != tc.code || !strings.Contains(cli.stdout.String()+cli.stderr.String(), tc.want) {
				t.Fatalf("exit %d, want %d and %q\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, cli.stdout, cli.stderr)
			}
			if tc.code == 0 {
				if code, out, errOut := home.run("", "credential-process", "--profile", "Developer"); code != 0 || !strings.Contains(out, `"Version":1`) {
					t.Errorf("credential-process: exit %d\n%s%s", code, out, errOut)
				}
			}
		})
	}
}
