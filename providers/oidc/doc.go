// Package oidc verifies OpenID Connect ID tokens and JWTs from upstream
// issuers and drives the OIDC authorization-code flow (with PKCE) for
// browser logins.
//
// It builds on github.com/coreos/go-oidc/v3 and golang.org/x/oauth2.
// go-oidc does OIDC discovery (the document must name exactly the
// configured issuer) and is the token verifier: its IDTokenVerifier parses
// the JWS, enforces the algorithm allow-list, has the issuer's key set
// verify the signature (with go-jose), decodes the registered claims and
// checks iss. x/oauth2 does the code exchange.
//
// The package adds what those libraries leave to the caller:
//   - lazy, throttled discovery over a timeout-bound, response-size-capped
//     HTTP client, and a rate-limited, size-capped JWKS cache bound to one
//     issuer, handed to go-oidc as its KeySet (discovery.go, keyset.go,
//     jwks.go, gate.go);
//   - a precheck before go-oidc sees the token (size, compact form, strict
//     base64url) and the JOSE header rules in the key set, before any key
//     is used (typ, crit, b64, enc, kid);
//   - one strict decoding of the verified claims, which go-oidc does not
//     expose as a map: exact names, duplicate names refused (encoding/json
//     would keep the last), and names go-oidc would read in place of a
//     registered claim because they differ from it only in case refused
//     (claims.go, json.go);
//   - the audience (aud, azp, several client IDs, the client ID accepted
//     is returned), exp, nbf and iat with the configured clock skew
//     (go-oidc's own time checks are off: its nbf leeway is a fixed 5
//     minutes), lifetime and age checks;
//   - nonce, at_hash (go-oidc's IDToken.VerifyAccessToken) and RFC 9207
//     issuer checks in the code flow (codeflow.go), and the Identity a
//     verified token stands for (identity.go).
//
// Every verification error wraps exactly one failure class of
// internal/awsspec (ErrTokenExpired, ErrKeyUnavailable, ErrAudience,
// ErrInvalidToken, whose ErrKeyNotFound is a subclass), so the STS answers
// each with its AWS error without translation.
//
// The package never imports the broker or the STS; cmd/idbroker adapts a
// *Verifier to the STS's WebIdentityVerifier by copying fields.
package oidc
