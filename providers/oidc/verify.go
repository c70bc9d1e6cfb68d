package oidc

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// Verify checks raw's form, algorithm, signature (with this issuer's keys
// only), iss, aud/azp, exp, nbf and iat, and returns its content. Errors
// wrap exactly one of awsspec's ErrTokenExpired, ErrKeyUnavailable,
// ErrAudience and ErrInvalidToken (ErrKeyNotFound being an
// ErrInvalidToken) and never contain the token.
//
// go-oidc's IDTokenVerifier is the verifier: it parses the token, checks
// the algorithm against the allow-list, has the issuer's key set verify
// the signature, decodes the registered claims and checks iss. Around it
// the package adds what go-oidc leaves to the caller: precheck before
// go-oidc sees the token, the header rules in the key set, one strict
// decoding of the claims (readClaims), the audience and the times.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	if err := precheck(raw); err != nil {
		return nil, err
	}
	st := &verifyState{}
	idt, err := v.idv.Verify(context.WithValue(ctx, verifyStateKey{}, st), raw)
	if st.payload == nil {
		// go-oidc stopped at or before the signature: nothing in the token
		// is authenticated.
		if st.err != nil {
			return nil, st.err
		}
		if err == nil {
			err = errors.New("signature was not checked")
		}
		return nil, wrapErr(awsspec.ErrInvalidToken, boundedError{err}, "")
	}
	if err != nil {
		// Signed by the issuer, but go-oidc refused the claims: iss is not
		// this issuer, a registered claim has the wrong type, or the
		// distributed claims are inconsistent.
		return nil, wrapErr(awsspec.ErrInvalidToken, boundedError{err}, "")
	}
	t, err := v.readClaims(idt, st.payload)
	if err != nil {
		return nil, err
	}
	if err := v.checkTimes(t); err != nil {
		return nil, err
	}
	return t, nil
}

// b64url is the strict unpadded base64url decoding of JWS segments.
var b64url = base64.RawURLEncoding.Strict()

// precheck refuses, before go-oidc parses raw, what go-oidc and go-jose
// would let through: a token over MaxTokenBytes; anything but the compact
// form's three non-empty segments (go-oidc's parser also takes the JSON
// serialization, after stripping all white space); a segment that is not
// strict unpadded base64url. go-jose decodes segments leniently (it skips
// CR and LF and ignores non-zero trailing bits) and checks the signature
// over its own re-encoding of them, so without the strict check one token
// would have many spellings that all verify.
func precheck(raw string) error {
	if len(raw) > MaxTokenBytes {
		return errorf(awsspec.ErrInvalidToken, "token larger than %d bytes", MaxTokenBytes)
	}
	if raw == "" {
		return errorf(awsspec.ErrInvalidToken, "empty token")
	}
	// Strict decoding still skips CR and LF.
	if strings.ContainsAny(raw, "\r\n") {
		return errorf(awsspec.ErrInvalidToken, "JWS segment is not base64url")
	}
	rest := raw
	for i := range 3 {
		seg, tail, more := strings.Cut(rest, ".")
		if more == (i == 2) {
			return errorf(awsspec.ErrInvalidToken, "not a compact JWS (3 dot-separated parts)")
		}
		if seg == "" {
			return errorf(awsspec.ErrInvalidToken, "empty JWS segment %d", i)
		}
		if err := checkBase64URL(seg); err != nil {
			return wrapErr(awsspec.ErrInvalidToken, err, "JWS segment %d encoding", i)
		}
		rest = tail
	}
	return nil
}

// checkBase64URL decodes s strictly, in chunks through stack buffers (a
// chunk of 1024 characters is 768 whole bytes), and keeps nothing: go-jose
// decodes the segments it uses itself.
func checkBase64URL(s string) error {
	var src [1024]byte
	var dst [768]byte
	for len(s) > 0 {
		n := copy(src[:], s)
		if _, err := b64url.Decode(dst[:], src[:n]); err != nil {
			return err
		}
		s = s[n:]
	}
	return nil
}
