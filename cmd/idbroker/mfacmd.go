package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/idbroker/idbroker/internal/cli"
)

// idbroker mfa enroll (a person, from the session of idbroker login) and
// idbroker mfa reset (an administrator, signed like idbroker revoke).

const mfaUsage = `usage: idbroker mfa enroll [--profile NAME | --url URL]
       idbroker mfa reset --url URL --user U [--provider P] [--region R] [--json]

enroll  enrol a TOTP authenticator for the person signed in with 'idbroker login':
        prints the otpauth:// URI and a QR code to scan, asks for a code from the
        app, then prints ten recovery codes, once (keep them somewhere safe: each
        stands in for a code once). Without a flag: the only session there is.
reset   (administrators) remove a person's TOTP enrolment, so that they can enrol
        again; signed with the AWS credentials of the environment like
        'idbroker revoke'; needs idbroker:ResetMFA.

examples:
  idbroker mfa enroll --profile Developer
  idbroker mfa enroll --url https://idbroker.example.org
  idbroker mfa reset --url https://idbroker.example.org --user alice --provider corp-ldap

flags:
`

func runMFA(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mfaUsage)
		return 2
	}
	switch args[0] {
	case "enroll", "enrol":
		return runMFAEnroll(ctx, args[1:], stdin, stdout, stderr)
	case "reset":
		return runMFAReset(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, mfaUsage)
		return 0
	}
	fmt.Fprintf(stderr, "idbroker mfa: unknown command %q\n\n%s", args[0], mfaUsage)
	return 2
}

func runMFAEnroll(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("mfa enroll", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, mfaUsage); fl.PrintDefaults() }
	profile := fl.String("profile", "", "the person signed in for this profile")
	base := fl.String("url", "", "the person signed in at this broker (the only one there)")
	if err := fl.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if fl.NArg() > 0 || (*profile != "" && *base != "") {
		return usageError(stderr, "mfa enroll", errors.New("give --profile NAME or --url URL, not both"))
	}
	se, err := cachedSessionFor(*profile, *base)
	if err != nil {
		return cliFailed(stderr, "mfa enroll", err)
	}
	c := brokerClient(se.BrokerURL)
	en, err := c.BeginTOTP(ctx, se.Token)
	if err != nil {
		return cliFailed(stderr, "mfa enroll", mfaRefusal(err, se))
	}
	qr, err := qrcode.New(en.OTPAuthURI, qrcode.Medium)
	if err != nil {
		return cliFailed(stderr, "mfa enroll", fmt.Errorf("the QR code: %w", err))
	}
	fmt.Fprintf(stdout, "Enrolling a TOTP authenticator for %s at %s.\n", se.User, se.BrokerURL)
	fmt.Fprintln(stdout, "Scan this QR code with your authenticator app:")
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, qr.ToSmallString(false))
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "or add this URI (or the secret %s) by hand:\n  %s\n\n", en.Secret, en.OTPAuthURI)
	code, err := readCode(ctx, stdin, stderr)
	if err != nil {
		return cliFailed(stderr, "mfa enroll", err)
	}
	codes, err := c.ConfirmTOTP(ctx, se.Token, code)
	if err != nil {
		return cliFailed(stderr, "mfa enroll", mfaRefusal(err, se))
	}
	fmt.Fprintln(stdout, "TOTP is enrolled: the broker asks for a code where MFA is required.")
	fmt.Fprintln(stdout, "Recovery codes (shown this once; each works once in place of a code):")
	for _, rc := range codes {
		fmt.Fprintln(stdout, "  "+rc)
	}
	return 0
}

// readCode asks for the code at the terminal (not echoed, like the login's
// password prompt), or reads the first line of stdin when it is not a
// terminal.
func readCode(ctx context.Context, stdin io.Reader, stderr io.Writer) (string, error) {
	var code string
	if in, ok := terminal(stdin); ok {
		var err error
		code, err = newPrompter(in, stderr).password(ctx, "Code from the app: ")
		if err != nil {
			return "", err
		}
	} else {
		line, err := bufio.NewReader(io.LimitReader(stdin, 256)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the code: %w", err)
		}
		code = line
	}
	code = strings.TrimSpace(code)
	if code == "" {
		return "", errors.New("no code given: run idbroker mfa enroll again")
	}
	return code, nil
}

