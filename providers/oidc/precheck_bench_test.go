package oidc

import (
	"encoding/base64"
	"strings"
	"testing"
)

// BenchmarkPrecheck is everything Verify does before go-oidc parses the
// token: size, form and strict base64url of the three segments.
func BenchmarkPrecheck(b *testing.B) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tok := seg(`{"alg":"RS256","kid":"k1","typ":"JWT"}`) + "." +
		seg(`{"iss":"https://issuer.example.com","sub":"248289761001","aud":"broker-client","exp":1700003600,"iat":1700000000,"amr":["pwd","mfa"],"email":"alice@example.com","groups":["developers","admins"]}`) +
		"." + base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\x8f\x10", 128)))
	b.ReportAllocs()
	for b.Loop() {
		if err := precheck(tok); err != nil {
			b.Fatal(err)
		}
	}
}
