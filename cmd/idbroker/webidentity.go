package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"

	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/sts"
)

// webIdentityVerifier adapts a providers/oidc Verifier (where the OIDC
// hardening lives) to the STS's WebIdentityVerifier, translating its error
// classes into the STS's.
type webIdentityVerifier struct {
	v         *oidc.Verifier
	clientIDs []string
}

var _ sts.WebIdentityVerifier = (*webIdentityVerifier)(nil)

func newWebIdentityVerifier(issuer string, clientIDs []string, static []crypto.PublicKey) (*webIdentityVerifier, error) {
	v, err := oidc.NewVerifier(oidc.VerifierConfig{Issuer: issuer, ClientIDs: clientIDs, StaticKeys: static})
	if err != nil {
		return nil, fmt.Errorf("oidc verifier for %s: %w", issuer, err)
	}
	return &webIdentityVerifier{v: v, clientIDs: clientIDs}, nil
}

// VerifyWebIdentity verifies the token and reports the audience it was
// accepted for.
func (w *webIdentityVerifier) VerifyWebIdentity(ctx context.Context, token string) (*sts.WebIdentity, error) {
	t, err := w.v.Verify(ctx, token)
	if err != nil {
		return nil, stsVerifyError(err)
	}
	aud := ""
	if t.AZP != "" && slices.Contains(w.clientIDs, t.AZP) {
		aud = t.AZP
	} else {
		for _, a := range t.Audience {
			if slices.Contains(w.clientIDs, a) {
				aud = a
				break
			}
		}
	}
	return &sts.WebIdentity{
		Issuer: t.Issuer, Subject: t.Subject, Audience: aud, AZP: t.AZP, AMR: t.AMR,
		IssuedAt: t.IssuedAt, Expiry: t.Expiry, Claims: t.Claims,
	}, nil
}

func stsVerifyError(err error) error {
	switch {
	case errors.Is(err, oidc.ErrExpired):
		return fmt.Errorf("%w: %w", sts.ErrTokenExpired, err)
	case errors.Is(err, oidc.ErrKeyUnavailable):
		return fmt.Errorf("%w: %w", sts.ErrKeyUnavailable, err)
	case errors.Is(err, oidc.ErrAudience):
		return fmt.Errorf("%w: %w", sts.ErrAudience, err)
	default:
		return fmt.Errorf("%w: %w", sts.ErrInvalidToken, err)
	}
}