// mfaRefusal words a refusal of the MFA API for a person.
func mfaRefusal(err error, se *cli.CachedSession) error {
	var ae *cli.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.Code == "InvalidSession":
		return fmt.Errorf("the session of %s at %s has ended: run idbroker login --url %s, then enroll again", se.User, se.BrokerURL, se.BrokerURL)
	case ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed:
		return fmt.Errorf("the broker at %s has no TOTP enrolment (it needs MFA enabled and a version with it): %w", se.BrokerURL, err)
	}
	return err
}

// cachedSessionFor finds the cached session of idbroker login: the one of a
// profile, the only one at a broker URL, or the only one there is.
func cachedSessionFor(profile, base string) (*cli.CachedSession, error) {
	cache, err := openCLICache()
	if err != nil {
		return nil, err
	}
	if profile != "" {
		b, err := cache.Profile(profile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("idbroker has no profile %s: run idbroker login --profile %s first", profile, profile)
		} else if err != nil {
			return nil, err
		}
		se, err := cache.Session(b.BrokerURL, b.User)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("not signed in to %s as %s (profile %s): run idbroker login --profile %s", b.BrokerURL, b.User, profile, profile)
		}
		return se, err
	}
	if base != "" {
		if base, err = cli.NormalizeBrokerURL(base); err != nil {
			return nil, err
		}
	}
	sessions, _ := cache.Sessions()
	var match []*cli.CachedSession
	for _, se := range sessions {
		if base == "" || se.BrokerURL == base {
			match = append(match, se)
		}
	}
	switch {
	case len(match) == 1:
		return match[0], nil
	case len(match) == 0 && base != "":
		return nil, fmt.Errorf("not signed in to %s: run idbroker login --url %s first", base, base)
	case len(match) == 0:
		return nil, errors.New("not signed in: run idbroker login --url URL first")
	}
	return nil, errors.New("signed in as several people or at several brokers: name one with --profile NAME (or --url URL)")
}

func runMFAReset(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("mfa reset", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, mfaUsage); fl.PrintDefaults() }
	base := fl.String("url", "", "the broker's public URL")
	region := fl.String("region", "", "the broker's region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
	user := fl.String("user", "", "the person whose TOTP is reset")
	provider := fl.String("provider", "", "at this provider only (default: every provider)")
	asJSON := fl.Bool("json", false, "print the broker's answer as JSON")
	if err := fl.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if fl.NArg() > 0 {
		return usageError(stderr, "mfa reset", fmt.Errorf("unexpected argument %q", fl.Arg(0)))
	}
	if *user == "" {
		return usageError(stderr, "mfa reset", errors.New("--user is required"))
	}
	c, err := newAdminClient(*base, *region, getenv)
	if err != nil {
		return commandError(stderr, "mfa reset", err)
	}
	body := map[string]string{"user": *user, "provider": *provider}
	ans, err := c.send(ctx, http.MethodPost, "/api/v1/admin/mfa/reset", nil, body, "application/json", "the MFA reset", "idbroker:ResetMFA")
	if err != nil {
		return commandError(stderr, "mfa reset", err)
	}
	if *asJSON {
		if len(ans) == 0 {
			ans = []byte("{}")
		}
		return printJSON(stdout, stderr, ans)
	}
	var r struct {
		Reset []struct {
			Provider    string `json:"provider"`
			User        string `json:"user"`
			WasEnrolled bool   `json:"was_enrolled"`
		} `json:"reset"`
	}
	if err := json.Unmarshal(ans, &r); err != nil {
		return commandError(stderr, "mfa reset", fmt.Errorf("the broker's answer is not the expected JSON: %w", err))
	}
	removed := 0
	for _, p := range r.Reset {
		if p.WasEnrolled {
			removed++
			fmt.Fprintf(stdout, "Removed the TOTP enrolment of %s at %s.\n", p.User, p.Provider)
		}
	}
	if removed == 0 {
		fmt.Fprintf(stdout, "%s had no TOTP enrolment (at %d provider(s)): nothing to reset.\n", *user, len(r.Reset))
		return 0
	}
	fmt.Fprintln(stdout, "They enrol again (idbroker mfa enroll, or the portal) before a code is asked of them; sessions that passed the old device keep their MFA until they end (idbroker revoke --user ends them).")
	return 0
}
