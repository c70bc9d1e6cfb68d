package main

import (
	"fmt"
	"time"

	"github.com/idbroker/idbroker/internal/ratelimit"
	"github.com/idbroker/idbroker/internal/yamltypes"
)

// limitsConfig is the top-level limits block: how fast credentials may be
// issued, per person, per role and per client address, each optional (no
// block: no limit). The limits are kept in the state store, so replicas on
// one Redis share them. See internal/ratelimit.
//
//	limits:
//	  per_user:   {rate: 10, per: 1m, burst: 10}   # one person, every surface
//	  per_role:   {rate: 100, per: 1m}             # one role, whoever asks
//	  per_source: {rate: 30, per: 1m}              # one client address (IPv6: /64)
type limitsConfig struct {
	PerUser   *limitRule `yaml:"per_user"`
	PerRole   *limitRule `yaml:"per_role"`
	PerSource *limitRule `yaml:"per_source"`
}

// limitRule is one limit: rate issuances per per, burst at once (default:
// rate).
type limitRule struct {
	Rate  int                `yaml:"rate"`
	Per   yamltypes.Duration `yaml:"per"`
	Burst int                `yaml:"burst"`
}

func (r *limitRule) rule() *ratelimit.Rule {
	if r == nil {
		return nil
	}
	return &ratelimit.Rule{Rate: r.Rate, Per: time.Duration(r.Per), Burst: r.Burst}
}

// limits is the block as internal/ratelimit takes it.
func (c limitsConfig) limits() ratelimit.Limits {
	return ratelimit.Limits{PerUser: c.PerUser.rule(), PerRole: c.PerRole.rule(), PerSource: c.PerSource.rule()}
}

func (c limitsConfig) validate() []error {
	var errs []error
	for _, err := range c.limits().Validate() {
		errs = append(errs, fmt.Errorf("limits.%w", err))
	}
	return errs
}
