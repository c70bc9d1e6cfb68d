package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
		if try > 0 {
			fmt.Fprintln(ask.stderr, "That code is wrong or was used already.")
		}
		code, aerr := ask.password(ctx, "MFA code from your authenticator app (or a recovery code): ")
		if aerr != nil {
			return "", aerr
		}
		in.TOTPCode, in.RecoveryCode = "", ""
		if code = strings.TrimSpace(code); len(code) == 6 && strings.Trim(code, "0123456789") == "" {
			in.TOTPCode = code
		} else {
			in.RecoveryCode = code
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
