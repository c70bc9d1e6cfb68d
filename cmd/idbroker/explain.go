package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
)

const explainUsage = "usage: idbroker explain --config FILE (--identity FILE.json | --provider NAME --user NAME [--timeout 30s]) [--json]"

// defaultLookupTimeout bounds `explain --provider --user` (the provider's
// own timeouts, such as an LDAP login_timeout, apply inside it).
const defaultLookupTimeout = 30 * time.Second

// runExplain prints how the rules of a configuration map one identity: read
// from a JSON file (--identity), or looked up for real in a provider that
// can find users without a password (--provider and --user: static and
// LDAP providers; OIDC and SAML providers cannot).
func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file")
	idFile := fs.String("identity", "", "identity as JSON (providers.Identity), - for stdin")
	provName := fs.String("provider", "", "look the user up in this provider (static or ldap) instead of --identity")
	user := fs.String("user", "", "user name to look up with --provider")
	timeout := fs.Duration("timeout", defaultLookupTimeout, "bound on the look-up with --provider")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	lookup := *provName != "" || *user != ""
	switch {
	case *path == "" || fs.NArg() > 0:
		fmt.Fprintln(stderr, explainUsage)
		return 2
	case lookup && *idFile != "":
		fmt.Fprintln(stderr, "explain: give either --identity or --provider with --user, not both")
		fmt.Fprintln(stderr, explainUsage)
		return 2
	case lookup && (*provName == "" || *user == ""):
		fmt.Fprintln(stderr, "explain: --provider and --user go together")
		fmt.Fprintln(stderr, explainUsage)
		return 2
	case !lookup && *idFile == "":
		fmt.Fprintln(stderr, explainUsage)
		return 2
	case lookup && *timeout <= 0:
		fmt.Fprintln(stderr, "explain: --timeout must be positive")
		return 2
	}
	cfg, err := loadConfigFile(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var id providers.Identity
	if !lookup {
		if id, err = readIdentityFile(*idFile); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	a, err := assembleOffline(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer a.close()
	if lookup {
		lctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		id, err = lookupIdentity(lctx, a, *provName, *user)
		if err != nil {
			fmt.Fprintln(stderr, "explain:", err)
			return 1
		}
	}
	ex := a.mapper.Explain(id)
	if *asJSON {
		var v any = ex
		if lookup {
			// The explanation's keys plus the identity that was looked up.
			v = struct {
				Identity providers.Identity `json:"identity"`
				mapping.Explanation
			}{id, ex}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	if lookup {
		fmt.Fprint(stdout, identitySummary(id))
	}
	fmt.Fprint(stdout, ex.Text())
	return 0
}

// readIdentityFile reads a providers.Identity JSON object (unknown keys
// refused) from a file, or from stdin for "-".
func readIdentityFile(name string) (providers.Identity, error) {
	var raw []byte
	var err error
	if name == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		raw, err = os.ReadFile(name)
	}
	if err != nil {
		return providers.Identity{}, fmt.Errorf("read identity: %w", err)
	}
	var id providers.Identity
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		return providers.Identity{}, fmt.Errorf("identity file is not an Identity JSON object: %w", err)
	}
	return id, nil
}

// lookupIdentity finds user in the provider named name, built from the
// configuration exactly as assemble builds it (same kind, same store and
// keys), and closed before returning. Only providers implementing
// providers.Lookuper can look users up.
func lookupIdentity(ctx context.Context, a *app, name, user string) (providers.Identity, error) {
	var (
		p     *broker.Provider
		names []string
	)
	for i := range a.providers {
		names = append(names, a.providers[i].Name)
		if a.providers[i].Name == name {
			p = &a.providers[i]
		}
	}
	if p == nil {
		return providers.Identity{}, fmt.Errorf("no provider %q in the configuration (providers: %s)", name, strings.Join(names, ", "))
	}
	impl, pcType := p.Impl, p.Type
	lk, ok := impl.(providers.Lookuper)
	if !ok {
		return providers.Identity{}, fmt.Errorf("provider %s (%s) cannot look users up; use --identity", name, pcType)
	}
	id, err := lk.Lookup(ctx, user)
	switch {
	case errors.Is(err, providers.ErrInvalidCredentials):
		return providers.Identity{}, fmt.Errorf("no such user %q in provider %s", user, name)
	case err != nil && ctx.Err() != nil:
		return providers.Identity{}, fmt.Errorf("look up %q in provider %s: gave up (timeout): %w", user, name, err)
	case err != nil:
		return providers.Identity{}, fmt.Errorf("look up %q in provider %s: %w", user, name, err)
	}
	return id, nil
}

// identitySummary is the text header of `explain --provider --user`: who
// the provider says the user is, before the rules are applied.
func identitySummary(id providers.Identity) string {
	var b strings.Builder
	fmt.Fprintf(&b, "identity (looked up in provider %s):\n", printable(id.Provider))
	fmt.Fprintf(&b, "  provider: %s\n", printable(id.Provider))
	fmt.Fprintf(&b, "  subject:  %s\n", printable(id.Subject))
	fmt.Fprintf(&b, "  username: %s\n", printable(id.Username))
	if id.Email != "" {
		fmt.Fprintf(&b, "  email:    %s\n", printable(id.Email))
	}
	if len(id.Groups) == 0 {
		b.WriteString("  groups:   (none)\n")
	} else {
		fmt.Fprintf(&b, "  groups (%d):\n", len(id.Groups))
		for _, g := range id.Groups {
			fmt.Fprintf(&b, "    %s\n", printable(g))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// printable returns s as is, or Go-quoted when it holds anything a terminal
// could interpret (control characters, invalid UTF-8): directory values are
// not trusted to be plain text.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
