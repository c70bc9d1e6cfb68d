package awsspec

// The length of an ARN parameter of an STS action (RoleArn, PrincipalArn,
// PolicyArns.member.N.arn), in characters.
const (
	MinARNLen = 20
	MaxARNLen = 2048
)
