package oidc

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		n       int
		want    string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"ascii cut", "abcdef", 5, "abcde"},
		{"before a 2-byte rune", "abcdé", 5, "abcd"},
		{"inside a 3-byte rune", "ab€cd", 3, "ab"},
		{"after a 3-byte rune", "ab€cd", 5, "ab€"},
		{"only continuation bytes reachable", "€€", 2, ""},
		{"zero", "abc", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := truncate(tc.s, tc.n)
			if got != tc.want {
				t.Fatalf("truncate(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("truncate(%q, %d) = %q splits a rune", tc.s, tc.n, got)
			}
		})
	}
}

func TestQuoteAndBoundedErrorCut(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for _, tc := range []struct {
		name    string
		got     string
		maxLen  int
		wantCut bool
	}{
		{"quote short", quote("abc"), 5, false},
		{"quote long", quote(long), 64 + len(`"..."`) + 64*3, true},
		{"bounded short", boundedError{errors.New("abc")}.Error(), 3, false},
		{"bounded long", boundedError{errors.New(long)}.Error(), 256 + len("..."), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.got) > tc.maxLen {
				t.Errorf("%d bytes, want at most %d: %q", len(tc.got), tc.maxLen, tc.got)
			}
			if cut := strings.HasSuffix(tc.got, "..."); cut != tc.wantCut {
				t.Errorf("cut = %v, want %v: %q", cut, tc.wantCut, tc.got)
			}
			if !utf8.ValidString(tc.got) {
				t.Errorf("invalid UTF-8: %q", tc.got)
			}
		})
	}
}
