package broker

import (
	"fmt"
	"time"
)

// LoginProtection configures the brute-force protection of password logins
// (the browser form, the JSON API and AssumeRoleWithLDAPIdentity alike).
//
// Failures are counted per (provider, username) and per client address in
// the shared Store, and, for providers that name the account behind a
// typed username (providers.AccountAuthenticator), per (provider, account)
// too: a user filter that accepts uid or mail gives one account several
// names, and each name must not get its own allowance. When a counter
// reaches its threshold within Window the account (or address) is locked
// for LockDuration; every further lock doubles the duration up to
// MaxLockDuration. While locked, logins are answered exactly like a wrong
// password, after about as long, and the password is not tried. A
// successful login resets the account's counters (not the address's).
// Zero fields take the defaults below.
type LoginProtection struct {
	// Disabled turns the protection off.
	Disabled bool
	// Window is how long failures are counted (default 15m).
	Window time.Duration
	// UserThreshold is the number of failures for one username at one
	// provider that locks it (default 5).
	UserThreshold int
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
	DefaultLockoutWindow   = 15 * time.Minute
	DefaultUserThreshold   = 5
	DefaultIPThreshold     = 50
	DefaultLockDuration    = time.Minute
	DefaultMaxLockDuration = time.Hour
)

// WithDefaults returns c with every zero field set to its default.
func (c LoginProtection) WithDefaults() LoginProtection {
	if c.Window == 0 {
		c.Window = DefaultLockoutWindow
	}
	if c.UserThreshold == 0 {
		c.UserThreshold = DefaultUserThreshold
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
