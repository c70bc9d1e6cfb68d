package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/term"

	"github.com/idbroker/idbroker/internal/cli"
)

// What the terminal commands (login, credential-process, logout, status,
// env, credentials-server) share: the cache, the broker client, the
// terminal prompts and the browser.

// openCLICache opens the user's cache directory (cli.DefaultCacheDir).
func openCLICache() (*cli.Cache, error) {
	dir, err := cli.DefaultCacheDir()
	if err != nil {
		return nil, err
	}
	return cli.OpenCache(dir)
}

// brokerClient is a client of the broker at base (normalized).
func brokerClient(base string) *cli.Client {
	return cli.NewClient(base, "idbroker-cli/"+buildVersion())
}

// cliFailed prints err for a person and returns the exit code 1.
func cliFailed(stderr io.Writer, command string, err error) int {
	fmt.Fprintf(stderr, "idbroker %s: %v\n", command, err)
	return 1
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// terminal is stdin when it is a terminal.
func terminal(stdin io.Reader) (*os.File, bool) {
	f, ok := stdin.(*os.File)
	return f, ok && term.IsTerminal(int(f.Fd()))
}

// prompter asks a person at a terminal; its line reader is shared by the
// prompts so that nothing typed is lost between them.
type prompter struct {
	in     *os.File
	lines  *bufio.Reader
	stderr io.Writer
}

func newPrompter(in *os.File, stderr io.Writer) *prompter {
	return &prompter{in: in, lines: bufio.NewReader(in), stderr: stderr}
}

var errInterrupted = errors.New("interrupted")

// line asks for one line (echoed).
func (p *prompter) line(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(p.stderr, prompt)
	type answer struct {
		s   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		s, err := p.lines.ReadString('\n')
		ch <- answer{s, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil && !(errors.Is(a.err, io.EOF) && a.s != "") {
			fmt.Fprintln(p.stderr)
			return "", fmt.Errorf("no answer: %w", a.err)
		}
		return strings.TrimSpace(a.s), nil
	case <-ctx.Done():
		fmt.Fprintln(p.stderr)
		return "", errInterrupted
	}
}

// password asks for a password without echoing it (golang.org/x/term):
// the terminal is put in raw mode before the prompt is shown, so nothing
// typed after the prompt can be echoed; Ctrl-C, Ctrl-D or an interrupt
// end it, and the terminal is restored whatever happens.
func (p *prompter) password(ctx context.Context, prompt string) (string, error) {
	fd := int(p.in.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return "", fmt.Errorf("terminal: %w", err)
	}
	defer func() { _ = term.Restore(fd, state) }()
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{p.in, p.stderr}, "")
	type answer struct {
		s   string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		s, err := t.ReadPassword(prompt)
		ch <- answer{s, err}
	}()
	select {
	case a := <-ch:
		switch {
		case errors.Is(a.err, io.EOF):
			fmt.Fprint(p.stderr, "\r\n")
			return "", errInterrupted
		case a.err != nil:
			return "", fmt.Errorf("no password: %w", a.err)
		}
		return a.s, nil
	case <-ctx.Done():
		fmt.Fprint(p.stderr, "\r\n")
		return "", errInterrupted
	}
}

// readPasswordStdin is the first line of stdin (--password-stdin).
func readPasswordStdin(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: stdin gave no password (one line is read)")
	}
	return pw, nil
}

// openBrowser opens url with $BROWSER, else xdg-open (open on macOS);
// an error when there is none (the URL has been printed).
func openBrowser(url string) error {
	var argv []string
	if b := strings.Fields(os.Getenv("BROWSER")); len(b) > 0 {
		argv = append(b, url)
	} else if runtime.GOOS == "darwin" {
		argv = []string{"open", url}
	} else {
		argv = []string{"xdg-open", url}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// shellQuote quotes s for the credential_process line (botocore splits it
// like a POSIX shell; the Go SDK runs it with sh -c).
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_./+-:@=,%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
