package sts

import (
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
)

// TestMatchPatternAgreesWithRegexp: the ASCII tables answer exactly as the
// regexps they were computed from, on every single byte, on mixed strings,
// and on non-ASCII input (which goes to the regexp).
func TestMatchPatternAgreesWithRegexp(t *testing.T) {
	inputs := []string{"", "a", "arn:aws:iam::123456789012:role/r", "bench-00001", "a b", "a\tb\nc\rd", "x\x00y", "\x7f",
		"ümlaut", "a\u0085b", "\uFFFE", "\U0001F600", "a\xffb", "+=,.@-_", "a/b", "a%b", strings.Repeat("z", 3000)}
	for b := 0; b < 256; b++ {
		inputs = append(inputs, string([]byte{byte(b)}), "ab"+string([]byte{byte(b)})+"cd")
	}
	for _, re := range []*regexp.Regexp{arnCharsPattern, sessionNamePattern, policyCharsPattern} {
		for _, s := range inputs {
			if got, want := matchPattern(re, s), re.MatchString(s); got != want {
				t.Errorf("%s on %q: %v, regexp says %v", re, s, got, want)
			}
		}
	}
}

func FuzzMatchPattern(f *testing.F) {
	f.Add("arn:aws:iam::123456789012:role/r")
	f.Add("bench-1")
	f.Fuzz(func(t *testing.T, s string) {
		for _, re := range []*regexp.Regexp{arnCharsPattern, sessionNamePattern} {
			if got, want := matchPattern(re, s), re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, regexp says %v", re, s, got, want)
			}
		}
	})
}

// TestWriteBodyHeaders: the headers set directly are the ones Header.Set
// would have stored.
func TestWriteBodyHeaders(t *testing.T) {
	w := httptest.NewRecorder()
	writeBody(w, http.StatusOK, "text/xml", "req-1", []byte("<x/>"))
	for k := range w.Header() {
		if textproto.CanonicalMIMEHeaderKey(k) != k {
			t.Errorf("header key %q is not canonical", k)
		}
	}
	for k, want := range map[string]string{"Content-Type": "text/xml", "x-amzn-RequestId": "req-1", "Content-Length": "4", "Cache-Control": "no-store"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestReadBodyAndContentType: bodies are read whole whatever their
// declared length, oversized ones fail as before, and the Content-Type
// fast path agrees with mime.ParseMediaType.
func TestReadBodyAndContentType(t *testing.T) {
	for _, tc := range []struct {
		body    string
		declare int64
		ok      bool
	}{
		{"Action=GetCallerIdentity&Version=2011-06-15", -2, true},
		{"Action=GetCallerIdentity&Version=2011-06-15", -1, true},
		{"Action=GetCallerIdentity&Version=2011-06-15", 5, true},
		{strings.Repeat("a", MaxBodyBytes), -2, true},
		{strings.Repeat("a", MaxBodyBytes+1), -2, false},
		{strings.Repeat("a", MaxBodyBytes+1), -1, false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		if tc.declare != -2 {
			r.ContentLength = tc.declare
		}
		got, err := readBody(httptest.NewRecorder(), r)
		if (err == nil) != tc.ok {
			t.Fatalf("len %d declared %d: err %v", len(tc.body), tc.declare, err)
		}
		if tc.ok && string(got) != tc.body {
			t.Fatalf("len %d declared %d: read %d bytes", len(tc.body), tc.declare, len(got))
		}
	}
	for ct, want := range map[string]bool{
		"application/x-www-form-urlencoded":                true,
		"application/x-www-form-urlencoded; charset=utf-8": true,
		"Application/X-WWW-Form-Urlencoded; charset=UTF-8": true,
		"application/x-www-form-urlencoded;":               true,
		"application/json":                                 false,
		"":                                                 false,
		"application/x-www-form-urlencoded; charset":       false,
		"text/plain; application/x-www-form-urlencoded":    false,
	} {
		if got := isFormContentType(ct); got != want {
			t.Errorf("isFormContentType(%q) = %v, want %v", ct, got, want)
		}
	}
}
