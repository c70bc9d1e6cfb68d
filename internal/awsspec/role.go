package awsspec

import "time"

// The range of a role's MaxSessionDuration, and the value a role has when
// none is configured. A session of the role may last at most that long
// (within MinSessionDuration..MaxSessionDuration).
const (
	MinRoleMaxSessionDuration     = time.Hour
	MaxRoleMaxSessionDuration     = MaxSessionDuration
	DefaultRoleMaxSessionDuration = time.Hour
)

// ValidRoleMaxSessionDuration reports whether d may be a role's
// MaxSessionDuration: whole seconds from one to twelve hours.
func ValidRoleMaxSessionDuration(d time.Duration) bool {
	return d >= MinRoleMaxSessionDuration && d <= MaxRoleMaxSessionDuration && d%time.Second == 0
}
