package awsspec

import "errors"

// Failure classes of a web identity token (an OIDC ID token). A verifier
// wraps exactly one of them in every error, and the STS answers each with
// its own AWS error (STS-SPEC §6).
var (
	// ErrTokenExpired: valid in every respect but its exp, which has passed
	// -> ExpiredTokenException.
	ErrTokenExpired = errors.New("web identity token expired")
	// ErrKeyUnavailable: the issuer's keys cannot be obtained (discovery or
	// JWKS unreachable, slow, too large, malformed) -> IDPCommunicationError
	// "Couldn't retrieve verification key ...".
	ErrKeyUnavailable = errors.New("verification key unavailable")
	// ErrAudience: issued for none of the provider's client IDs ->
	// InvalidIdentityToken "Incorrect token audience".
	ErrAudience = errors.New("token audience not accepted")
	// ErrInvalidToken: malformed, badly signed, from another issuer, a
	// refused algorithm, missing or ill-typed claims -> InvalidIdentityToken.
	ErrInvalidToken = errors.New("invalid web identity token")
	// ErrKeyNotFound: the issuer's key set, as last fetched, has no key for
	// the token's kid. It is an ErrInvalidToken for errors.Is (a browser
	// login treats it as a refused token), and AWS answers it with the
	// key-retrieval message of ErrKeyUnavailable.
	ErrKeyNotFound error = &subclass{msg: "invalid token (no such signing key)", parent: ErrInvalidToken}
)

// Failure classes of a SAML Response. A verifier wraps exactly one of them
// in every error, and the STS answers each with its own AWS error
// (STS-SPEC §3, §5).
var (
	// ErrSAMLSignature: no valid signature by a trusted key (XSW, exclusion,
	// weak algorithm, digest mismatch) -> InvalidIdentityToken "Response signature invalid".
	ErrSAMLSignature = errors.New("saml response signature invalid")
	// ErrSAMLExpired: a NotOnOrAfter has passed -> ExpiredTokenException "Response has expired".
	ErrSAMLExpired = errors.New("saml response has expired")
	// ErrSAMLIssuedTooLongAgo: IssueInstant older than the redemption window
	// -> ExpiredTokenException "Token must be redeemed within 5 minutes of
	// issuance". It is an ErrSAMLExpired for errors.Is.
	ErrSAMLIssuedTooLongAgo error = &subclass{msg: "saml response issued too long ago", parent: ErrSAMLExpired}
	// ErrSAMLNotYetValid: NotBefore or IssueInstant in the future -> InvalidIdentityToken.
	ErrSAMLNotYetValid = errors.New("saml response not yet valid")
	// ErrSAMLAudience -> InvalidIdentityToken "Response does not contain the required audience".
	ErrSAMLAudience = errors.New("saml response audience mismatch")
	// ErrSAMLRecipient: Recipient or Destination missing or not accepted -> InvalidIdentityToken.
	ErrSAMLRecipient = errors.New("saml response recipient mismatch")
	// ErrSAMLIssuer -> InvalidIdentityToken "Issuer not present in specified provider".
	ErrSAMLIssuer = errors.New("saml response issuer mismatch")
	// ErrSAMLReplay: the assertion was already redeemed -> InvalidIdentityToken.
	ErrSAMLReplay = errors.New("saml assertion replayed")
	// ErrSAMLStatus: the IdP answered with a non-success status -> IDPRejectedClaim.
	ErrSAMLStatus = errors.New("saml response status is not success")
	// ErrSAMLTooLarge -> ValidationError.
	ErrSAMLTooLarge = errors.New("saml response too large")
	// ErrSAMLUnavailable: the provider's metadata (or the replay store)
	// cannot be reached -> IDPCommunicationError.
	ErrSAMLUnavailable = errors.New("saml provider unavailable")
	// ErrSAMLMalformed: not a well-formed, unambiguous SAML Response -> InvalidIdentityToken.
	ErrSAMLMalformed = errors.New("saml response malformed")
)

// subclass is a sentinel that is also its parent class for errors.Is.
type subclass struct {
	msg    string
	parent error
}

func (e *subclass) Error() string { return e.msg }
func (e *subclass) Unwrap() error { return e.parent }
