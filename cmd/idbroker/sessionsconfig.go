package main

import (
	"fmt"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/yamltypes"
)

// sessionsConfig is the top-level sessions block: the broker sessions every
// login creates. See broker.Sessions.
//
//	sessions:
//	  duration: 8h            # how long a session lasts (15m..12h; never past the upstream login)
//	  recheck_interval: 5m    # least time between two re-checks at the upstream (30s..1h)
type sessionsConfig struct {
	Duration        yamltypes.Duration `yaml:"duration"`
	RecheckInterval yamltypes.Duration `yaml:"recheck_interval"`
}

// broker is the block as the broker takes it (zero fields: its defaults).
func (c sessionsConfig) broker() broker.Sessions {
	return broker.Sessions{Duration: time.Duration(c.Duration), RecheckInterval: time.Duration(c.RecheckInterval)}
}

func (c sessionsConfig) validate() []error {
	var errs []error
	for _, err := range c.broker().Validate() {
		errs = append(errs, fmt.Errorf("sessions.%w", err))
	}
	return errs
}
