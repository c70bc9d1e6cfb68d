package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// TestWebIdentityAdapterCopies: the adapter reports the client ID the
// verifier accepted the token for as the audience, and hands the
// verifier's errors to the STS with their awsspec class intact.
func TestWebIdentityAdapterCopies(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const iss = "https://broker.example.com"
	w, err := newWebIdentityVerifier(iss, []string{"a", "b"}, []crypto.PublicKey{&key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sign := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(aud any, azp string, exp time.Time) jwt.MapClaims {
		c := jwt.MapClaims{"iss": iss, "sub": "alice", "aud": aud, "iat": exp.Add(-time.Hour).Unix(), "exp": exp.Unix()}
		if azp != "" {
			c["azp"] = azp
		}
		return c
	}
	for _, tc := range []struct {
		name, azp, want string
		aud             any
	}{
		{"one audience", "", "b", "b"},
		{"several audiences, azp decides", "b", "b", []any{"x", "b"}},
		{"foreign azp with one audience", "elsewhere", "a", "a"},
	} {
		id, err := w.VerifyWebIdentity(context.Background(), sign(claims(tc.aud, tc.azp, now.Add(time.Hour))))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if id.Audience != tc.want || id.Issuer != iss || id.Subject != "alice" {
			t.Errorf("%s: got %+v, want audience %q", tc.name, id, tc.want)
		}
	}
	for _, tc := range []struct {
		name  string
		token string
		class error
	}{
		{"expired", sign(claims("a", "", now.Add(-time.Hour))), awsspec.ErrTokenExpired},
		{"foreign audience", sign(claims("c", "", now.Add(time.Hour))), awsspec.ErrAudience},
		{"not a JWT", "x.y.z", awsspec.ErrInvalidToken},
	} {
		if _, err := w.VerifyWebIdentity(context.Background(), tc.token); !errors.Is(err, tc.class) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.class)
		}
	}
}
