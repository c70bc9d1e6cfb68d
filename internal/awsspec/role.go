package awsspec

import "time"

// The range of a role's MaxSessionDuration (IAM), and its value when the
// role does not set one. The upper bound is MaxSessionDuration.
const (
	MinRoleMaxSessionDuration     = time.Hour
	DefaultRoleMaxSessionDuration = time.Hour
)
