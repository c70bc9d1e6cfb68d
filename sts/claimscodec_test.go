package sts

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
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

// sealV2 seals c in the version 2 format (the binary claims without the
// session id, ancestry and MFA time), which openToken still reads and seal
// no longer writes. c must have none of those.
func (k *ringKey) sealV2(c *tokenClaims) (string, error) {
	plain, err := c.appendBinary(nil)
	if err != nil {
		return "", err
	}
	if c.SessionID != "" || len(c.ParentAccessKeyIDs) > 0 || c.MFAAuthTime != 0 || !bytes.HasSuffix(plain, []byte{0, 0, 0}) {
		return "", errors.New("sealV2: claims carry version 3 or 4 fields")
	}
	return k.sealPlain(tokenVersion2, plain[:len(plain)-3])
}

// sealV3 seals c in the version 3 format (without the MFA time), which
// openToken still reads and seal no longer writes. c must have no MFA time.
func (k *ringKey) sealV3(c *tokenClaims) (string, error) {
	plain, err := c.appendBinary(nil)
	if err != nil {
		return "", err
	}
	if c.MFAAuthTime != 0 || !bytes.HasSuffix(plain, []byte{0}) {
		return "", errors.New("sealV3: claims carry an MFA time")
	}
	return k.sealPlain(tokenVersion3, plain[:len(plain)-1])
}

// sampleClaims are claims every token version can carry.
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

// sessionClaims are claims only version 3 carries: a login session and
// the ancestry of chained credentials.
func sessionClaims() []*tokenClaims {
	keys, roles, times := make([]string, maxChainDepth), make([]string, maxChainDepth), make([]int64, maxChainDepth)
	for i := range keys {
		keys[i] = fmt.Sprintf("ASIA%016d", i)
		roles[i] = fmt.Sprintf("arn:aws:iam::123456789012:role/r%d", i)
		times[i] = 1700000000 + int64(i)
	}
	return []*tokenClaims{
		{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Expiry: 1, SessionID: "s"},
		{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", RoleARN: "arn:aws:iam::123456789012:role/r", IssuedAt: 1700000000, Expiry: 1700003600,
			Chained: true, Provider: "arn:aws:iam::1:oidc-provider/broker", SessionID: "MTIzNDU2Nzg5MDEyMzQ1Ng",
			ParentAccessKeyIDs: []string{"ASIAAAAAAAAAAAAAAAAA"}, ParentRoleARNs: []string{"arn:aws:iam::123456789012:role/root"},
			ParentIssuedAt: []int64{1699999000}, Tags: map[string]string{"team": "x"}, TransitiveTagKeys: []string{"team"}},
		{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Expiry: 1, ParentAccessKeyIDs: keys, ParentRoleARNs: roles, ParentIssuedAt: times},
	}
}

