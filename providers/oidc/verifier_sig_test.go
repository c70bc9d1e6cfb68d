package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// TestVerifySignatureEncodings: the signature is checked over the signing
// input as sent; every re-encoding or alteration of header, payload or
// signature is refused (ErrInvalid), including ECDSA signatures in DER
// form or with a padded R||S.
func TestVerifySignatureEncodings(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{}, oidctest.WithAlg("ES256"))
	k := e.idp.CurrentKey()
	hdr := seg(map[string]any{"alg": "ES256", "kid": k.KID, "typ": "JWT"})
	payload := seg(e.claims(nil))
	input := hdr + "." + payload
	sum := sha256.Sum256([]byte(input))
	priv := k.Private.(*ecdsa.PrivateKey)
	der, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]byte, 64)
	r.FillBytes(rs[:32])
	s.FillBytes(rs[32:])
	b64 := base64.RawURLEncoding.EncodeToString
	good := input + "." + b64(rs)
	if _, err := e.v.Verify(context.Background(), good); err != nil {
		t.Fatalf("hand-made ES256 token refused: %v", err)
	}
	// The same claims with the JSON re-serialised (extra space) keep the
	// meaning but not the signed bytes.
	respaced := b64([]byte(" " + mustDecode(t, payload)))
	for _, tc := range []struct{ name, tok string }{
		{"DER signature", input + "." + b64(der)},
		{"R||S with a leading zero byte", input + "." + b64(append([]byte{0}, rs...))},
		{"R||S truncated", input + "." + b64(rs[:63])},
		{"R and S swapped", input + "." + b64(append(append([]byte{}, rs[32:]...), rs[:32]...))},
		{"payload re-serialised", hdr + "." + respaced + "." + b64(rs)},
		{"header re-serialised", seg(map[string]any{"kid": k.KID, "alg": "ES256"}) + "." + payload + "." + b64(rs)},
		{"zero signature", input + "." + b64(make([]byte, 64))},
		{"RS256 header over an EC key", seg(map[string]any{"alg": "RS256", "kid": k.KID}) + "." + payload + "." + b64(rs)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.v.Verify(context.Background(), tc.tok)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := classOf(t, err); got != awsspec.ErrInvalidToken {
				t.Fatalf("class %v, want ErrInvalid (%v)", got, err)
			}
			assertNoSecret(t, tc.tok, err, e.logs)
		})
	}
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyOIDCClaimTypes: claim shapes go-oidc's decoding refuses
// (non-string nonce or at_hash, inconsistent distributed claims) are
// refused as ErrInvalid, without echoing token content.
func TestVerifyOIDCClaimTypes(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{})
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		ok   bool
	}{
		{"nonce string", func(c map[string]any) { c["nonce"] = "n" }, true},
		{"nonce number", func(c map[string]any) { c["nonce"] = 5 }, false},
		{"at_hash object", func(c map[string]any) { c["at_hash"] = map[string]any{} }, false},
		{"distributed claims consistent", func(c map[string]any) {
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "https://graph.example/x"}}
		}, true},
		{"claim name without source", func(c map[string]any) {
			c["_claim_names"] = map[string]any{"groups": "src1"}
		}, false},
		{"claim name empty source", func(c map[string]any) {
			c["_claim_names"] = map[string]any{"groups": ""}
			c["_claim_sources"] = map[string]any{"": map[string]any{}}
		}, false},
		{"claim sources not objects", func(c map[string]any) {
			c["_claim_sources"] = map[string]any{"src1": "https://graph.example/x"}
		}, false},
		{"claim source endpoint number", func(c map[string]any) {
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": 1}}
		}, false},
		{"claim names list", func(c map[string]any) { c["_claim_names"] = []any{"groups"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.v.Verify(context.Background(), e.idp.Sign(e.claims(tc.edit)))
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && classOf(t, err) != awsspec.ErrInvalidToken {
				t.Fatalf("class of %v, want ErrInvalid", err)
			}
			if err != nil && strings.Contains(err.Error(), "graph.example") {
				t.Fatalf("error echoes token content: %v", err)
			}
		})
	}
}

// TestVerifyRefusesNonBase64URL: every byte outside the unpadded base64url
// alphabet, in any segment, is refused before any key is used, including
// CR and LF (which Go's base64 decoder would otherwise skip) and padding.
func TestVerifyRefusesNonBase64URL(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{})
	good := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	d1 := strings.IndexByte(good, '.')
	d2 := d1 + 1 + strings.IndexByte(good[d1+1:], '.')
	for _, pos := range []int{5, d1 + 5, d2 + 5, len(good)} {
		for _, ins := range []string{"\n", "\r", "\r\n", " ", "=", "==", "+", "/", "\x00", "é", "%"} {
			tok := good[:pos] + ins + good[pos:]
			_, err := e.v.Verify(context.Background(), tok)
			if err == nil {
				t.Fatalf("%q inserted at %d: accepted", ins, pos)
			}
			if got := classOf(t, err); got != awsspec.ErrInvalidToken {
				t.Fatalf("%q inserted at %d: class %v", ins, pos, got)
			}
		}
	}
	if n := e.idp.Hits("jwks"); n > 1 {
		t.Fatalf("malformed tokens caused JWKS fetches (%d)", n)
	}
}
