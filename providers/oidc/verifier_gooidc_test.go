package oidc_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// TestVerifyExpiryTypedLikeGoOIDC: the package decides expiry itself
// (go-oidc's own check, which allows a fixed 5 minutes on nbf, is off)
// with the configured skew applied exactly: a token is expired from
// exp+skew on, and the error chain holds go-oidc's TokenExpiredError as
// it would if go-oidc had refused the token.
func TestVerifyExpiryTypedLikeGoOIDC(t *testing.T) {
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
			if classOf(t, err) != awsspec.ErrTokenExpired {
				t.Fatalf("want ErrExpired, got %v", err)
			}
			if te, ok := errors.AsType[*gooidc.TokenExpiredError](err); !ok || !te.Expiry.Equal(exp) {
				t.Errorf("go-oidc's TokenExpiredError (Expiry %v) not in the chain: %v", exp, err)
			}
			assertNoSecret(t, raw, err, e.logs)
		})
	}
}

// TestVerifyClockSkewOnNbfAndExp: the configured skew, whatever its size,
// is the only tolerance on nbf and exp. (go-oidc's own check allows a fixed
// 5 minutes on nbf against a clock that would have to be shifted by the
// skew for exp, which refused fresh tokens once the skew exceeded 2.5m.)
func TestVerifyClockSkewOnNbfAndExp(t *testing.T) {
	for _, sk := range []struct {
		cfg, eff time.Duration
	}{
		{0, oidc.DefaultClockSkew},
		{time.Minute, time.Minute},
		{4 * time.Minute, 4 * time.Minute},
		{10 * time.Minute, 10 * time.Minute},
	} {
		e := newEnv(t, oidc.VerifierConfig{ClockSkew: sk.cfg})
		now, skew := e.now, sk.eff
		nbf := func(at time.Time) func(map[string]any) {
			return func(c map[string]any) { c["nbf"] = at.Unix() }
		}
		exp := func(at time.Time) func(map[string]any) {
			return func(c map[string]any) {
				c["exp"] = at.Unix()
				c["iat"] = at.Add(-time.Hour).Unix()
			}
		}
		for _, tc := range []struct {
			name string
			edit func(map[string]any)
			want error // nil: accepted
		}{
			{"nbf 1m ago", nbf(now.Add(-time.Minute)), nil},
			{"nbf now", nbf(now), nil},
			{"nbf 1m ahead", nbf(now.Add(time.Minute)), nil},
			{"nbf at now+skew", nbf(now.Add(skew)), nil},
			{"nbf 1s after now+skew", nbf(now.Add(skew + time.Second)), awsspec.ErrInvalidToken},
			{"nbf 6m ahead", nbf(now.Add(6 * time.Minute)), map[bool]error{true: nil, false: awsspec.ErrInvalidToken}[skew >= 6*time.Minute]},
			{"exp 1s after now-skew", exp(now.Add(-skew + time.Second)), nil},
			{"exp at now-skew", exp(now.Add(-skew)), awsspec.ErrTokenExpired},
			{"exp 1s before now-skew", exp(now.Add(-skew - time.Second)), awsspec.ErrTokenExpired},
			{"exp 1m ago, nbf 2m ago", func(c map[string]any) {
				exp(now.Add(-time.Minute))(c)
				nbf(now.Add(-2 * time.Minute))(c)
			}, map[bool]error{true: nil, false: awsspec.ErrTokenExpired}[skew > time.Minute]},
		} {
			t.Run(fmt.Sprintf("skew %v/%s", sk.cfg, tc.name), func(t *testing.T) {
				raw := e.idp.Sign(e.claims(tc.edit))
				tok, err := e.v.Verify(context.Background(), raw)
				if tc.want == nil {
					if err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if tok.Subject == "" {
						t.Fatal("no subject")
					}
					return
				}
				if err == nil {
					t.Fatal("accepted")
				}
				if got := classOf(t, err); got != tc.want {
					t.Fatalf("class %v, want %v (%v)", got, tc.want, err)
				}
				if _, ok := errors.AsType[*gooidc.TokenExpiredError](err); ok != (tc.want == awsspec.ErrTokenExpired) {
					t.Errorf("TokenExpiredError in chain: %v, want %v (%v)", ok, tc.want == awsspec.ErrTokenExpired, err)
				}
				assertNoSecret(t, raw, err, e.logs)
			})
		}
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
		{"\u017fub", "admin"},        // ſub: U+017F folds to s, as encoding/json matches names
		{"at_ha\u017fh", "AAAA"},     // at_haſh
		{"_CLAIM_NAMES", "x"},        // go-oidc reads distributed claims too
		{"_claim_\u017fources", "x"}, // _claim_ſources
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
			if got := classOf(t, err); got != awsspec.ErrInvalidToken {
				t.Fatalf("class %v, want ErrInvalid (%v)", got, err)
			}
			if n := len(err.Error()); n > 1024 {
				t.Errorf("error of %d bytes: claim values must be cut short", n)
			}
			assertNoSecret(t, raw, err, e.logs)
		})
	}
}

