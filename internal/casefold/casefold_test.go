package casefold

import (
	"strings"
	"testing"
)

func TestASCII(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Admins", "admins"},
		{"adminſ", "adminſ"},           // U+017F LATIN SMALL LETTER LONG S
		{"ADMIN\u212a", "admin\u212a"}, // KELVIN SIGN stays
		{"ÄÖÜ", "ÄÖÜ"},                 // non-ASCII letters are not folded
		{"A\xffB", "a\xffb"},           // invalid bytes kept
		{"", ""},
	} {
		if got := ASCII(tc.in); got != tc.want {
			t.Errorf("ASCII(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if ASCII("adminſ") == ASCII("admins") {
		t.Error("adminſ folds onto admins")
	}
}

func TestUnicode(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
	}{
		{"ADMINS", "admins", true},
		{"Ärzte", "ärzte", true},
		{"ΣΟΦΙΑ", "σοφια", true},
		{"adminſ", "admins", false},          // U+017F LATIN SMALL LETTER LONG S: EqualFold says equal
		{"ADMIN\u212A", "admink", false},     // U+212A KELVIN SIGN lower-cases to ASCII k
		{"\u0130stanbul", "istanbul", false}, // U+0130 lower-cases to ASCII i
		{"ｊｄｏｅ", "jdoe", false},              // fullwidth
		{"admins\u200b", "admins", false},    // zero-width space is kept
		{"ad\xffmins", "ad\xfemins", false},  // invalid bytes are kept, not collapsed to U+FFFD
		{"AD\xffMINS", "ad\xffmins", true},
	}
	for _, c := range cases {
		if got := Unicode(c.a) == Unicode(c.b); got != c.same {
			t.Errorf("Unicode(%q)==Unicode(%q) = %v, want %v (%q vs %q)", c.a, c.b, got, c.same, Unicode(c.a), Unicode(c.b))
		}
	}
	if !strings.EqualFold("adminſ", "admins") {
		t.Fatal("premise: strings.EqualFold folds ſ to s")
	}
}

// FuzzFolds checks what both rules promise for any input: the result is a
// fixed point, ASCII never touches a non-ASCII byte, and Unicode agrees
// with ASCII on ASCII input.
func FuzzFolds(f *testing.F) {
	for _, s := range []string{"Admins", "adminſ", "ÄRZTE", "\u0130", "a\xffB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, u := ASCII(s), Unicode(s)
		if ASCII(a) != a || Unicode(u) != u {
			t.Fatalf("not idempotent: %q -> %q, %q", s, a, u)
		}
		if len(a) != len(s) {
			t.Fatalf("ASCII changed the length of %q", s)
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 && a[i] != s[i] {
				t.Fatalf("ASCII changed a non-ASCII byte of %q", s)
			}
		}
		isASCII := true
		for i := 0; i < len(s); i++ {
			isASCII = isASCII && s[i] < 0x80
		}
		if isASCII && a != u {
			t.Fatalf("rules disagree on ASCII %q: %q vs %q", s, a, u)
		}
	})
}
