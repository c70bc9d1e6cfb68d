package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idbroker/idbroker/internal/cli"
)

const logoutUsage = `usage: idbroker logout [--profile NAME | --all]

End the session at the broker and forget it and its keys here. The profiles stay
in the AWS config file; "idbroker login --profile NAME" signs in again.
Without a flag: the only session there is.

flags:
`

func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("logout", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, logoutUsage); fl.PrintDefaults() }
	profile := fl.String("profile", "", "end the session this profile uses")
	all := fl.Bool("all", false, "end every session")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 || (*profile != "" && *all) {
		fmt.Fprintln(stderr, "idbroker logout: give --profile NAME or --all, not both")
		return 2
	}
	cache, err := openCLICache()
	if err != nil {
		return cliFailed(stderr, "logout", err)
	}
	sessions, errs := cache.Sessions()
	for _, e := range errs {
		fmt.Fprintln(stderr, "idbroker logout: skipped:", e)
	}
	var targets []*cli.CachedSession
	switch {
	case *profile != "":
		b, err := cache.Profile(*profile)
		if errors.Is(err, fs.ErrNotExist) {
			return cliFailed(stderr, "logout", fmt.Errorf("idbroker has no profile %s", *profile))
		} else if err != nil {
			return cliFailed(stderr, "logout", err)
		}
		se, err := cache.Session(b.BrokerURL, b.User)
		if errors.Is(err, fs.ErrNotExist) {
			removeKeysOf(cache, b.BrokerURL, b.User)
			fmt.Fprintf(stdout, "Not signed in to %s as %s (profile %s).\n", b.BrokerURL, b.User, *profile)
			return 0
		} else if err != nil {
			return cliFailed(stderr, "logout", err)
		}
		targets = []*cli.CachedSession{se}
	case *all || len(sessions) <= 1:
		targets = sessions
	default:
		var list []string
		for _, s := range sessions {
			list = append(list, s.User+" at "+s.BrokerURL)
		}
		return cliFailed(stderr, "logout", fmt.Errorf("there are %d sessions (%s): name one with --profile, or end them all with --all", len(sessions), strings.Join(list, "; ")))
	}
	if len(targets) == 0 {
		fmt.Fprintln(stdout, "Not signed in.")
		return 0
	}
	failed := 0
	for _, se := range targets {
		if err := endCachedSession(ctx, cache, se); err != nil {
			fmt.Fprintf(stderr, "idbroker logout: %v\n", err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "Signed out of %s as %s.\n", se.BrokerURL, se.User)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// endCachedSession ends se at the broker and forgets it and its profiles'
// keys. A session the broker already ended (401) is forgotten too; one
// the broker could not be asked about is kept, to try again.
func endCachedSession(ctx context.Context, cache *cli.Cache, se *cli.CachedSession) error {
	ctx, cancel := context.WithTimeout(ctx, cli.RequestTimeout)
	defer cancel()
	err := brokerClient(se.BrokerURL).EndSession(ctx, se.Token)
	if err != nil && !cli.IsAPIError(err, "InvalidSession") {
		return fmt.Errorf("the session of %s at %s could not be ended, and is kept: %w", se.User, se.BrokerURL, err)
	}
	removeKeysOf(cache, se.BrokerURL, se.User)
	return cache.RemoveSession(se.BrokerURL, se.User)
}

// removeKeysOf forgets the keys of the profiles of a session.
func removeKeysOf(cache *cli.Cache, brokerURL, user string) {
	profiles, _ := cache.Profiles()
	for _, p := range profiles {
		if p.BrokerURL == brokerURL && p.User == user {
			_ = cache.RemoveKeys(p.Profile)
		}
	}
}

const statusUsage = `usage: idbroker status

List the sessions (broker, user, provider, expiry, and whether the broker still
honours them) and the profiles with their cached keys (role, expiry).

flags:
`

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("status", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, statusUsage); fl.PrintDefaults() }
	offline := fl.Bool("offline", false, "do not ask the brokers whether the sessions are still valid")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "idbroker status: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	cache, err := openCLICache()
	if err != nil {
		return cliFailed(stderr, "status", err)
	}
	now := time.Now()
	sessions, errs := cache.Sessions()
	profiles, perrs := cache.Profiles()
	for _, e := range append(errs, perrs...) {
		fmt.Fprintln(stderr, "idbroker status:", e)
	}
	if len(sessions) == 0 {
		fmt.Fprintln(stdout, "Not signed in to any broker. Sign in with: idbroker login --url URL")
	} else {
		fmt.Fprintln(stdout, "Sessions:")
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  BROKER\tUSER\tPROVIDER\tEXPIRES\tSTATE")
		for _, se := range sessions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", se.BrokerURL, se.User, se.Provider, when(se.ExpiresAt, now), sessionState(ctx, se, now, *offline))
		}
		tw.Flush()
	}
	if len(profiles) > 0 {
		fmt.Fprintln(stdout, "Profiles:")
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROFILE\tROLE\tSESSION\tKEYS")
		for _, p := range profiles {
			keys := "none cached"
			if k, err := cache.Keys(p.Profile); err == nil {
				keys = "until " + when(k.Expiration, now)
				if !now.Before(k.Expiration) {
					keys = "expired"
				}
			} else if !errors.Is(err, fs.ErrNotExist) {
				keys = "unusable: " + err.Error()
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s at %s\t%s\n", p.Profile, roleName(p.RoleARN), p.User, p.BrokerURL, keys)
		}
		tw.Flush()
	}
	return 0
}

// when is t in local time with the time left.
func when(t, now time.Time) string {
	s := t.Local().Format("2006-01-02 15:04 MST")
	if d := t.Sub(now); d > 0 {
		if h := int(d.Hours()); h > 0 {
			s += fmt.Sprintf(" (in %dh%02dm)", h, int(d.Minutes())%60)
		} else {
			s += fmt.Sprintf(" (in %dm)", int(d.Minutes()))
		}
	}
	return s
}

// sessionState says whether the broker still honours se.
func sessionState(ctx context.Context, se *cli.CachedSession, now time.Time, offline bool) string {
	if !now.Before(se.ExpiresAt) {
		return "expired"
	}
	if offline {
		return "not checked"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := brokerClient(se.BrokerURL).CurrentSession(ctx, se.Token)
	switch {
	case err == nil:
		return "active"
	case cli.IsAPIError(err, "InvalidSession"):
		return "ended at the broker"
	}
	var te *cli.TransportError
	if errors.As(err, &te) {
		return "unknown (broker unreachable)"
	}
	return "unknown (" + err.Error() + ")"
}
