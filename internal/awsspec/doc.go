// Package awsspec holds the facts of AWS STS and IAM that more than one of
// idbroker's packages must agree on: ARN forms, the session-duration range,
// the alphabets and lengths of session names and tags, the AWS SAML
// federation attributes and endpoints, and the failure classes a token or
// assertion verifier reports so that the STS can answer with AWS's distinct
// error codes.
//
// Each fact has its home here and nowhere else. The STS enforces them, the
// mapping checks grants against them before the STS is asked, the broker
// negotiates with them, and the providers that feed the STS classify their
// failures with them. The package imports nothing of idbroker's, so every
// package may import it without crossing the house rules (DESIGN.md).
// Messages stay with their packages: the STS words a refusal the way AWS
// does, the mapping the way an operator reads it; the rule they apply is
// this package's.
package awsspec
