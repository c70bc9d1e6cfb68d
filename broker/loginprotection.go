package broker

import (
	"fmt"
	"time"
)

// LoginProtection configures the brute-force protection of logins (the
// browser form, the JSON API and AssumeRoleWithLDAPIdentity alike, and the
// second factors offered with a password or alone).
//
// Failures are counted in the shared Store per (provider, username) and
// per (provider, account) — for providers that name the account behind a
// typed username (providers.AccountAuthenticator): a user filter that
// accepts uid or mail gives one account several names, and each name must
// not get its own allowance — first from each client address
// (UserThreshold), and from every address together only at a higher
// threshold (AccountThreshold); and per client address over every account
// (IPThreshold). So a stranger who knows a username locks it only for the
// stranger's own address, and the account is locked everywhere only when
// failures come from many addresses; even then, a person who offers a
// second factor (a TOTP code) with a right password is let in when the code
// is right. Second-factor failures count per person from every address
// (AccountThreshold) and per address (UserThreshold, IPThreshold); that
// lock holds everyone.
//
// When a counter reaches its threshold within Window the subject is locked
// for LockDuration; every further lock doubles the duration up to
// MaxLockDuration. While locked, logins are answered exactly like a wrong
// password, after about as long, and the password is not tried. A
// successful login resets the account's counters (not the address's; and
// not the account-wide ones when their lock was passed over with a second
// factor). Zero fields take the defaults below.
type LoginProtection struct {
	// Disabled turns the protection off.
	Disabled bool
	// Window is how long failures are counted (default 15m).
	Window time.Duration
	// UserThreshold is the number of failures for one username (or
	// account) at one provider from one client address that locks it for
	// that address (default 5).
	UserThreshold int
	// AccountThreshold is the number of failures for one username (or
	// account, or person's second factor) at one provider from every
	// address together that locks it everywhere (default four times
	// UserThreshold; at least UserThreshold).
	AccountThreshold int
	// IPThreshold is the number of failures from one client address (an
	// IPv6 /64) that locks it (default 50).
	IPThreshold int
	// LockDuration is the first lock (default 1m).
	LockDuration time.Duration
	// MaxLockDuration caps the doubling (default 1h).
	MaxLockDuration time.Duration
}

// Defaults of LoginProtection.
const (
	DefaultLockoutWindow = 15 * time.Minute
	DefaultUserThreshold = 5
	// DefaultAccountThresholdFactor times UserThreshold is the default
	// AccountThreshold.
	DefaultAccountThresholdFactor = 4
	DefaultIPThreshold            = 50
	DefaultLockDuration           = time.Minute
	DefaultMaxLockDuration        = time.Hour
)

// WithDefaults returns c with every zero field set to its default.
func (c LoginProtection) WithDefaults() LoginProtection {
	if c.Window == 0 {
		c.Window = DefaultLockoutWindow
	}
	if c.UserThreshold == 0 {
		c.UserThreshold = DefaultUserThreshold
	}
	if c.AccountThreshold == 0 && c.UserThreshold > 0 {
		c.AccountThreshold = DefaultAccountThresholdFactor * c.UserThreshold
	}
	if c.IPThreshold == 0 {
		c.IPThreshold = DefaultIPThreshold
	}
	if c.LockDuration == 0 {
		c.LockDuration = DefaultLockDuration
	}
	if c.MaxLockDuration == 0 {
		c.MaxLockDuration = DefaultMaxLockDuration
	}
	return c
}

// Validate reports nonsensical settings (after defaults), each naming the
// YAML key of the login_protection block.
func (c LoginProtection) Validate() []error {
	c = c.WithDefaults()
	var errs []error
	if c.Window < time.Second {
		errs = append(errs, fmt.Errorf("window: %s must be at least 1s", c.Window))
	}
	if c.UserThreshold < 1 {
		errs = append(errs, fmt.Errorf("user_threshold: %d must be at least 1", c.UserThreshold))
	}
	if c.UserThreshold >= 1 && c.AccountThreshold < c.UserThreshold {
		errs = append(errs, fmt.Errorf("account_threshold: %d must be at least user_threshold (%d)", c.AccountThreshold, c.UserThreshold))
	}
	if c.IPThreshold < 1 {
		errs = append(errs, fmt.Errorf("ip_threshold: %d must be at least 1", c.IPThreshold))
	}
	if c.LockDuration < time.Second {
		errs = append(errs, fmt.Errorf("lock_duration: %s must be at least 1s", c.LockDuration))
	}
	if c.MaxLockDuration < c.LockDuration {
		errs = append(errs, fmt.Errorf("max_lock_duration: %s must not be shorter than lock_duration (%s)", c.MaxLockDuration, c.LockDuration))
	}
	return errs
}
