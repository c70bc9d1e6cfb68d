// Package providers defines the contract between upstream identity sources
// and the rest of idbroker: the Identity a login produces, the capability
// interfaces a provider may implement, and the sentinel errors they return.
//
// One sub-package exists per upstream kind (static, ldap, oidc, saml). They
// never import the broker or the STS.
package providers

import (
	"context"
	"errors"
	"time"
)

// Identity is who a user is, as an upstream source vouched for it.
//
// Groups are as the provider normalised them (case folding, DN form); the
// mapping rules match on them. Attributes carry any further claims or
// directory attributes the provider was configured to keep.
type Identity struct {
	// Provider is the configured name of the provider that authenticated the user.
	Provider string `json:"provider"`
	// Subject is stable and unique within the provider (OIDC iss+sub, SAML
	// NameID, LDAP entryUUID or DN, static user name).
	Subject string `json:"subject"`
	// Username is the login name the user typed or the upstream preferred name.
	Username string `json:"username"`
	// Email is the user's email address; EmailVerified says the upstream vouched for it.
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	// DisplayName is a human-readable name, when the upstream has one.
	DisplayName string `json:"display_name,omitempty"`
	// Groups lists group names and/or DNs the user belongs to.
	Groups []string `json:"groups,omitempty"`
	// Attributes holds other claims or attributes kept for rules and tags.
	Attributes map[string][]string `json:"attributes,omitempty"`
	// MFA says the upstream reported that the login used multi-factor authentication.
	MFA bool `json:"mfa"`
	// MFATime is when that multi-factor authentication happened (zero when
	// unknown or when there was none).
	MFATime time.Time `json:"mfa_time,omitempty"`
	// AuthTime is when the upstream authenticated the user (zero if unknown).
	AuthTime time.Time `json:"auth_time,omitempty"`
	// Expiry is when the upstream assertion or token stops being valid (zero
	// if unbounded); credential durations are capped by it.
	Expiry time.Time `json:"expiry,omitempty"`
	// Upstream is opaque state the provider needs to re-check this login
	// later without the password (an OIDC refresh token), handed back
	// unchanged to Refresher.Refresh. It is a secret: never logged, never
	// shown, kept only encrypted, and left out of JSON.
	Upstream []byte `json:"-"`
}

// PasswordAuthenticator is implemented by providers that check a username and
// password themselves (static users, LDAP).
type PasswordAuthenticator interface {
	// Login authenticates the user. An unknown user, a wrong password and
	// an empty one all return an error wrapping ErrInvalidCredentials: the
	// provider refuses an empty password itself (callers do not filter
	// it), so that no upstream ever sees an unauthenticated attempt.
	Login(ctx context.Context, username, password string) (Identity, error)
}

// Lookuper is implemented by providers that can find a user without a
// password (static users, LDAP through the service account). It is for
// administrators' tools such as `idbroker explain --provider P --user U`
// and must never be reachable from an HTTP route: a look-up proves nothing
// about who is asking.
type Lookuper interface {
	// Lookup returns the Identity a successful login of username would
	// produce. An unknown user returns an error wrapping
	// ErrInvalidCredentials (the administrator is told "no such user");
	// other errors wrap ErrUnavailable or ErrConfiguration.
	Lookup(ctx context.Context, username string) (Identity, error)
}

// Refresher is a provider that can ask the upstream again, without the
// password, whether the person a login named still exists and what they
// are now (a broker session re-checks before it issues again).
type Refresher interface {
	// Refresh returns the identity as the upstream sees it now: groups and
	// attributes read again, Upstream possibly rotated. It returns an error
	// wrapping ErrAccountGone when the person no longer exists or is
	// disabled; ErrUnavailable when the upstream cannot be asked (the
	// caller refuses to issue and keeps the session: fail closed); and id
	// unchanged with a nil error when this particular login cannot be
	// re-checked (an OIDC login that got no refresh token).
	//
	// With an ErrUnavailable, a returned Identity whose Upstream is not
	// empty carries state the provider already rotated before the failure
	// (an OIDC refresh token redeemed, then userinfo unreachable): the
	// caller keeps that Upstream in place of the old one, which is dead,
	// and still refuses. Two re-checks of one login must not run at once
	// when the upstream rotates its state (the second would present a dead
	// refresh token and end the login).
	Refresh(ctx context.Context, id Identity) (Identity, error)
}

// Sentinel errors shared by all providers. Implementations wrap them with %w.
var (
	// ErrInvalidCredentials means the user could not be authenticated. It is
	// the same for an unknown user, a wrong password, an empty password and a
	// locked account, so callers cannot tell them apart.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrUnavailable means the upstream could not be reached or answered in time.
	ErrUnavailable = errors.New("identity provider unavailable")
	// ErrConfiguration means the provider is misconfigured (for example an
	// LDAP search that matches several entries).
	ErrConfiguration = errors.New("identity provider misconfigured")
	// ErrAccountGone means a re-check found that the person a login named
	// no longer exists upstream or is disabled: the session ends.
	ErrAccountGone = errors.New("the account no longer exists or is disabled")
)
