package main

import (
	"fmt"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/yamltypes"
)

// loginProtectionConfig is the top-level login_protection block: brute-force
// protection of every password login (browser form, JSON API,
// AssumeRoleWithLDAPIdentity). See broker.LoginProtection.
//
//	login_protection:
//	  enabled: true           # default
//	  window: 15m             # failures are counted this long
//	  user_threshold: 5       # failures per (provider, username or account) from one address: lock it for that address
//	  account_threshold: 20   # ... from every address together: lock it everywhere (default 4 × user_threshold)
//	  ip_threshold: 50        # failures per client address (IPv6: /64) that lock it
//	  lock_duration: 1m       # first lock; doubles with every further lock
//	  max_lock_duration: 1h   # cap
type loginProtectionConfig struct {
	Enabled          *bool              `yaml:"enabled"`
	Window           yamltypes.Duration `yaml:"window"`
	UserThreshold    int                `yaml:"user_threshold"`
	AccountThreshold int                `yaml:"account_threshold"`
	IPThreshold      int                `yaml:"ip_threshold"`
	LockDuration     yamltypes.Duration `yaml:"lock_duration"`
	MaxLockDuration  yamltypes.Duration `yaml:"max_lock_duration"`
}

func (c *loginProtectionConfig) applyDefaults() {
	d := broker.LoginProtection{
		Window: time.Duration(c.Window), UserThreshold: c.UserThreshold, AccountThreshold: c.AccountThreshold,
		IPThreshold: c.IPThreshold, LockDuration: time.Duration(c.LockDuration), MaxLockDuration: time.Duration(c.MaxLockDuration),
	}.WithDefaults()
	if c.Enabled == nil {
		on := true
		c.Enabled = &on
	}
	c.Window, c.UserThreshold, c.AccountThreshold, c.IPThreshold = yamltypes.Duration(d.Window), d.UserThreshold, d.AccountThreshold, d.IPThreshold
	c.LockDuration, c.MaxLockDuration = yamltypes.Duration(d.LockDuration), yamltypes.Duration(d.MaxLockDuration)
}

// broker is the block as the broker takes it.
func (c loginProtectionConfig) broker() broker.LoginProtection {
	return broker.LoginProtection{
		Disabled:         c.Enabled != nil && !*c.Enabled,
		Window:           time.Duration(c.Window),
		UserThreshold:    c.UserThreshold,
		AccountThreshold: c.AccountThreshold,
		IPThreshold:      c.IPThreshold,
		LockDuration:     time.Duration(c.LockDuration),
		MaxLockDuration:  time.Duration(c.MaxLockDuration),
	}
}

func (c loginProtectionConfig) validate() []error {
	var errs []error
	for _, err := range c.broker().Validate() {
		errs = append(errs, fmt.Errorf("login_protection.%w", err))
	}
	return errs
}
