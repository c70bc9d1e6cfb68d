package saml

import (
	"errors"
	"fmt"

	"github.com/idbroker/idbroker/providers"
)

// Error classes. Every error returned by the verifier is an *Error whose
// Class is one of these sentinels, so callers map them with errors.Is:
//
//	ErrSignature     -> STS InvalidIdentityToken "Response signature invalid"
//	ErrExpired       -> STS ExpiredToken "Response has expired"
//	ErrNotYetValid   -> STS InvalidIdentityToken
//	ErrAudience      -> STS InvalidIdentityToken "Response does not contain the required audience"
//	ErrRecipient     -> STS InvalidIdentityToken
//	ErrInResponseTo  -> (ACS only) generic 403
//	ErrIssuer        -> STS InvalidIdentityToken "Issuer not present in specified provider"
//	ErrReplay        -> STS InvalidIdentityToken
//	ErrStatus        -> STS InvalidIdentityToken / IDPRejectedClaim
//	ErrMalformed     -> STS InvalidIdentityToken
//	ErrTooLarge      -> STS ValidationError (400) / ACS 413
//
// Verification errors also match providers.ErrInvalidCredentials, so the
// broker can treat them like any failed login. None of them carries any part
// of the SAML document: the Reason is a fixed description for the operator.
var (
	// ErrSignature: no signature, a signature on the wrong element, an
	// untrusted key, a weak algorithm, a digest mismatch, or an encrypted
	// assertion that could not be decrypted (all deliberately one class, so
	// that decryption failures are no oracle).
	ErrSignature = errors.New("saml: response signature invalid")
	// ErrExpired: a NotOnOrAfter has passed, or IssueInstant is too old.
	ErrExpired = errors.New("saml: response has expired")
	// ErrNotYetValid: NotBefore or IssueInstant is in the future (beyond the skew).
	ErrNotYetValid = errors.New("saml: response is not yet valid")
	// ErrAudience: AudienceRestriction missing, or one of them names none of
	// the accepted audiences.
	ErrAudience = errors.New("saml: response does not contain the required audience")
	// ErrRecipient: Recipient or Destination is missing or not an accepted URL.
	ErrRecipient = errors.New("saml: recipient or destination mismatch")
	// ErrInResponseTo: InResponseTo does not match an outstanding request, or
	// an unsolicited response arrived while IdP-initiated login is off.
	ErrInResponseTo = errors.New("saml: response does not answer an outstanding request")
	// ErrIssuer: the Response or Assertion Issuer is not the IdP's entity ID.
	ErrIssuer = errors.New("saml: issuer mismatch")
	// ErrReplay: the assertion ID was already used.
	ErrReplay = errors.New("saml: assertion replayed")
	// ErrStatus: the IdP answered with a non-success status.
	ErrStatus = errors.New("saml: identity provider returned an error status")
	// ErrMalformed: the document is not a well-formed, unambiguous SAML
	// Response (DTD, several assertions, duplicate IDs, missing elements...).
	ErrMalformed = errors.New("saml: malformed response")
	// ErrTooLarge: the input exceeds the size limit.
	ErrTooLarge = errors.New("saml: response too large")
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
