package sts

import (
	"context"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/sts/policy"
)

// TestPackedPolicySizeIsPolicyPackedSize: the PackedPolicySize an issue
// reports is policy.PackedSize of the session (one estimate, in
// sts/policy): JSON whitespace does not count.
func TestPackedPolicySizeIsPolicyPackedSize(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	s := transportService(t, "eu-west-1", kr)
	compact := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`
	spaced := scatterWhitespace(compact, 40)
	cases := []struct{ name, doc string }{
		{"compact", compact},
		{"whitespace does not count", spaced},
		{"12 statements", sessionPolicyN(12)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{
				RoleArn: tkWebRole, RoleSessionName: "packed", WebIdentityToken: fakeJWT(t), Policy: tc.doc, SecureTransport: true})
			if err != nil {
				t.Fatal(err)
			}
			want := policy.PackedSize(tc.doc, nil, nil)
			if out.PackedPolicySize == nil || *out.PackedPolicySize != want {
				t.Errorf("PackedPolicySize = %v, want policy.PackedSize %d", out.PackedPolicySize, want)
			}
		})
	}
	if policy.PackedSize(spaced, nil, nil) != policy.PackedSize(compact, nil, nil) {
		t.Error("test premise: whitespace changes policy.PackedSize")
	}
}

// scatterWhitespace inserts n characters of irregular JSON whitespace
// (space, TAB, LF, CR from a fixed pseudo-random sequence, so that it does
// not compress away) after every structural character of a JSON document
// that has no structural characters inside its strings.
func scatterWhitespace(doc string, n int) string {
	const ws = " \t\n\r"
	x := uint32(2463534242)
	var b strings.Builder
	inString := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		b.WriteByte(c)
		if c == '"' {
			inString = !inString
		}
		if inString || !strings.ContainsRune("{[,:", rune(c)) {
			continue
		}
		for j := 0; j < n; j++ {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b.WriteByte(ws[x%4])
		}
	}
	return b.String()
}
