package sts

import (
	"encoding/base64"
	"testing"
)

func jwtWithPayload(p string) string {
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(p)) + ".c2ln"
}

// TestTokenIssuer: iss is read as encoding/json reads it into go-oidc's
// claims struct (last duplicate wins, names match case-insensitively);
// anything that is not a compact JWS with a string iss is refused.
func TestTokenIssuer(t *testing.T) {
	for _, tc := range []struct {
		token, iss string // iss "" means refused
	}{
		{jwtWithPayload(`{"iss":"https://idp.example.com","exp":1700000000,"sub":"x"}`), "https://idp.example.com"},
		{jwtWithPayload(`{"iss":"https:\/\/idp.example.com\u002f"}`), "https://idp.example.com/"},
		{jwtWithPayload(`{"iss":"ümlaut.example"}`), "ümlaut.example"},
		{jwtWithPayload(`{"iss":"a","iss":"b"}`), "b"},
		{jwtWithPayload(`{"ISS":"upper"}`), "upper"},
		{jwtWithPayload(`{"iss":"a","Iss":"b"}`), "b"},
		{jwtWithPayload(`{"\u0069ss":"escaped name"}`), "escaped name"},
		{jwtWithPayload(`{"nested":{"iss":"x"},"arr":[1,{"a":[true,false,null]}],"iss":"y"}`), "y"},
		{jwtWithPayload(` { "iss" : "spaced" } `), "spaced"},
		{"a." + base64.URLEncoding.EncodeToString([]byte(`{"iss":"padded"}`)) + ".c", "padded"},
		{"." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"no header"}`)) + ".", "no header"},
		{jwtWithPayload(`{"iss":""}`), ""},
		{jwtWithPayload(`{"iss":5}`), ""},
		{jwtWithPayload(`{"iss":null}`), ""},
		{jwtWithPayload(`{"iss":["a"]}`), ""},
		{jwtWithPayload(`{}`), ""},
		{jwtWithPayload(`null`), ""},
		{jwtWithPayload(`[]`), ""},
		{jwtWithPayload(`{"iss":"a",}`), ""},
		{jwtWithPayload(`{"iss":"a"}x`), ""},
		{jwtWithPayload(`{"iss":"a"`), ""},
		{jwtWithPayload("{\"iss\":\"ctl\x01\"}"), ""},
		{jwtWithPayload(``), ""},
		{"opaque-access-token", ""},
		{"a.b", ""},
		{"a.b.c.d", ""},
		{"..", ""},
		{"a.!!!.c", ""},
	} {
		iss, err := tokenIssuer(tc.token)
		if (err == nil) != (tc.iss != "") || iss != tc.iss {
			t.Errorf("tokenIssuer(%q) = %q, %v; want %q", tc.token, iss, err, tc.iss)
		}
	}
}

// BenchmarkTokenIssuer is the cost of the one read of a web identity token
// before its verifier's (routing by iss).
func BenchmarkTokenIssuer(b *testing.B) {
	tok := benchJWT(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokenIssuer(tok); err != nil {
			b.Fatal(err)
		}
	}
}
