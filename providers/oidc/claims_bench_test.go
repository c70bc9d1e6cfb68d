package oidc

import "testing"

// BenchmarkCheckNames is the case-variant check on a typical claims map.
func BenchmarkCheckNames(b *testing.B) {
	m, _ := decodeObject([]byte(`{"iss":"https://issuer.example.com","sub":"248289761001","aud":"broker-client","exp":1700003600,"iat":1700000000,"amr":["pwd","mfa"],"email":"alice@example.com","groups":["developers","admins"],"email_verified":true,"name":"Alice","preferred_username":"alice","auth_time":1700000000,"nonce":"abc","at_hash":"x","azp":"c"}`))
	b.ReportAllocs()
	for b.Loop() {
		if err := checkNames(m); err != nil {
			b.Fatal(err)
		}
	}
}
