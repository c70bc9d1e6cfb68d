package sts

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// refPeekJWT is peekJWT before issue #9 (encoding/json into a struct):
// the scanner must route every token the same way.
func refPeekJWT(tok string) (*jwtPeek, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not three segments")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	var claims struct {
		Iss any `json:"iss"`
		Exp any `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errors.New("payload is not a JSON object")
	}
	iss, ok := claims.Iss.(string)
	if !ok || iss == "" {
		return nil, errors.New("no iss")
	}
	p := &jwtPeek{Iss: iss}
	if f, ok := claims.Exp.(float64); ok && f > 0 && f < 1e12 {
		e := int64(f)
		p.Exp = &e
	}
	return p, nil
}

var peekPayloads = []string{
	`{"iss":"https://idp.example.com","exp":1700000000,"sub":"x"}`,
	`{"iss":"https://idp.example.com","exp":1.7e9}`,
	`{"iss":"https://idp.example.com","exp":-5}`,
	`{"iss":"https://idp.example.com","exp":1e13}`,
	`{"iss":"https://idp.example.com","exp":"1700000000"}`,
	`{"iss":"https:\/\/idp.example.com\u002f"}`,
	`{"iss":"ümlaut.example"}`,
	"{\"iss\":\"bad\xffutf8\"}",
	`{"iss":"a","iss":"b"}`,
	`{"ISS":"upper"}`,
	`{"iss":"a","Iss":"b"}`,
	`{"\u0069ss":"escaped name"}`,
	`{"iſs":"long s"}`,
	`{"ıss":"dotless i"}`,
	`{"iss":"a","EXP":1700000000}`,
	`{"iss":""}`,
	`{"iss":5}`,
	`{"iss":null}`,
	`{"iss":["a"]}`,
	`{"nested":{"iss":"x"},"arr":[1,{"a":[true,false,null]}],"iss":"y"}`,
	` { "iss" : "spaced" } `,
	`{}`,
	`null`,
	`[]`,
	`"iss"`,
	`{"iss":"a",}`,
	`{"iss":"a"}x`,
	`{"iss":"a"`,
	`{"iss":"\x"}`,
	"{\"iss\":\"ctl\x01\"}",
	`{"iss":"a","n":01}`,
	`{"iss":"a","n":1.}`,
	`{"iss":"a","n":-}`,
	`{"iss":"a","n":1e+}`,
	`{"iss":"a","u":"\u12g4"}`,
	`{"iss":"a","t":tru}`,
	``,
}

func peekTokens() []string {
	var toks []string
	for _, p := range peekPayloads {
		toks = append(toks, "eyJhbGciOiJSUzI1NiJ9."+base64.RawURLEncoding.EncodeToString([]byte(p))+".c2ln")
	}
	return append(toks, "a.b", "a.b.c.d", "..", "a.!!!.c", "a."+base64.URLEncoding.EncodeToString([]byte(`{"iss":"padded"}`))+".c")
}

func samePeek(t *testing.T, tok string) {
	t.Helper()
	got, err := peekJWT(tok)
	want, refErr := refPeekJWT(tok)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("peekJWT(%q): err %v, reference %v", tok, err, refErr)
	}
	if err != nil {
		return
	}
	if got.Iss != want.Iss || (got.Exp == nil) != (want.Exp == nil) || (got.Exp != nil && *got.Exp != *want.Exp) {
		t.Fatalf("peekJWT(%q) = %+v, reference %+v", tok, got, want)
	}
}

func TestPeekJWTAgreesWithEncodingJSON(t *testing.T) {
	for _, tok := range peekTokens() {
		samePeek(t, tok)
	}
}

func FuzzPeekJWT(f *testing.F) {
	for _, p := range peekPayloads {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		samePeek(t, "e30."+base64.RawURLEncoding.EncodeToString(payload)+".c2ln")
	})
}

func BenchmarkPeekJWT(b *testing.B) {
	tok := benchJWT(b)
	b.Run("scanner", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := peekJWT(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := refPeekJWT(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}