// mfaClaims are claims only version 4 carries: an MFA time.
func mfaClaims() []*tokenClaims {
	return []*tokenClaims{
		{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", Expiry: 1, MFA: true, MFAAuthTime: 1700000000},
		{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", IssuedAt: 1700000600, Expiry: 1700004200, Chained: true, MFA: true, MFAAuthTime: 1699999999,
			SessionID: "s", ParentAccessKeyIDs: []string{"ASIAAAAAAAAAAAAAAAAA"}, ParentRoleARNs: []string{"arn:aws:iam::123456789012:role/root"},
			ParentIssuedAt: []int64{1699999000}},
	}
}

// allClaims are the claims of every version.
func allClaims() []*tokenClaims {
	return append(append(sampleClaims(), sessionClaims()...), mfaClaims()...)
}

// TestClaimsBinaryRoundTrip: version 4 claims decode to what was sealed;
// no prefix and no extension of them decodes.
func TestClaimsBinaryRoundTrip(t *testing.T) {
	for i, c := range allClaims() {
		b, err := c.appendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var got tokenClaims
		if err := got.decodeBinary(b, tokenVersion4); err != nil {
			t.Fatalf("%d: decode: %v", i, err)
		}
		if !reflect.DeepEqual(&got, c) {
			t.Fatalf("%d: round trip\n got %+v\nwant %+v", i, got, *c)
		}
		// Every strict prefix and every extension is refused.
		for n := 0; n < len(b); n++ {
			var x tokenClaims
			if x.decodeBinary(b[:n], tokenVersion4) == nil {
				t.Fatalf("%d: prefix of %d bytes accepted", i, n)
			}
		}
		var x tokenClaims
		if x.decodeBinary(append(b[:len(b):len(b)], 0), tokenVersion4) == nil {
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
		if err := c.decodeBinary(b, tokenVersion2); err == nil {
			t.Errorf("%s: accepted (%+v)", name, c)
		}
	}
	// An MFA time without MFA is refused both ways.
	noMFA := &tokenClaims{AccessKeyID: "k", Expiry: 1, MFAAuthTime: 1700000000}
	if _, err := noMFA.appendBinary(nil); err == nil {
		t.Error("an MFA time without MFA was encoded")
	}
	b, _ := (&tokenClaims{AccessKeyID: "k", Expiry: 1}).appendBinary(nil)
	b = binary.AppendVarint(b[:len(b)-1], 1700000000)
	var c tokenClaims
	if err := c.decodeBinary(b, tokenVersion4); err == nil {
		t.Error("an MFA time without MFA was decoded")
	}
}

// TestClaimsAncestryBounds: no more than maxChainDepth ancestors are
// sealed or opened, and the three ancestry lists go together.
func TestClaimsAncestryBounds(t *testing.T) {
	deep := sessionClaims()[2]
	over := *deep
	over.ParentAccessKeyIDs = append(slices.Clone(deep.ParentAccessKeyIDs), "ASIAZZZZZZZZZZZZZZZZ")
	over.ParentRoleARNs = append(slices.Clone(deep.ParentRoleARNs), "arn:aws:iam::123456789012:role/z")
	over.ParentIssuedAt = append(slices.Clone(deep.ParentIssuedAt), 1)
	unevenRoles, unevenTimes := *deep, *deep
	unevenRoles.ParentRoleARNs = deep.ParentRoleARNs[1:]
	unevenTimes.ParentIssuedAt = deep.ParentIssuedAt[1:]
	for name, c := range map[string]*tokenClaims{"11 ancestors": &over, "uneven roles": &unevenRoles, "uneven times": &unevenTimes} {
		if _, err := c.appendBinary(nil); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	// Eleven ancestors encoded by hand, as a bug could: refused on decode.
	b, _ := (&tokenClaims{AccessKeyID: "k", Expiry: 1}).appendBinary(nil)
	b = append(b[:len(b)-3], 0, maxChainDepth+1)
	for i := range maxChainDepth + 1 {
		b = binary.AppendVarint(appendStr(appendStr(b, over.ParentAccessKeyIDs[i]), over.ParentRoleARNs[i]), 1)
	}
	var x tokenClaims
	if err := x.decodeBinary(b, tokenVersion3); err == nil {
		t.Error("11 ancestors decoded")
	}
}

// TestOpenTokenVersions: version 1 (JSON), 2 and 3 tokens, sealed before
// an upgrade, still open to the same session as version 4 (without what
// they cannot carry: session id and ancestry before version 3, the MFA
// time before version 4); relabelling a token's version byte breaks its
// authentication; unknown versions are refused.
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
		v2, err := rk.sealV2(c)
		if err != nil {
			t.Fatal(err)
		}
		v3, err := rk.sealV3(c)
		if err != nil {
			t.Fatal(err)
		}
		v4, err := rk.seal(c)
		if err != nil {
			t.Fatal(err)
		}
		var sessions []*Session
		for v, tok := range []string{v1, v2, v3, v4} {
			o, _, err := kr.openToken(tok)
			if err != nil {
				t.Fatalf("%d: v%d token: %v", i, v+1, err)
			}
			sessions = append(sessions, o.session())
		}
		for v := 1; v < len(sessions); v++ {
			if !reflect.DeepEqual(sessions[0], sessions[v]) {
				t.Fatalf("%d: sessions differ\nv1 %+v\nv%d %+v", i, sessions[0], v+1, sessions[v])
			}
		}
		if len(v2) >= len(v1) {
			t.Errorf("%d: v2 token (%d) not shorter than v1 (%d)", i, len(v2), len(v1))
		}
		for _, tc := range []struct {
			tok     string
			version byte
		}{{v1, 2}, {v2, 1}, {v2, 3}, {v3, 2}, {v3, 1}, {v3, 4}, {v4, 3}, {v4, 2}, {v4, 5}, {v2, 0}} {
			raw, _ := base64.RawURLEncoding.DecodeString(tc.tok)
			raw[0] = tc.version
			if _, _, err := kr.openToken(base64.RawURLEncoding.EncodeToString(raw)); err == nil {
				t.Fatalf("%d: token relabelled to version %d accepted", i, tc.version)
			}
		}
	}
	// A version 3 token with a session id opens as before, without an MFA time.
	for i, c := range sessionClaims() {
		v3, err := rk.sealV3(c)
		if err != nil {
			t.Fatal(err)
		}
		o, _, err := kr.openToken(v3)
		if err != nil || o.SessionID != c.SessionID || o.MFAAuthTime != 0 {
			t.Fatalf("%d: v3 token with a session: %+v %v", i, o, err)
		}
	}
}

// TestMintSealsVersion4: newly minted credentials carry version 4 tokens
// that Authenticate's path opens, with their session id, ancestry and MFA
// time.
func TestMintSealsVersion4(t *testing.T) {
	kr, _ := GenerateKeyRing()
	s := testService(t, kr, time.Now)
	c := mintFor(t, s, time.Hour)
	raw, err := base64.RawURLEncoding.DecodeString(c.SessionToken)
	if err != nil || raw[0] != tokenVersion4 {
		t.Fatalf("minted token version %v (%v)", raw[0], err)
	}
	if _, err := s.SessionFromToken(c.AccessKeyID, c.SessionToken); err != nil {
		t.Fatal(err)
	}
	for i, want := range append(sessionClaims(), mfaClaims()...) {
		tok, err := kr.sealingKey().seal(want)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := kr.openToken(tok)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		sess := got.session()
		if sess.SessionID != want.SessionID || !slices.Equal(sess.ParentAccessKeyIDs, want.ParentAccessKeyIDs) ||
			!slices.Equal(sess.ParentRoleARNs, want.ParentRoleARNs) || len(sess.ParentIssuedAt) != len(want.ParentIssuedAt) ||
			(len(want.ParentIssuedAt) > 0 && sess.ParentIssuedAt[0].Unix() != want.ParentIssuedAt[0]) {
			t.Errorf("%d: session %+v lost the session id or ancestry of %+v", i, sess, want)
		}
		if sess.MFA != want.MFA || (want.MFAAuthTime != 0) != !sess.MFAAuthTime.IsZero() ||
			(want.MFAAuthTime != 0 && sess.MFAAuthTime.Unix() != want.MFAAuthTime) {
			t.Errorf("%d: session MFA %v at %v, want %v at %d", i, sess.MFA, sess.MFAAuthTime, want.MFA, want.MFAAuthTime)
		}
	}
}

func FuzzClaimsBinary(f *testing.F) {
	for _, c := range allClaims() {
		b, _ := c.appendBinary(nil)
		f.Add(b, byte(tokenVersion4))
		f.Add(b[:len(b)-1], byte(tokenVersion3))
		f.Add(b[:len(b)-3], byte(tokenVersion2))
	}
	f.Fuzz(func(t *testing.T, b []byte, version byte) {
		version = tokenVersion2 + version%3
		var c tokenClaims
		if c.decodeBinary(b, version) != nil {
			return
		}
		// What decodes re-encodes (as version 4) to claims that decode the
		// same: the encoding is canonical but for map order.
		again, err := c.appendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var c2 tokenClaims
		if err := c2.decodeBinary(again, tokenVersion4); err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-encoding changed the claims: %v", err)
		}
	})
}
