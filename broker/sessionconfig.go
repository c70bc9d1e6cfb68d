package broker

import (
	"fmt"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// Sessions configures the broker sessions every successful login creates
// (session.go): how long one lasts and how often it asks the upstream again
// whether its person still is who it says (recheck.go). Zero fields take
// the defaults below.
type Sessions struct {
	// Duration is how long a session lasts (default 8h, 15m..12h). A
	// session never outlives its upstream login (Identity.Expiry, e.g.
	// SAML SessionNotOnOrAfter).
	Duration time.Duration
	// RecheckInterval is the least time between two re-checks of one
	// session at its upstream (default 5m, 30s..1h).
	RecheckInterval time.Duration
}

// Defaults and bounds of Sessions.
const (
	DefaultSessionDuration = 8 * time.Hour
	MinSessionDuration     = 15 * time.Minute
	MaxSessionDuration     = awsspec.MaxSessionDuration
	DefaultRecheckInterval = 5 * time.Minute
	MinRecheckInterval     = 30 * time.Second
	MaxRecheckInterval     = time.Hour
)

// WithDefaults returns c with every zero field set to its default.
func (c Sessions) WithDefaults() Sessions {
	if c.Duration == 0 {
		c.Duration = DefaultSessionDuration
	}
	if c.RecheckInterval == 0 {
		c.RecheckInterval = DefaultRecheckInterval
	}
	return c
}

// Validate reports settings out of bounds (after defaults), each naming
// the YAML key of the sessions block.
func (c Sessions) Validate() []error {
	c = c.WithDefaults()
	var errs []error
	if c.Duration < MinSessionDuration || c.Duration > MaxSessionDuration {
		errs = append(errs, fmt.Errorf("duration: %s must be between %s and %s", c.Duration, MinSessionDuration, MaxSessionDuration))
	}
	if c.RecheckInterval < MinRecheckInterval || c.RecheckInterval > MaxRecheckInterval {
		errs = append(errs, fmt.Errorf("recheck_interval: %s must be between %s and %s", c.RecheckInterval, MinRecheckInterval, MaxRecheckInterval))
	}
	return errs
}
