package saml

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"time"
)

// verifier holds the fixed policy for one endpoint (an ACS or the STS).
type verifier struct {
	recipients        []string // accepted Recipient and Destination values
	audiences         []string // accepted Audience values
	decryptKey        *rsa.PrivateKey
	allowSHA1         bool
	allowIDPInitiated bool
	aws               bool // AssumeRoleWithSAML rules
	skew, maxAge      time.Duration
	now               func() time.Time
	replay            ReplayCache
}

// verifyRequest is the per-call input.
type verifyRequest struct {
	idp         *IdPMetadata
	requestIDs  []string
	replayScope string
	// callerClaims: the caller claims the replay key itself (AWS mode,
	// WithCallerReplayClaim); verify then claims nothing.
	callerClaims bool
}

// verify checks a decoded SAML Response document and returns its
// assertion. The phases, each in its own file:
//
//  1. preflight (preflight.go, sigshape.go, encrypted.go): the XML, the
//     document shape, the signatures' shape and algorithms, the envelope,
//     an EncryptedAssertion's shape; no cryptography;
//  2. decrypt (encrypted.go), for an EncryptedAssertion: the plaintext
//     passes the same XML gates and shape rules;
//  3. shapeAssertion (assertionshape.go): the assertion's issuer and the
//     shape that makes crewjam's reading of it faithful;
//  4. crewjamVerify (crewjam.go): crewjam's ParseXMLResponse, the one
//     signature check, returns the assertion it verified;
//  5. readAssertion (assertion.go, conditions.go): the rules crewjam
//     leaves out, on crewjam's assertion, and the values read from it;
//  6. the replay claim, once everything else holds (unless the caller
//     claims it after its own checks).
func (v *verifier) verify(ctx context.Context, raw []byte, req verifyRequest) (*Assertion, error) {
	now := v.now()
	d, err := v.preflight(raw, req.idp.EntityID, now)
	if err != nil {
		return nil, err
	}
	if d.encrypted != nil {
		if d.assertion, err = v.decrypt(d.encrypted); err != nil {
			return nil, err
		}
		d.assertionSigned = len(kids(d.assertion, nsDSig, "Signature")) > 0
	}
	if !d.responseSigned && !d.assertionSigned {
		return nil, fail(ErrSignature, "neither the Response nor the Assertion is signed")
	}
	shape, err := shapeAssertion(d.assertion, req.idp.EntityID)
	if err != nil {
		return nil, err
	}
	ca, err := v.crewjamVerify(raw, d, shape, req.idp, now)
	if err != nil {
		return nil, err
	}
	if shape.content != nil {
		return nil, shape.content
	}
	out, err := v.readAssertion(ca, d, shape, req, now)
	if err != nil {
		return nil, err
	}
	if req.callerClaims {
		return out, nil
	}
	key := req.idp.EntityID + "\x00" + out.ID
	if req.replayScope != "" {
		key += "\x00" + req.replayScope
	}
	fresh, err := v.replay.Claim(ctx, key, out.ExpiresAt().Add(v.skew))
	if err != nil {
		return nil, unavailable("replay cache", err)
	}
	if !fresh {
		return nil, fail(ErrReplay, "assertion ID already used")
	}
	return out, nil
}

// decodeBase64 decodes a base64 SAML message, tolerating line breaks and
// spaces (IdPs wrap long lines).
func decodeBase64(s string, limit int) ([]byte, error) {
	if len(s) > limit {
		return nil, fail(ErrTooLarge, "base64 input is %d characters, limit %d", len(s), limit)
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fail(ErrMalformed, "input is not base64")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fail(ErrMalformed, "empty input")
	}
	return b, nil
}
