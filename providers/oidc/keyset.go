package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// allowedAlgs is the fixed signature allow-list: RSA PKCS#1 v1.5 and ECDSA.
// "none", HMAC, PSS and EdDSA are refused.
var allowedAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512,
}

func algAllowed(alg string) bool {
	for _, a := range allowedAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// keyFitsAlg reports whether key is a public key of the type and size the
// algorithm requires (RSA >= 2048 bits for RS*, the matching curve for ES*).
func keyFitsAlg(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512":
			return k.N != nil && k.N.BitLen() >= 2048
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	}
	return false
}

// tokenKeySet is one issuer's keys (its JWKS cache, or static keys) as a
// go-oidc KeySet. go-oidc's IDTokenVerifier calls VerifySignature after its
// own parse and algorithm check, before it reads any claim. The key set
// parses the compact JWS with go-jose, applies the package's header rules,
// picks this issuer's keys that may verify it (kid, JWKS alg, key type and
// size) and lets go-jose check the signature.
//
// The token is parsed twice, once by go-oidc and once here, and this
// cannot be avoided with go-oidc: it hands its parsed JWS only to its own
// RemoteKeySet (under an unexported context key), a KeySet receives the
// raw string, and go-oidc's StaticKeySet parses again too. RemoteKeySet
// is no substitute: it refetches on every unknown kid without a rate
// limit and has none of keyCache's rules. The second parse costs 53
// allocations and 4.1 KB per token (BenchmarkKeySetParse), about a tenth
// of the CPU time of an RS256 Verify in a profile of BenchmarkVerify.
type tokenKeySet struct {
	remote *keyCache
	static []crypto.PublicKey
}

var _ gooidc.KeySet = (*tokenKeySet)(nil)

// verifyState is put in the context of one IDTokenVerifier.Verify call by
// Verifier.Verify. go-oidc flattens a key set's error with %v; the key set
// records its classified error (ErrInvalidToken or ErrKeyUnavailable)
// here, and the payload it verified.
type verifyState struct {
	payload []byte // nil unless verified
	err     error
}

type verifyStateKey struct{}

// VerifySignature implements gooidc.KeySet.
func (s *tokenKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := s.verify(ctx, jwt)
	if st, ok := ctx.Value(verifyStateKey{}).(*verifyState); ok {
		st.payload, st.err = payload, err
	}
	return payload, err
}

func (s *tokenKeySet) verify(ctx context.Context, raw string) ([]byte, error) {
	// A compact JWS has exactly one signature, and go-jose refuses an alg
	// outside allowedAlgs.
	jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil {
		return nil, wrapErr(awsspec.ErrInvalidToken, err, "malformed JWS")
	}
	hdr := jws.Signatures[0].Protected
	if err := checkHeader(hdr); err != nil {
		return nil, err
	}
	alg := hdr.Algorithm
	tried := 0
	try := func(k crypto.PublicKey) []byte {
		if !keyFitsAlg(k, alg) {
			return nil
		}
		tried++
		payload, err := jws.Verify(k)
		if err != nil {
			return nil
		}
		return payload
	}
	if s.remote != nil {
		jwks, err := s.remote.lookup(ctx, hdr.KeyID)
		if err != nil {
			return nil, err
		}
		for _, k := range jwks {
			if k.Algorithm != "" && k.Algorithm != alg {
				continue
			}
			if payload := try(k.Key); payload != nil {
				return payload, nil
			}
		}
	} else {
		for _, k := range s.static {
			if payload := try(k); payload != nil {
				return payload, nil
			}
		}
	}
	if tried == 0 {
		return nil, errorf(awsspec.ErrInvalidToken, "no key of the right type for algorithm %s", alg)
	}
	return nil, errorf(awsspec.ErrInvalidToken, "signature verification failed")
}

// checkHeader is the package's policy on the protected header, read from
// go-jose's parse (the header's one reading, which go-oidc shares): no
// crit, b64 or enc member (go-jose would honour crit b64, which changes
// what is signed); typ absent or a plain JWT type, so that explicitly
// typed other JWTs (at+jwt, logout+jwt, secevent+jwt, ...) are not taken
// for ID tokens; a kid of at most maxKIDBytes. go-jose has already refused
// a kid, alg or jwk of the wrong type.
func checkHeader(h jose.Header) error {
	for _, name := range []jose.HeaderKey{"crit", "b64", "enc"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return errorf(awsspec.ErrInvalidToken, "%s header not supported", name)
		}
	}
	if typ, ok := h.ExtraHeaders[jose.HeaderType]; ok {
		s, isString := typ.(string)
		if !isString || !typeAllowed(s) {
			return errorf(awsspec.ErrInvalidToken, "token type %s not accepted", quote(s))
		}
	}
	if len(h.KeyID) > maxKIDBytes {
		return errorf(awsspec.ErrInvalidToken, "kid longer than %d bytes", maxKIDBytes)
	}
	return nil
}

// typeAllowed accepts a plain JWT type.
func typeAllowed(typ string) bool {
	switch strings.ToLower(typ) {
	case "jwt", "application/jwt":
		return true
	}
	return false
}
