package sts

import (
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
)

// charsetReferences are the alphabets as AWS's model writes them, compiled
// as regexps: each charset must answer as its reference does.
var charsetReferences = []struct {
	name string
	cs   *charset
	re   *regexp.Regexp
}{
	{"name", nameChars, regexp.MustCompile(`^[\w+=,.@-]*$`)},
	{"tag key", tagKeyChars, regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)},
	{"tag value", tagValueChars, regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)},
	{"arn", arnChars, regexp.MustCompile(`^[\x{0009}\x{000A}\x{000D}\x{0020}-\x{007E}\x{0085}\x{00A0}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}]+$`)},
	{"policy", policyChars, regexp.MustCompile(`^[\x{0009}\x{000A}\x{000D}\x{0020}-\x{00FF}]+$`)},
	{"external id", externalIDChars, regexp.MustCompile(`^[\w+=,.@:/-]*$`)},
	{"serial number", serialNumberChars, regexp.MustCompile(`^[\w+=/:,.@-]*$`)},
	{"token code", tokenCodeChars, regexp.MustCompile(`^[0-9]*$`)},
	{"access key", accessKeyChars, regexp.MustCompile(`^\w*$`)},
}

// TestCharsetsAgreeWithAWSPatterns: the alphabets built from awsspec's
// rune predicates (and the ASCII tables of the others) answer exactly as
// AWS's patterns, on every single byte, on mixed strings, on invalid UTF-8
// and on non-ASCII input.
func TestCharsetsAgreeWithAWSPatterns(t *testing.T) {
	inputs := []string{"", "a", "arn:aws:iam::123456789012:role/r", "bench-00001", "a b", "a\tb\nc\rd", "x\x00y", "\x7f",
		"ümlaut", "a\u0085b", "\uFFFE", "\uFFFD", "\U0001F600", "a\xffb", "+=,.@-_", "a/b", "a%b", "٣", "a\u00a0b", "\u2028",
		"é\xff", strings.Repeat("z", 3000)}
	for b := 0; b < 256; b++ {
		inputs = append(inputs, string([]byte{byte(b)}), "ab"+string([]byte{byte(b)})+"cd", "é"+string([]byte{byte(b)}))
	}
	for _, r := range []rune{0x85, 0xa0, 0xff, 0x100, 0x2000, 0x3000, 0xd7ff, 0xe000, 0xfffd, 0xfffe, 0x10000, 0x10ffff} {
		inputs = append(inputs, string(r), "a"+string(r))
	}
	for _, ref := range charsetReferences {
		for _, s := range inputs {
			if got, want := ref.cs.valid(s), ref.re.MatchString(s); got != want {
				t.Errorf("%s on %q: %v, pattern says %v", ref.name, s, got, want)
			}
		}
	}
}

func FuzzCharsets(f *testing.F) {
	f.Add("arn:aws:iam::123456789012:role/r")
	f.Add("bench-1")
	f.Add("Team Blue/ü:1")
	f.Fuzz(func(t *testing.T, s string) {
		for _, ref := range charsetReferences {
			if got, want := ref.cs.valid(s), ref.re.MatchString(s); got != want {
				t.Fatalf("%s on %q: %v, pattern says %v", ref.name, s, got, want)
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
