package oidc_test

import (
	"context"
	"testing"

	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// BenchmarkVerify measures Verify on a typical RS256 ID token through
// discovery + JWKS (keys cached after the first call), the web-identity hot path.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			srv := oidctest.New(b, oidctest.WithAlg(alg))
			v, err := oidc.NewVerifier(oidc.VerifierConfig{Issuer: srv.Issuer(), ClientIDs: []string{clientID}, HTTPClient: srv.Client()})
			if err != nil {
				b.Fatal(err)
			}
			claims := srv.Claims(clientID)
			claims["amr"] = []string{"pwd", "mfa"}
			claims["email"] = "alice@example.com"
			claims["groups"] = []string{"developers", "admins"}
			tok := srv.Sign(claims)
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
