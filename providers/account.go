package providers

import "context"

// Account is the upstream account a typed username names, found without a
// password (AccountAuthenticator.FindAccount).
type Account struct {
	// Key names the account canonically, the same for every name the
	// upstream accepts for it (uid, mail, their case variants), so that a
	// caller can count failed logins per account. "" when no account
	// matched the username.
	Key string
	// Ref is the provider's own handle on the account; only the provider
	// that found the account reads it.
	Ref any
}

// AccountAuthenticator is a PasswordAuthenticator whose login has two
// steps, so that a caller can decide between them whether the account may
// be tried at all (the broker's per-account lock-out): FindAccount names the
// account behind a typed username, LoginAccount tries the password on it.
// Login is the two steps in a row.
type AccountAuthenticator interface {
	PasswordAuthenticator
	// FindAccount looks username up without a password. An unknown user is
	// not an error: it returns an Account whose Key is "", and LoginAccount
	// refuses that after the same work as a wrong password, so that timing
	// tells nothing. A username that cannot be valid returns an error
	// wrapping ErrInvalidCredentials; an unreachable or misconfigured
	// upstream, ErrUnavailable or ErrConfiguration.
	FindAccount(ctx context.Context, username string) (Account, error)
	// LoginAccount tries password on an account FindAccount returned (by
	// the same provider) and returns the identity. An unknown account, a
	// wrong or empty password all return an error wrapping
	// ErrInvalidCredentials.
	LoginAccount(ctx context.Context, acct Account, password string) (Identity, error)
}
