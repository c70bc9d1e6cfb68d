package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/internal/cli"
)

// The three ways into idbroker login: a password at the terminal, the
// browser with the loopback redirect, a device code.

// chooseWay decides how to sign in: the flags, else what the broker's
// provider listing says of the provider (a password it checks itself, or
// the browser).
func chooseWay(ctx context.Context, client *cli.Client, f *loginFlags, provider string, ask *prompter) (way, string, error) {
	switch {
	case f.device:
		return wayDevice, provider, nil
	case f.browser:
		return wayBrowser, provider, nil
	}
	provs, err := client.Providers(ctx)
	if err != nil {
		return 0, "", err
	}
	if provider == "" {
		switch {
		case len(provs) == 1:
			provider = provs[0].Name
		case len(provs) > 1 && ask != nil:
			if provider, err = chooseProvider(ctx, provs, ask); err != nil {
				return 0, "", err
			}
		case len(provs) > 1:
			return 0, "", fmt.Errorf("the broker has several sign-in methods: name one with --provider (%s)", listProviders(provs))
		}
	}
	var known *cli.ProviderInfo
	for i := range provs {
		if provs[i].Name == provider {
			known = &provs[i]
		}
	}
	if provider != "" && known == nil && len(provs) > 0 {
		return 0, "", fmt.Errorf("the broker has no provider %q; it has: %s", provider, listProviders(provs))
	}
	if f.username != "" || f.passwordStdin {
		if provider == "" {
			return 0, "", errors.New("name the provider with --provider for a password sign-in")
		}
		return wayPassword, provider, nil
	}
	if known != nil && known.Password {
		return wayPassword, provider, nil
	}
	return wayBrowser, provider, nil
}

