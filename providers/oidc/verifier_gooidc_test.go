package oidc_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/idbroker/idbroker/providers/oidc"
)

// TestVerifyExpiryByGoOIDC: go-oidc's IDTokenVerifier decides expiry (its
// TokenExpiredError is in the chain), with the configured skew applied
// exactly: a token is expired from exp+skew on.
func TestVerifyExpiryByGoOIDC(t *testing.T) {
	var now atomic.Int64 // UnixNano
	e := newEnv(t, oidc.VerifierConfig{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	exp := e.now.Add(5 * time.Minute)
	raw := e.idp.Sign(e.claims(func(c map[string]any) { c["exp"] = exp.Unix() }))
	for _, tc := range []struct {
		name    string
		at      time.Time
		expired bool
	}{
		{"before exp", exp.Add(-time.Second), false},
		{"at exp", exp, false},
		{"1ns before exp+skew", exp.Add(oidc.DefaultClockSkew - time.Nanosecond), false},
		{"at exp+skew", exp.Add(oidc.DefaultClockSkew), true},
		{"1s after exp+skew", exp.Add(oidc.DefaultClockSkew + time.Second), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now.Store(tc.at.UnixNano())
			_, err := e.v.Verify(context.Background(), raw)
			if !tc.expired {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if classOf(t, err) != oidc.ErrExpired {
				t.Fatalf("want ErrExpired, got %v", err)
			}
			if _, ok := errors.AsType[*gooidc.TokenExpiredError](err); !ok {
				t.Errorf("go-oidc's TokenExpiredError not in the chain: %v", err)
			}
			assertNoSecret(t, raw, err, e.logs)
		})
	}
}

// TestVerifyRefusesCaseAmbiguousClaims: a member whose name differs from a
// registered claim only in case, placed after it, is what go-oidc's
// encoding/json decoding would read instead; such tokens are refused.
func TestVerifyRefusesCaseAmbiguousClaims(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{})
	k := e.idp.CurrentKey()
	if _, err := e.v.Verify(context.Background(), signRawPayload(e.idp, k, dupPayload(e.claims(nil), "extra", "x"))); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	for _, tc := range []struct{ name, value string }{
		{"SUB", "admin"},
		{"Nonce", "attacker-nonce"},
		{"AT_HASH", "AAAA"},
		{"Aud", "other-client"},
		{"IAT", "1"},
		{"ISS", "https://evil.test/" + strings.Repeat("x", 10<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.claims(func(c map[string]any) { c["nonce"] = "n"; c["at_hash"] = "h" })
			raw := signRawPayload(e.idp, k, dupPayload(c, tc.name, tc.value))
			_, err := e.v.Verify(context.Background(), raw)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := classOf(t, err); got != oidc.ErrInvalid {
				t.Fatalf("class %v, want ErrInvalid (%v)", got, err)
			}
			if n := len(err.Error()); n > 1024 {
				t.Errorf("error of %d bytes: claim values must be cut short", n)
			}
			assertNoSecret(t, raw, err, e.logs)
		})
	}
}