// TestVerifyCaseVariantAlone: a registered claim spelt only in another
// case is what go-oidc reads for it (here the subject); such a token is
// refused, while names that merely resemble registered ones are kept.
func TestVerifyCaseVariantAlone(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{})
	c := e.claims(nil)
	c["Sub"] = c["sub"]
	delete(c, "sub")
	_, err := e.v.Verify(context.Background(), e.idp.Sign(c))
	if err == nil || classOf(t, err) != awsspec.ErrInvalidToken {
		t.Fatalf("Sub without sub: %v, want ErrInvalidToken", err)
	}
	tok, err := e.v.Verify(context.Background(), e.idp.Sign(e.claims(func(c map[string]any) {
		c["Groups"] = []any{"admins"}
		c["subject"] = "x"
		c["iss_extra"] = "y"
	})))
	if err != nil {
		t.Fatalf("unrelated names refused: %v", err)
	}
	if g := fmt.Sprint(tok.Claims["groups"]); strings.Contains(g, "admins") {
		t.Errorf("Groups read as groups: %s", g)
	}
}

// TestVerifyGoogleIssuerSpelling: go-oidc accepts Google's scheme-less iss
// for https://accounts.google.com; the Token names the configured issuer,
// so Subject and the STS's condition keys do not depend on the spelling.
func TestVerifyGoogleIssuerSpelling(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	const iss = "https://accounts.google.com"
	v, err := oidc.NewVerifier(oidc.VerifierConfig{
		Issuer: iss, ClientIDs: []string{"app"}, StaticKeys: []crypto.PublicKey{&priv.PublicKey},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{iss, "accounts.google.com"} {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": spelling, "sub": "1234", "aud": "app",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
		raw, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(context.Background(), raw)
		if err != nil {
			t.Fatalf("iss %q: %v", spelling, err)
		}
		if got.Issuer != iss || got.ClientID != "app" {
			t.Errorf("iss %q: Issuer %q ClientID %q", spelling, got.Issuer, got.ClientID)
		}
	}
}

// TestVerifyHeaderRulesBeforeDiscovery: the header rules refuse a token
// before the key set asks the issuer for anything, so an explicitly typed
// other JWT is ErrInvalidToken even while discovery is unreachable.
func TestVerifyHeaderRulesBeforeDiscovery(t *testing.T) {
	v, err := oidc.NewVerifier(oidc.VerifierConfig{Issuer: "http://127.0.0.1:1", ClientIDs: []string{clientID}})
	if err != nil {
		t.Fatal(err)
	}
	idp := oidctest.New(t)
	k := idp.CurrentKey()
	for _, hdr := range []map[string]any{
		{"kid": k.KID, "typ": "at+jwt"},
		{"kid": k.KID, "crit": []string{"b64"}, "b64": false},
		{"kid": k.KID, "enc": "A256GCM"},
		{"kid": strings.Repeat("k", 257)},
	} {
		_, err := v.Verify(context.Background(), idp.SignWith(k, hdr, idp.Claims(clientID)))
		if err == nil || classOf(t, err) != awsspec.ErrInvalidToken {
			t.Errorf("header %v: %v, want ErrInvalidToken", hdr, err)
		}
	}
}