func listProviders(provs []cli.ProviderInfo) string {
	var parts []string
	for _, p := range provs {
		s := p.Name
		if p.Type != "" {
			s += " (" + p.Type + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// chooseProvider asks which provider to sign in with.
func chooseProvider(ctx context.Context, provs []cli.ProviderInfo, ask *prompter) (string, error) {
	fmt.Fprintln(ask.stderr, "Sign in with:")
	for i, p := range provs {
		name := p.DisplayName
		if name == "" {
			name = p.Name
		}
		fmt.Fprintf(ask.stderr, "  %d) %s [%s]\n", i+1, name, p.Name)
	}
	for range 3 {
		a, err := ask.line(ctx, fmt.Sprintf("Choose 1-%d: ", len(provs)))
		if err != nil {
			return "", err
		}
		for i, p := range provs {
			if a == fmt.Sprint(i+1) || a == p.Name {
				return p.Name, nil
			}
		}
	}
	return "", errors.New("no provider chosen: name one with --provider")
}

// passwordLogin signs in with a username and password: the flags, or
// asked at the terminal (the password without echo).
func passwordLogin(ctx context.Context, client *cli.Client, f *loginFlags, provider string, stdin io.Reader, ask *prompter) (string, error) {
	username, password := f.username, ""
	var err error
	if f.passwordStdin {
		if password, err = readPasswordStdin(stdin); err != nil {
			return "", err
		}
	} else {
		if ask == nil {
			return "", errors.New("no terminal to ask for the password: pass --username U --password-stdin, or use --browser or --device")
		}
		for username == "" {
			if username, err = ask.line(ctx, "Username: "); err != nil {
				return "", err
			}
		}
		if password, err = ask.password(ctx, "Password for "+username+": "); err != nil {
			return "", err
		}
	}
	in := cli.SignIn{Provider: provider, Username: username, Password: password}
	token, err := client.CreateSession(ctx, in)
	// The second factor, when the broker asks for it: a code from the
	// authenticator app, or a recovery code (three tries).
	for try := 0; try < 3 && (cli.IsAPIError(err, "MFARequired") || (try > 0 && cli.IsAPIError(err, "InvalidMFACode"))); try++ {
		if ask == nil {
			return "", errors.New("the broker asks for an MFA code and there is no terminal to ask it at: sign in with --browser or --device")
		}
		if in.TOTPCode, in.RecoveryCode, err = askMFACode(ctx, ask, try > 0); err != nil {
			return "", err
		}
		token, err = client.CreateSession(ctx, in)
	}
	switch {
	case err == nil:
		return token, nil
	case cli.IsAPIError(err, "InvalidMFACode"):
		return "", errors.New("the MFA code was wrong or used already (after several tries the account is locked for a while)")
	case cli.IsAPIError(err, "InvalidCredentials"):
		return "", errors.New("wrong username or password (after several tries the account is locked for a while)")
	case cli.IsAPIError(err, "UnsupportedProvider"):
		return "", fmt.Errorf("provider %s does not take a password here: sign in with --browser or --device", provider)
	case cli.IsAPIError(err, "UnknownProvider"):
		return "", fmt.Errorf("the broker has no provider %q", provider)
	}
	return "", err
}

// browserLogin signs in through the browser and the loopback redirect.
func browserLogin(ctx context.Context, client *cli.Client, f *loginFlags, provider string, stderr io.Writer) (string, error) {
	opts := cli.LoopbackOptions{Provider: provider}
	if f.noBrowser {
		opts.Show = func(u string) {
			fmt.Fprintf(stderr, "Open this link in a browser on this machine to sign in:\n\n  %s\n\nWaiting for the browser (up to %v)...\n", u, cli.LoopbackTimeout)
		}
	} else {
		opts.Show = func(u string) {
			fmt.Fprintf(stderr, "Opening the sign-in page in your browser. If it does not open, visit:\n\n  %s\n\nWaiting for the browser (up to %v)...\n", u, cli.LoopbackTimeout)
		}
		opts.Open = openBrowser
	}
	return client.LoopbackLogin(ctx, opts)
}

// deviceLogin signs in with a code approved in a browser anywhere.
func deviceLogin(ctx context.Context, client *cli.Client, stderr io.Writer) (string, error) {
	host, _ := os.Hostname()
	return client.DeviceLogin(ctx, cli.DeviceOptions{DeviceName: host, Show: func(da *oauth2.DeviceAuthResponse) {
		fmt.Fprintf(stderr, "To sign in, open %s in a browser on any device and enter the code\n\n    %s\n\n", da.VerificationURI, da.UserCode)
		if da.VerificationURIComplete != "" {
			fmt.Fprintf(stderr, "(or open %s)\n", da.VerificationURIComplete)
		}
		if !da.Expiry.IsZero() {
			fmt.Fprintf(stderr, "Waiting for the approval; the code expires at %s...\n", da.Expiry.Local().Format("15:04:05"))
		}
	}})
}

// askMFACode asks at the terminal for a code of the authenticator app (six
// digits) or a recovery code, without echo; again says the last one was
// refused.
func askMFACode(ctx context.Context, ask *prompter, again bool) (totpCode, recoveryCode string, err error) {
	if again {
		fmt.Fprintln(ask.stderr, "That code is wrong or was used already.")
	}
	code, err := ask.password(ctx, "MFA code from your authenticator app (or a recovery code): ")
	if err != nil {
		return "", "", err
	}
	if code = strings.TrimSpace(code); len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		return code, "", nil
	}
	return "", code, nil
}

// stepUpForRoles gives the session MFA when a role it writes a profile
// for needs it and the session has none: it asks for a code at the
// terminal and gets that role's keys with it (a step-up), which it caches
// for the profile, so that credential_process works without asking. No
// terminal: a note says how to get MFA, and the profile is written all the
// same (credential_process will say MFARequired).
func stepUpForRoles(ctx context.Context, client *cli.Client, cache *cli.Cache, token string, info *cli.SessionInfo, plan []plannedProfile, ask *prompter, stderr io.Writer) error {
	if info.MFA {
		return nil
	}
	for _, p := range plan {
		if !slices.Contains(info.MFARoles, p.role) {
			continue
		}
		if ask == nil {
			fmt.Fprintf(stderr, "Note: %s needs multi-factor authentication, which this session has not: sign in at a terminal (a code is asked for), or with --browser or --device.\n", p.role)
			return nil
		}
		fmt.Fprintf(stderr, "%s needs multi-factor authentication.\n", p.role)
		var err error
		for try := range 3 {
			totpCode, recoveryCode, aerr := askMFACode(ctx, ask, try > 0)
			if aerr != nil {
				return aerr
			}
			var creds *cli.Credentials
			if creds, err = client.CredentialsWithMFA(ctx, token, p.role, totpCode, recoveryCode); err == nil {
				return cache.SaveKeys(&cli.CachedKeys{Profile: p.name, SessionID: info.ID, Credentials: *creds})
			}
			if !cli.IsAPIError(err, "InvalidMFACode") {
				break
			}
		}
		return fmt.Errorf("the session could not get multi-factor authentication: %w", err)
	}
	return nil
}
