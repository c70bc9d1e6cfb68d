// Package oidc verifies OpenID Connect ID tokens and JWTs from upstream
// issuers and drives the OIDC authorization-code flow (with PKCE) for
// browser logins.
//
// It builds on github.com/coreos/go-oidc/v3 and golang.org/x/oauth2.
// go-oidc does OIDC discovery (the document must name exactly the
// configured issuer) and ID-token verification: its IDTokenVerifier parses
// the JWS, enforces the algorithm allow-list, has the issuer's key set
// verify the signature (with go-jose), and checks iss and, for a single
// client ID, aud. x/oauth2 does the code exchange.
//
// The package adds what those libraries leave to the caller: lazy,
// throttled discovery over a timeout-bound, response-size-capped HTTP
// client; a rate-limited, size-capped JWKS cache bound to one issuer,
// handed to go-oidc as its KeySet; a precheck before any key is used
// (size, strict encoding, header rules, iss); strict (case-sensitive,
// duplicate-free) claim decoding, cross-checked against go-oidc's; aud/azp
// with several client IDs; exp, nbf and iat with the configured clock skew
// (go-oidc's own time checks are off: its nbf leeway is a fixed 5
// minutes), lifetime and age checks; nonce,
// at_hash (go-oidc's IDToken.VerifyAccessToken) and RFC 9207 issuer checks
// in the code flow.
//
// The package never imports the broker or the STS; cmd/idbroker adapts a
// *Verifier to the STS's WebIdentityVerifier and maps the sentinel errors.
package oidc

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sentinel error classes returned (wrapped) by Verify, Exchange and
// IdentityFromToken. Exactly one of them is in every verification error's
// chain.
var (
	// ErrExpired means the token was valid in every respect except that its
	// exp lies in the past (beyond the clock skew).
	ErrExpired = errors.New("token expired")
	// ErrKeyUnavailable means the issuer's keys could not be obtained:
	// discovery or JWKS unreachable, too slow, too large or malformed. (A kid
	// missing from a key set just obtained is ErrKeyNotFound, an ErrInvalid.)
	ErrKeyUnavailable = errors.New("verification key unavailable")
	// ErrAudience means the token was not issued for one of the configured
	// client IDs (aud, or azp when there are several audiences).
	ErrAudience = errors.New("token audience not accepted")
	// ErrInvalid means the token is malformed, badly signed, from another
	// issuer, of a refused algorithm, or has missing or ill-typed claims.
	ErrInvalid = errors.New("invalid token")
	// ErrKeyNotFound marks an ErrInvalid whose cause is that the issuer's
	// key set, as most recently fetched (successfully), has no key for the
	// token's kid. errors.Is(err, ErrInvalid) holds for it, so callers that
	// only know the four classes treat it as a refused token; the STS
	// adapter tells it apart because AWS answers a kid it cannot find with
	// its key-retrieval message.
	ErrKeyNotFound error = &subclassError{msg: "invalid token (no such signing key)", parent: ErrInvalid}
)

// subclassError is a sentinel that is also its parent class for errors.Is.
type subclassError struct {
	msg    string
	parent error
}

func (e *subclassError) Error() string { return e.msg }
func (e *subclassError) Unwrap() error { return e.parent }

// verifyError carries a class sentinel and an operator-facing reason. The
// reason never contains the token; claim values quoted in it are truncated.
type verifyError struct {
	class  error
	reason string
	cause  error
}

func (e *verifyError) Error() string {
	var b strings.Builder
	b.WriteString("oidc: ")
	b.WriteString(e.class.Error())
	if e.reason != "" {
		b.WriteString(": ")
		b.WriteString(e.reason)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

func (e *verifyError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.class, e.cause}
	}
	return []error{e.class}
}

func errorf(class error, format string, args ...any) error {
	return &verifyError{class: class, reason: fmt.Sprintf(format, args...)}
}

func wrapErr(class error, cause error, format string, args ...any) error {
	return &verifyError{class: class, reason: fmt.Sprintf(format, args...), cause: cause}
}

// quote renders an untrusted value for an error message: quoted, and cut to
// a short prefix so a hostile claim cannot flood logs.
func quote(s string) string {
	const max = 64
	if t := truncate(s, max); len(t) < len(s) {
		return fmt.Sprintf("%q...", t)
	}
	return fmt.Sprintf("%q", s)
}

// truncate returns s cut to at most n bytes without splitting a UTF-8
// sequence (s itself when it is short enough).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// boundedError carries an error from a library whose message may quote
// token content (go-oidc quotes iss and aud values): Error is cut to a
// short prefix; errors.Is and errors.As still see the original.
type boundedError struct{ err error }

func (e boundedError) Error() string {
	const max = 256
	s := e.err.Error()
	if t := truncate(s, max); len(t) < len(s) {
		return t + "..."
	}
	return s
}

func (e boundedError) Unwrap() error { return e.err }
