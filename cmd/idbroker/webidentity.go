package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/idbroker/idbroker/internal/awsspec"
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

// newWebIdentityVerifier verifies tokens of an issuer whose keys are given
// (the broker's own).
func newWebIdentityVerifier(issuer string, clientIDs []string, static []crypto.PublicKey) (*webIdentityVerifier, error) {
	return newVerifierFrom(oidc.VerifierConfig{Issuer: issuer, ClientIDs: clientIDs, StaticKeys: static})
}

// newSTSWebIdentityVerifier verifies tokens of an sts.oidc_providers entry:
// keys from its discovery document's jwks_uri, fetched within its timeout
// and no more often than its jwks_refresh_interval; JWKS failures are
// logged (never a token).
func newSTSWebIdentityVerifier(p stsOIDCProvider, log *slog.Logger) (*webIdentityVerifier, error) {
	return newVerifierFrom(oidc.VerifierConfig{
		Issuer: p.Issuer, ClientIDs: p.ClientIDs, Logger: log,
		Timeout: time.Duration(p.Timeout), JWKSRefreshInterval: time.Duration(p.JWKSRefreshInterval),
	})
}

func newVerifierFrom(cfg oidc.VerifierConfig) (*webIdentityVerifier, error) {
	v, err := oidc.NewVerifier(cfg)
	if err != nil {
		return nil, fmt.Errorf("oidc verifier for %s: %w", cfg.Issuer, err)
	}
	return &webIdentityVerifier{v: v, clientIDs: cfg.ClientIDs}, nil
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
		if te, ok := errors.AsType[*gooidc.TokenExpiredError](err); ok {
			return fmt.Errorf("%w: %w", &awsspec.TokenExpiredError{Expiry: te.Expiry}, err)
		}
		return fmt.Errorf("%w: %w", awsspec.ErrTokenExpired, err)
	case errors.Is(err, oidc.ErrKeyUnavailable), errors.Is(err, oidc.ErrKeyNotFound):
		// STS-SPEC §6.1: AWS answers a JWKS it cannot fetch and a kid it
		// cannot find alike ("Couldn't retrieve verification key …").
		return fmt.Errorf("%w: %w", awsspec.ErrKeyUnavailable, err)
	case errors.Is(err, oidc.ErrAudience):
		return fmt.Errorf("%w: %w", awsspec.ErrAudience, err)
	default:
		return fmt.Errorf("%w: %w", awsspec.ErrInvalidToken, err)
	}
}
