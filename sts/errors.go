package sts

import (
	"fmt"
	"net/http"
	"strings"
)

// Error is an AWS STS error as it appears on the wire: a code from the AWS
// catalogue (STS-SPEC.md §3), a public message and the HTTP status. The
// message is shown to clients and must never contain a secret or an internal
// cause; internal causes go to the audit event instead.
type Error struct {
	Code    string
	Message string
	Status  int
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Type is the AWS fault type: "Receiver" for server faults (5xx), "Sender"
// otherwise.
func (e *Error) Type() string {
	if e.Status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

// Public AWS messages used in several places.
const (
	msgInvalidClientToken = "The security token included in the request is invalid."
	msgExpiredToken       = "The security token included in the request is expired"
	msgSignatureMismatch  = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgMissingAuth        = "Request is missing Authentication Token"
	msgKeyUnavailable     = "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements"
	msgNotJWT             = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
	msgInternal           = "An internal error occurred. Please retry."
)

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Status: status}
}

func apiError(status int, code, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: status}
}

func errAccessDenied(msg string) *Error { return apiError(http.StatusForbidden, "AccessDenied", msg) }
func errInvalidIdentityToken(msg string) *Error {
	return apiError(http.StatusBadRequest, "InvalidIdentityToken", msg)
}
func errMalformedPolicy(msg string) *Error {
	return apiError(http.StatusBadRequest, "MalformedPolicyDocument", msg)
}
func errInvalidClientToken() *Error {
	return apiError(http.StatusForbidden, "InvalidClientTokenId", msgInvalidClientToken)
}
func errExpiredToken() *Error { return apiError(http.StatusForbidden, "ExpiredToken", msgExpiredToken) }
func errSignatureMismatch(msg string) *Error {
	if msg == "" {
		msg = msgSignatureMismatch
	}
	return apiError(http.StatusForbidden, "SignatureDoesNotMatch", msg)
}
func errIncompleteSignature(msg string) *Error {
	return apiError(http.StatusBadRequest, "IncompleteSignature", msg)
}
func errInternal() *Error {
	return newError(http.StatusInternalServerError, "InternalFailure", msgInternal)
}

// validation collects model-constraint violations and renders them the way
// AWS does: "1 validation error detected: Value 'x' at 'roleSessionName'
// failed to satisfy constraint: Member must ...", several joined with "; ".
type validation struct{ msgs []string }

// add records a violation for member (camelCase) with value v. sensitive
// values are never echoed.
func (v *validation) add(member, value string, sensitive bool, constraint string) {
	var b strings.Builder
	if sensitive {
		b.WriteString("Value at '")
	} else {
		b.WriteString("Value '")
		b.WriteString(value)
		b.WriteString("' at '")
	}
	b.WriteString(member)
	b.WriteString("' failed to satisfy constraint: Member must ")
	b.WriteString(constraint)
	v.msgs = append(v.msgs, b.String())
}

func (v *validation) null(member string) {
	v.msgs = append(v.msgs, "Value null at '"+member+"' failed to satisfy constraint: Member must not be null")
}

func (v *validation) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return errValidation("1 validation error detected: " + v.msgs[0])
	default:
		return errValidation(fmt.Sprintf("%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; ")))
	}
}

func errValidation(msg string) *Error { return apiError(http.StatusBadRequest, "ValidationError", msg) }
