package oidc

import (
	"encoding/base64"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkPrecheck is everything Verify does before go-oidc parses the
// token: size, form and strict base64url of the three segments.
func BenchmarkPrecheck(b *testing.B) {
	tok := benchToken()
	b.ReportAllocs()
	for b.Loop() {
		if err := precheck(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// benchToken is a typical RS256 ID token's shape (the signature bytes are
// not a valid signature).
func benchToken() string {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return seg(`{"alg":"RS256","kid":"k1","typ":"JWT"}`) + "." +
		seg(`{"iss":"https://issuer.example.com","sub":"248289761001","aud":"broker-client","exp":1700003600,"iat":1700000000,"amr":["pwd","mfa"],"email":"alice@example.com","groups":["developers","admins"]}`) +
		"." + base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\x8f\x10", 128)))
}

// BenchmarkKeySetParse is the key set's own parse of a token go-oidc has
// just parsed (go-oidc keeps its parse for its own RemoteKeySet).
func BenchmarkKeySetParse(b *testing.B) {
	tok := benchToken()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jose.ParseSignedCompact(tok, allowedAlgs); err != nil {
			b.Fatal(err)
		}
	}
}
