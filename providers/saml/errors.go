package saml

import (
	"errors"
	"fmt"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
)

// Error classes. Every verification failure is an *Error whose Class is one
// of these sentinels, so callers choose their answer with errors.Is. They
// are awsspec's failure classes of a SAML Response (one definition, shared
// with the STS, which answers each with its AWS error), plus
// ErrInResponseTo, which only the browser ACS reports:
//
//	ErrSignature        -> STS InvalidIdentityToken "Response signature invalid"
//	ErrExpired          -> STS ExpiredTokenException "Response has expired"
//	ErrIssuedTooLongAgo -> STS ExpiredTokenException "Token must be redeemed within 5 minutes..." (an ErrExpired)
//	ErrNotYetValid      -> STS InvalidIdentityToken
//	ErrAudience         -> STS InvalidIdentityToken "Response does not contain the required audience"
//	ErrRecipient        -> STS InvalidIdentityToken
//	ErrInResponseTo     -> (ACS only) generic 403
//	ErrIssuer           -> STS InvalidIdentityToken "Issuer not present in specified provider"
//	ErrReplay           -> STS InvalidIdentityToken
//	ErrStatus           -> STS IDPRejectedClaim
//	ErrMalformed        -> STS InvalidIdentityToken
//	ErrTooLarge         -> STS ValidationError (400) / ACS 413
//
// Verification errors also match providers.ErrInvalidCredentials, so the
// broker can treat them like any failed login. None of them carries any part
// of the SAML document: the Reason is a fixed description for the operator.
//
// ErrUnavailable is not a verdict on the Response: the IdP's metadata or the
// replay cache could not be reached. It is a wrapped error (not an *Error),
// retryable, and not an invalid credential.
var (
	// ErrSignature: no signature, a signature on the wrong element, an
	// untrusted key, a weak algorithm, a digest mismatch, or an encrypted
	// assertion that could not be decrypted (all deliberately one class, so
	// that decryption failures are no oracle).
	ErrSignature = awsspec.ErrSAMLSignature
	// ErrExpired: a NotOnOrAfter or SessionNotOnOrAfter has passed.
	ErrExpired = awsspec.ErrSAMLExpired
	// ErrIssuedTooLongAgo: IssueInstant is older than MaxIssueAge (plus the
	// skew). It is an ErrExpired for errors.Is.
	ErrIssuedTooLongAgo = awsspec.ErrSAMLIssuedTooLongAgo
	// ErrNotYetValid: NotBefore or IssueInstant is in the future (beyond the skew).
	ErrNotYetValid = awsspec.ErrSAMLNotYetValid
	// ErrAudience: AudienceRestriction missing, or one of them names none of
	// the accepted audiences.
	ErrAudience = awsspec.ErrSAMLAudience
	// ErrRecipient: Recipient or Destination is missing or not an accepted URL.
	ErrRecipient = awsspec.ErrSAMLRecipient
	// ErrIssuer: the Response or Assertion Issuer is not the IdP's entity ID.
	ErrIssuer = awsspec.ErrSAMLIssuer
	// ErrReplay: the assertion ID was already used.
	ErrReplay = awsspec.ErrSAMLReplay
	// ErrStatus: the IdP answered with a non-success status.
	ErrStatus = awsspec.ErrSAMLStatus
	// ErrMalformed: the document is not a well-formed, unambiguous SAML
	// Response (DTD, several assertions, duplicate IDs, missing elements...).
	ErrMalformed = awsspec.ErrSAMLMalformed
	// ErrTooLarge: the input exceeds the size limit.
	ErrTooLarge = awsspec.ErrSAMLTooLarge
	// ErrUnavailable: the IdP's metadata or the replay cache cannot be reached.
	ErrUnavailable = awsspec.ErrSAMLUnavailable

	// ErrInResponseTo: InResponseTo does not match an outstanding request, or
	// an unsolicited response arrived while IdP-initiated login is off.
	ErrInResponseTo = errors.New("saml: response does not answer an outstanding request")
)

// Error is a verification failure: a Class (one of the sentinels above) and
// an internal Reason for logs and audit. Error() never contains document content.
type Error struct {
	Class  error
	Reason string
}

// Error returns the class text and the reason.
func (e *Error) Error() string { return e.Class.Error() + ": " + e.Reason }

// Unwrap exposes the class and providers.ErrInvalidCredentials.
func (e *Error) Unwrap() []error { return []error{e.Class, providers.ErrInvalidCredentials} }

// fail builds an *Error. Arguments must never be document content.
func fail(class error, format string, args ...any) *Error {
	return &Error{Class: class, Reason: fmt.Sprintf(format, args...)}
}

// unavailable wraps a metadata or replay-cache failure in ErrUnavailable.
func unavailable(what string, err error) error {
	return fmt.Errorf("saml: %s: %w: %w", what, ErrUnavailable, err)
}
