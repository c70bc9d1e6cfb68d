package sts

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sealV1 seals c in the version 1 (JSON) format, which openToken still
// reads and seal no longer writes.
func (k *ringKey) sealV1(c *tokenClaims) (string, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("sts: seal session token: %w", err)
	}
	return k.sealPlain(tokenVersion1, plain)
}

func sampleClaims() []*tokenClaims {
	return []*tokenClaims{
		{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Expiry: 1},
		{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Account: "123456789012", RoleARN: "arn:aws:iam::123456789012:role/r",
			RoleID: "AROAABCDEFGHIJKLMNOPQ", SessionName: "bench", SourceIdentity: "alice", Policy: `{"Version":"2012-10-17"}`,
			PolicyARNs: []string{"arn:aws:iam::123456789012:policy/a", "arn:aws:iam::123456789012:policy/b"},
			Tags:       map[string]string{"team": "x", "Project": "", "ü": "ß"}, TransitiveTagKeys: []string{"team"},
			IssuedAt: 1700000000, Expiry: 1700003600, Chained: true, MFA: true, Provider: "arn:aws:iam::1:saml-provider/x",
			Federated: map[string][]string{"idp.example.com:sub": {"s"}, "idp.example.com:amr": {"pwd", "mfa"}}},
		{AccessKeyID: "\x00 binary\n\u00fc", IssuedAt: -5, Expiry: 1 << 40, SessionName: strings.Repeat("n", 300)},
	}
}

// TestClaimsBinaryRoundTrip: version 2 claims decode to what was sealed,
// and agree with the version 1 (JSON) decoding of the same claims.
func TestClaimsBinaryRoundTrip(t *testing.T) {
	for i, c := range sampleClaims() {
		b, err := c.appendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got tokenClaims
		if err := got.decodeBinary(b); err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if !reflect.DeepEqual(&got, c) {
			t.Fatalf("%d: round trip\n got %+v\nwant %+v", i, got, *c)
		}
		// Every strict prefix and every extension is refused.
		for n := 0; n < len(b); n++ {
			var x tokenClaims
			if x.decodeBinary(b[:n]) == nil {
				t.Fatalf("%d: prefix of %d bytes accepted", i, n)
			}
		}
		var x tokenClaims
		if x.decodeBinary(append(b[:len(b):len(b)], 0)) == nil {
			t.Fatalf("%d: trailing byte accepted", i)
		}
	}
}

func TestClaimsBinaryHostile(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":            {},
		"unknown flag":     {4},
		"huge string":      {0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"overlong varint":  append([]byte{0}, []byte(strings.Repeat("\xff", 11))...),
		"huge list count":  append(append([]byte{0}, make([]byte, 10)...), 0xff, 0xff, 0x03),
		"duplicate tag":    append(append([]byte{0}, make([]byte, 11)...), 2, 1, 'a', 0, 1, 'a', 0, 0, 0),
		"duplicate fedkey": append(append([]byte{0}, make([]byte, 11)...), 0, 0, 2, 1, 'a', 0, 1, 'a', 0),
	} {
		var c tokenClaims
		if err := c.decodeBinary(b); err == nil {
			t.Errorf("%s: accepted (%+v)", name, c)
		}
	}
}

// TestOpenTokenVersions: version 1 (JSON) tokens still open to the same
// session; relabelling a token's version byte breaks its authentication;
// unknown versions are refused.
func TestOpenTokenVersions(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	rk := kr.sealingKey()
	for i, c := range sampleClaims() {
		v1, err := rk.sealV1(c)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := rk.seal(c)
		if err != nil {
			t.Fatal(err)
		}
		o1, _, err := kr.openToken(v1)
		if err != nil {
			t.Fatalf("%d: v1 token: %v", i, err)
		}
		o2, _, err := kr.openToken(v2)
		if err != nil {
			t.Fatalf("%d: v2 token: %v", i, err)
		}
		if !reflect.DeepEqual(o1.session(), o2.session()) {
			t.Fatalf("%d: sessions differ\nv1 %+v\nv2 %+v", i, o1.session(), o2.session())
		}
		if len(v2) >= len(v1) {
			t.Errorf("%d: v2 token (%d) not shorter than v1 (%d)", i, len(v2), len(v1))
		}
		for _, tc := range []struct {
			tok     string
			version byte
		}{{v1, 2}, {v2, 1}, {v2, 3}, {v2, 0}} {
			raw, _ := base64.RawURLEncoding.DecodeString(tc.tok)
			raw[0] = tc.version
			if _, _, err := kr.openToken(base64.RawURLEncoding.EncodeToString(raw)); err == nil {
				t.Fatalf("%d: token relabelled to version %d accepted", i, tc.version)
			}
		}
	}
}

// TestMintSealsVersion2: newly minted credentials carry version 2 tokens
// that Authenticate's path opens.
func TestMintSealsVersion2(t *testing.T) {
	kr, _ := GenerateKeyRing()
	s := testService(t, kr, time.Now)
	c := mintFor(t, s, time.Hour)
	raw, err := base64.RawURLEncoding.DecodeString(c.SessionToken)
	if err != nil || raw[0] != tokenVersion2 {
		t.Fatalf("minted token version %v (%v)", raw[0], err)
	}
	if _, err := s.SessionFromToken(c.AccessKeyID, c.SessionToken); err != nil {
		t.Fatal(err)
	}
}

func FuzzClaimsBinary(f *testing.F) {
	for _, c := range sampleClaims() {
		b, _ := c.appendBinary(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c tokenClaims
		if c.decodeBinary(b) != nil {
			return
		}
		// What decodes re-encodes to the same bytes (canonical form), except
		// that map order is canonicalised.
		again, err := c.appendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var c2 tokenClaims
		if err := c2.decodeBinary(again); err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-encoding changed the claims: %v", err)
		}
	})
}
