package awsspec

import "time"

// The range of a session's lifetime (DurationSeconds), and the lifetime
// AWS issues when none is asked for.
const (
	MinSessionDuration     = 15 * time.Minute // 900 seconds
	MaxSessionDuration     = 12 * time.Hour   // 43200 seconds
	DefaultSessionDuration = time.Hour        // 3600 seconds

	MinDurationSeconds     = int64(MinSessionDuration / time.Second)
	MaxDurationSeconds     = int64(MaxSessionDuration / time.Second)
	DefaultDurationSeconds = int64(DefaultSessionDuration / time.Second)
)

// ValidDurationSeconds reports whether n seconds lies in the range every
// STS action accepts for DurationSeconds (a role's own maximum may be
// lower; that is the role's rule, not this one).
func ValidDurationSeconds(n int64) bool {
	return n >= MinDurationSeconds && n <= MaxDurationSeconds
}
