package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/ldapauth"
	ldapprov "github.com/idbroker/idbroker/providers/ldap"
	"github.com/idbroker/idbroker/sts"
)

// ldapKind is an LDAP / Active Directory directory: the sign-in form at
// GET/POST /login/<name>, POST /api/v1/credentials, and the STS action
// AssumeRoleWithLDAPIdentity (see sts.ldap_provider).
func ldapKind() providerKind {
	return providerKind{
		settings: reflect.TypeOf(ldapprov.Config{}),
		validate: func(s any) []error { return s.(*ldapprov.Config).Validate() },
		build: func(env buildEnv, p providerConfig) (any, error) {
			c, err := settingsAs[ldapprov.Config](p)
			if err != nil {
				return nil, err
			}
			return ldapprov.New(p.Name, *c, env.log)
		},
	}
}

// ldapProviderNames lists the providers of type ldap, in file order.
func (c *fileConfig) ldapProviderNames() []string {
	var names []string
	for _, p := range c.Providers {
		if p.Type == "ldap" {
			names = append(names, p.Name)
		}
	}
	return names
}

// stsLDAPProvider is the provider behind AssumeRoleWithLDAPIdentity:
// sts.ldap_provider, or the only ldap provider ("" when there is none, or
// several and none is named).
func (c *fileConfig) stsLDAPProvider() string {
	if c.STS.LDAPProvider != "" {
		return c.STS.LDAPProvider
	}
	if names := c.ldapProviderNames(); len(names) == 1 {
		return names[0]
	}
	return ""
}

// validateLDAPSTS checks sts.ldap_provider.
func (c *fileConfig) validateLDAPSTS() []error {
	names := c.ldapProviderNames()
	switch {
	case c.STS.LDAPProvider != "":
		for _, n := range names {
			if n == c.STS.LDAPProvider {
				return nil
			}
		}
		if len(names) == 0 {
			return []error{fmt.Errorf("sts.ldap_provider: %q: there is no provider of type ldap", c.STS.LDAPProvider)}
		}
		return []error{fmt.Errorf("sts.ldap_provider: %q is not a provider of type ldap (one of %s)", c.STS.LDAPProvider, strings.Join(names, ", "))}
	case len(names) > 1:
		return []error{fmt.Errorf("sts.ldap_provider: missing: several ldap providers (%s); name the one AssumeRoleWithLDAPIdentity uses", strings.Join(names, ", "))}
	}
	return nil
}

// registerLDAPIdentity adds AssumeRoleWithLDAPIdentity to the STS Query API
// when an ldap provider serves it.
func registerLDAPIdentity(cfg *fileConfig, svc *sts.Service, b *broker.Server) error {
	name := cfg.stsLDAPProvider()
	if name == "" {
		return nil
	}
	fn, err := b.LDAPIdentityAction(name)
	if err != nil {
		return fmt.Errorf("sts.ldap_provider: %w", err)
	}
	svc.RegisterAction(broker.LDAPIdentityActionName, fn)
	return nil
}

// closeProviders releases what providers hold (pooled LDAP connections).
func closeProviders(ps []broker.Provider) {
	for _, p := range ps {
		if c, ok := p.Impl.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// ldapOnlineCheckTimeout bounds `config check --online` per provider.
const ldapOnlineCheckTimeout = 30 * time.Second

// checkLDAPProviders runs the online checks of every ldap provider (service
// bind, user and group searches) and prints what is wrong and what to try.
// It returns the number of failed checks.
func checkLDAPProviders(ctx context.Context, cfg *fileConfig, w io.Writer) int {
	if len(cfg.ldapProviderNames()) == 0 {
		fmt.Fprintln(w, "online checks: no ldap provider to check")
		return 0
	}
	failed := 0
	for _, p := range cfg.Providers {
		if p.Type != "ldap" {
			continue
		}
		c, err := settingsAs[ldapprov.Config](p)
		if err != nil {
			fmt.Fprintf(w, "provider %s (ldap): FAIL %v\n", p.Name, err)
			failed++
			continue
		}
		prov, err := ldapprov.New(p.Name, *c, slog.New(slog.DiscardHandler))
		if err != nil {
			fmt.Fprintf(w, "provider %s (ldap): FAIL %v\n", p.Name, err)
			failed++
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, ldapOnlineCheckTimeout)
		results := prov.Check(cctx)
		cancel()
		_ = prov.Close()
		fmt.Fprintf(w, "provider %s (ldap):\n", p.Name)
		failed += printLDAPChecks(w, results)
	}
	return failed
}

func printLDAPChecks(w io.Writer, results []ldapauth.CheckResult) int {
	failed := 0
	for _, r := range results {
		status := "ok  "
		if !r.OK {
			status = "FAIL"
			failed++
		}
		line := fmt.Sprintf("  %s %s", status, r.Name)
		if r.Detail != "" {
			line += ": " + r.Detail
		}
		fmt.Fprintln(w, line)
		if !r.OK {
			if r.Err != nil && (r.Detail == "" || !strings.Contains(r.Detail, r.Err.Error())) {
				fmt.Fprintf(w, "       error: %v\n", r.Err)
			}
			if r.Suggestion != "" {
				fmt.Fprintf(w, "       try: %s\n", r.Suggestion)
			}
		}
	}
	return failed
}
