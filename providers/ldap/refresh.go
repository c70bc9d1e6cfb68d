package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/idbroker/idbroker/ldapauth"
	"github.com/idbroker/idbroker/providers"
)

var _ providers.Refresher = (*Provider)(nil)

// upstream is what the provider keeps in Identity.Upstream: the name the
// login was made with, which the configured user filter is known to accept
// (the canonical Username, read from username_attribute, need not be: a
// filter on mail with the default uid attribute).
type upstream struct {
	Login string `json:"login"`
}

// encodeUpstream is the Identity.Upstream of a login made with login.
func encodeUpstream(login string) []byte {
	b, _ := json.Marshal(upstream{Login: login}) // a struct of one string: cannot fail
	return b
}

// loginName is the name to search for when re-checking id: the one its
// login was made with, else its Username.
func loginName(id providers.Identity) string {
	var u upstream
	if len(id.Upstream) > 0 && json.Unmarshal(id.Upstream, &u) == nil && u.Login != "" {
		return u.Login
	}
	return id.Username
}

// Refresh re-checks a login of this provider without the password: it
// searches the user again with the service account and the configured
// user filter, by the name the login was made with (ldapauth's Lookup,
// bounded by login_timeout), and re-resolves the groups. The identity
// returned has the directory's current groups, attributes, names and
// email, and the login's own AuthTime, MFA, MFATime, Expiry and Upstream.
//
// It returns an error wrapping providers.ErrAccountGone when no entry
// matches the name any more, when the entry found is another person (its
// Subject, entryUUID/objectGUID or else DN, differs: the account was
// deleted and the name reused), or when the directory disables the
// account (ldapauth.Result.Disabled). A directory that cannot be asked
// wraps providers.ErrUnavailable; one whose answer cannot be used (the
// filter now matches several entries) wraps providers.ErrUnavailable and
// providers.ErrConfiguration: the caller refuses and keeps the session.
func (p *Provider) Refresh(ctx context.Context, id providers.Identity) (providers.Identity, error) {
	if id.Provider != p.name {
		return providers.Identity{}, fmt.Errorf("ldap provider %q: cannot re-check a login of provider %q: %w: %w",
			p.name, id.Provider, providers.ErrUnavailable, providers.ErrConfiguration)
	}
	login := loginName(id)
	res, err := p.client.Lookup(ctx, login)
	switch {
	case errors.Is(err, ldapauth.ErrInvalidCredentials):
		return providers.Identity{}, fmt.Errorf("ldap provider %q: re-check of %q: no entry matches the name any more: %w",
			p.name, id.Username, providers.ErrAccountGone)
	case errors.Is(err, ldapauth.ErrConfiguration):
		return providers.Identity{}, fmt.Errorf("ldap provider %q: re-check of %q: %w: %w",
			p.name, id.Username, providers.ErrUnavailable, mapErr(err))
	case err != nil:
		return providers.Identity{}, fmt.Errorf("ldap provider %q: re-check of %q: %w", p.name, id.Username, mapErr(err))
	}
	fresh := p.identity(ctx, "re-check", res, login)
	if fresh.Subject != id.Subject {
		return providers.Identity{}, fmt.Errorf("ldap provider %q: re-check of %q: the entry the name finds now is another one (subject %q, was %q): %w",
			p.name, id.Username, fresh.Subject, id.Subject, providers.ErrAccountGone)
	}
	if res.Disabled != "" {
		return providers.Identity{}, fmt.Errorf("ldap provider %q: re-check of %q: the account is disabled (%s): %w",
			p.name, id.Username, res.Disabled, providers.ErrAccountGone)
	}
	// What the directory says now; when and how the login happened stays.
	fresh.AuthTime, fresh.MFA, fresh.MFATime, fresh.Expiry = id.AuthTime, id.MFA, id.MFATime, id.Expiry
	return fresh, nil
}
