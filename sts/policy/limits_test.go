package policy

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestValidateSessionPolicyText(t *testing.T) {
	base := `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`
	pad := func(total int, r string) string {
		return base + strings.Repeat(r, total-CharCount(base))
	}
	tests := []struct {
		name string
		text string
		want error
	}{
		{"plain", base, nil},
		{"exactly 2048", pad(MaxSessionPolicyChars, " "), nil},
		{"2049", pad(MaxSessionPolicyChars+1, " "), ErrPolicyTooLong},
		{"2048 latin-1 chars (4000+ bytes)", pad(MaxSessionPolicyChars, "é"), nil},
		{"2049 latin-1 chars", pad(MaxSessionPolicyChars+1, "é"), ErrPolicyTooLong},
		{"tab lf cr", "{\t\n\r}", nil},
		{"U+00FF", "ÿ", nil},
		{"U+0100", "Ā", ErrPolicyInvalidChar},
		{"control char", "{\x01}", ErrPolicyInvalidChar},
		{"DEL is allowed (U+007F)", "\x7f", nil},
		{"NUL", "\x00", ErrPolicyInvalidChar},
		{"emoji", "😀", ErrPolicyInvalidChar},
		{"invalid UTF-8", "\xff", ErrPolicyInvalidChar},
		{"BOM", "\ufeff{}", ErrPolicyInvalidChar},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSessionPolicyText(tc.text)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCharCounts(t *testing.T) {
	if n := CharCount("aé"); n != 2 {
		t.Errorf("CharCount = %d", n)
	}
	if n := CharCountNoSpace("{ \"a\" :\t1\r\n}"); n != 7 {
		t.Errorf("CharCountNoSpace = %d", n)
	}
}

func TestPackedSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randText := func(n int) string {
		const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:/=+-@"
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	small := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`
	// A realistic session policy at the 2048-character limit.
	var st []string
	for i := 0; CharCount(strings.Join(st, ",")) < 1900; i++ {
		st = append(st, fmt.Sprintf(`{"Sid":"S%d","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::bucket-%d/*"}`, i, i))
	}
	full := `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",") + `]}`
	if CharCount(full) > MaxSessionPolicyChars {
		t.Fatalf("test policy too long: %d", CharCount(full))
	}
	arns := []string{"arn:aws:iam::123456789012:policy/ReadOnly", "arn:aws:iam::123456789012:policy/Billing"}
	fewTags := map[string]string{"team": "red", "project": "apollo", "cost-center": "4711"}
	bigTags := map[string]string{}
	for i := 0; i < 50; i++ {
		bigTags[randText(128)] = randText(256)
	}

	smallPct := PackedSize(small, nil, nil)
	fullPct := PackedSize(full, arns, fewTags)
	bigPct := PackedSize("", nil, bigTags)
	t.Logf("small %d%%, full policy + 2 ARNs + 3 tags %d%%, 50 max-length random tags %d%%", smallPct, fullPct, bigPct)
	if smallPct < 1 || smallPct > 20 {
		t.Errorf("small policy = %d%%", smallPct)
	}
	if fullPct > 100 {
		t.Errorf("a policy within the character limit with a few tags is over budget: %d%%", fullPct)
	}
	if bigPct <= 100 {
		t.Errorf("50 long random tags within budget: %d%%", bigPct)
	}
	if PackedSize(small, arns, fewTags) <= smallPct {
		t.Error("ARNs and tags do not count")
	}
	// Whitespace does not count; map order does not matter.
	spaced := strings.ReplaceAll(small, ",", " ,\n\t ")
	if PackedSize(spaced, nil, nil) != smallPct {
		t.Error("whitespace counted")
	}
	for i := 0; i < 5; i++ {
		if PackedSize(full, arns, fewTags) != fullPct {
			t.Fatal("PackedSize not deterministic")
		}
	}
	// Nothing to pack is 0 % (and costs no compressor), but one empty tag
	// still counts.
	if PackedSize("", nil, nil) != 0 || PackedSize("", nil, map[string]string{}) != 0 {
		t.Errorf("empty = %d", PackedSize("", nil, nil))
	}
	if PackedSize("", nil, map[string]string{"k": ""}) < 1 {
		t.Errorf("one tag = %d", PackedSize("", nil, map[string]string{"k": ""}))
	}
	if a := testing.AllocsPerRun(10, func() { PackedSize("", nil, nil) }); a != 0 {
		t.Errorf("empty PackedSize allocates %.0f times", a)
	}
}

// BenchmarkPackedSize is the packed-size estimate of a session with a few
// tags, as every broker login with session_tags pays it.
func BenchmarkPackedSize(b *testing.B) {
	tags := map[string]string{"department": "engineering", "team": "platform", "cost-center": "1234"}
	b.ReportAllocs()
	for b.Loop() {
		if PackedSize("", nil, tags) < 1 {
			b.Fatal("zero")
		}
	}
}
