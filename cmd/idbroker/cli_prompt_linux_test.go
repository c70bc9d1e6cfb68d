package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyScreen is what a program wrote to its terminal.
type ptyScreen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *ptyScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *ptyScreen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor waits until the screen shows want after position from, and
// returns the position after it.
func (s *ptyScreen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out := s.String(); len(out) >= from {
			if i := strings.Index(out[from:], want); i >= 0 {
				return from + i + len(want)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q:\n%s", want, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCLIPasswordPrompt: `idbroker login` asks for the username and the
// password in a real terminal (a pseudo-terminal): the username is
// echoed, the password is not, and the profiles are written.
func TestCLIPasswordPrompt(t *testing.T) {
	bin := buildIdbroker(t)
	ts := startServer(t, cliDemoConfig(t))
	home := newCLIHome(t, bin)

	cmd := exec.Command(bin, "login", "--url", ts.URL, "--provider", "demo", "--role", "Developer")
	cmd.Env = home.env("TERM=dumb")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
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

	at := screen.waitFor(t, 0, "Username: ")
	if _, err := tty.Write([]byte("carol\r")); err != nil {
		t.Fatal(err)
	}
	at = screen.waitFor(t, at, "carol") // echoed as typed
	at = screen.waitFor(t, at, "Password for carol: ")
	if _, err := tty.Write([]byte(carolPassword + "\r")); err != nil {
		t.Fatal(err)
	}
	screen.waitFor(t, at, "Wrote 1 profile(s)")
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("login: %v\n%s", err, screen.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("login did not end:\n%s", screen.String())
	}
	// Read what is left, until the terminal closes.
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	out := screen.String()
	if strings.Contains(out, carolPassword) || strings.Contains(out, "carol-CANARY") {
		t.Fatalf("the password was echoed:\n%s", out)
	}
	if !strings.Contains(out, "Signed in to "+ts.URL+" as carol (demo)") {
		t.Errorf("terminal:\n%s", out)
	}
	if code, out, errOut := home.run("", "credential-process", "--profile", "Developer"); code != 0 || !strings.Contains(out, `"Version":1`) {
		t.Errorf("credential-process: exit %d\n%s%s", code, out, errOut)
	}
	ts.assertNoSecrets(t, carolPassword)
}

// TestCLIPromptInterrupted: Ctrl-C at the password prompt ends login and
// leaves the terminal echoing again.
func TestCLIPromptInterrupted(t *testing.T) {
	bin := buildIdbroker(t)
	ts := startServer(t, cliDemoConfig(t))
	home := newCLIHome(t, bin)
	cmd := exec.Command(bin, "login", "--url", ts.URL, "--provider", "demo", "--username", "carol")
	cmd.Env = home.env("TERM=dumb")
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	screen := &ptyScreen{}
	go func() { _, _ = io.Copy(screen, tty) }()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	screen.waitFor(t, 0, "Password for carol: ")
	if _, err := tty.Write([]byte{3}); err != nil { // Ctrl-C: SIGINT from the terminal
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("login after Ctrl-C: %v\n%s", err, screen.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("login did not end on Ctrl-C:\n%s", screen.String())
	}
	// What the process wrote before it exited may still be on its way
	// from the pseudo-terminal to the screen.
	screen.waitFor(t, 0, "interrupted")
	// The terminal echoes again: its ECHO flag is back.
	st, err := termios(tty)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lflag&unix.ECHO == 0 {
		t.Error("the terminal was left without echo")
	}
	if _, err := os.Stat(home.cacheDir); err == nil {
		if files, _ := os.ReadDir(home.cacheDir); len(files) > 0 {
			t.Errorf("an interrupted login cached %v", files)
		}
	}
}

// termios reads a terminal's settings.
func termios(f *os.File) (*unix.Termios, error) {
	return unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
}

// ptyRun is a command on a pseudo-terminal: what it shows (the embedded
// screen) and the keys typed at it.
type ptyRun struct {
	*ptyScreen
	tty    *os.File
	exited chan error
}

// startPTY starts cmd on a 40×200 terminal; the process is killed when the
// test ends.
func startPTY(t *testing.T, cmd *exec.Cmd) *ptyRun {
	t.Helper()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tty.Close() })
	p := &ptyRun{ptyScreen: &ptyScreen{}, tty: tty, exited: make(chan error, 1)}
	go func() { _, _ = io.Copy(p.ptyScreen, tty) }()
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// typeLine types s and Enter.
func (p *ptyRun) typeLine(t *testing.T, s string) {
	t.Helper()
	if _, err := p.tty.Write([]byte(s + "\r")); err != nil {
		t.Fatal(err)
	}
}

// wait returns how the command ended, failing the test when it has not
// within 30 s.
func (p *ptyRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("the command did not end:\n%s", p.String())
		return nil
	}
}
