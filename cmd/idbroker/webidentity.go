package main

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/sts"
)

// webIdentityVerifier adapts a providers/oidc Verifier (where the OIDC
// hardening and the audience rule live) to the STS's WebIdentityVerifier.
// It copies fields and decides nothing: the verifier's errors carry
// awsspec's failure classes, which the STS answers itself.
type webIdentityVerifier struct {
	v *oidc.Verifier
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
	return &webIdentityVerifier{v: v}, nil
}

// VerifyWebIdentity verifies the token; Audience is the client ID the
// verifier accepted it for.
func (w *webIdentityVerifier) VerifyWebIdentity(ctx context.Context, token string) (*sts.WebIdentity, error) {
	t, err := w.v.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	return &sts.WebIdentity{
		Issuer: t.Issuer, Subject: t.Subject, Audience: t.ClientID, AZP: t.AZP, AMR: t.AMR,
		IssuedAt: t.IssuedAt, Expiry: t.Expiry, Claims: t.Claims,
	}, nil
}
