package sts

import (
	"bytes"
	"encoding/xml"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var hostileStrings = []string{
	"",
	"plain",
	`<script>alert("x")</script>`,
	"a&b;c'd\"e>f",
	"]]><Injected/>",
	"tab\tnl\ncr\r",
	"nul\x00bel\x07esc\x1b",
	"invalid\xff\xfeutf8",
	"\xef\xbf\xbd real replacement char",
	"surrogate \xed\xa0\x80 encoded",
	"\uFFFE\uFFFF non-characters",
	"emoji 😀 and ümlaut",
	"&lt;already escaped&gt;",
	strings.Repeat("<&>", 100),
}

func webOut(s string, packed *int, exp time.Time) *AssumeRoleWithWebIdentityOutput {
	return &AssumeRoleWithWebIdentityOutput{
		Credentials:                 Credentials{AccessKeyID: "ASIA" + s, SecretAccessKey: s + "secret", SessionToken: s, Expiration: exp},
		SubjectFromWebIdentityToken: s,
		AssumedRoleUser:             AssumedRoleUser{AssumedRoleID: "AROA:" + s, Arn: "arn:aws:sts::1:assumed-role/r/" + s},
		PackedPolicySize:            packed,
		Provider:                    "arn:aws:iam::1:oidc-provider/" + s,
		Audience:                    s,
		SourceIdentity:              s,
	}
}

func samlOut(s string, packed *int, exp time.Time) *AssumeRoleWithSAMLOutput {
	return &AssumeRoleWithSAMLOutput{
		Credentials:      Credentials{AccessKeyID: "ASIA" + s, SecretAccessKey: s + "secret", SessionToken: s, Expiration: exp},
		AssumedRoleUser:  AssumedRoleUser{AssumedRoleID: "AROA:" + s, Arn: "arn:aws:sts::1:assumed-role/r/" + s},
		PackedPolicySize: packed,
		Subject:          s,
		SubjectType:      "persistent" + s,
		Issuer:           "https://idp.example/" + s,
		Audience:         s,
		NameQualifier:    s + "=",
		SourceIdentity:   s,
	}
}

func checkTemplate(t *testing.T, op string, result any, reqID string) {
	t.Helper()
	got, ok := appendResultXML(nil, op, result, reqID)
	if !ok {
		t.Fatalf("template refused %T", result)
	}
	want, err := encodeResultXML(op, result, reqID)
	if err != nil {
		t.Fatalf("encoding/xml: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("template output differs from encoding/xml\n got: %q\nwant: %q", got, want)
	}
	// And it is well-formed XML that reads back.
	dec := xml.NewDecoder(bytes.NewReader(got))
	for {
		if _, err := dec.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%q", err, got)
			}
			break
		}
	}
}

// TestResultTemplateMatchesEncodingXML: the byte templates produce exactly
// encoding/xml's output for hostile values in every variable field.
func TestResultTemplateMatchesEncodingXML(t *testing.T) {
	packed := 42
	exps := []time.Time{
		time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 22, 23, 0, 0, 123456789, time.UTC),
		time.Date(2026, 11, 22, 23, 0, 0, 0, time.FixedZone("x", 3600)),
		{},
	}
	for i, s := range hostileStrings {
		for _, exp := range exps {
			for _, p := range []*int{nil, &packed} {
				checkTemplate(t, actionWebIdentity, webOut(s, p, exp), "req-"+s)
				checkTemplate(t, actionSAML, samlOut(s, p, exp), "req-"+s)
			}
		}
		checkTemplate(t, "GetCallerIdentity", &GetCallerIdentityOutput{Arn: s, UserID: s + "x", Account: s}, s)
		_ = i
	}
	// Roundtrip of a hostile subject.
	s := hostileStrings[2]
	b, _ := appendResultXML(nil, actionWebIdentity, webOut(s, nil, exps[0]), "r")
	var back struct {
		Result AssumeRoleWithWebIdentityOutput `xml:"AssumeRoleWithWebIdentityResult"`
	}
	if err := xml.Unmarshal(b, &back); err != nil || back.Result.SubjectFromWebIdentityToken != s {
		t.Fatalf("round trip: %v, %q", err, back.Result.SubjectFromWebIdentityToken)
	}
}

// TestResultSizeHint: the hint holds a result whose fields need no
// escaping, so rendering does not grow the buffer.
func TestResultSizeHint(t *testing.T) {
	long := strings.Repeat("t", 4000)
	for _, r := range []struct {
		op  string
		res any
	}{
		{actionWebIdentity, webOut("plain", nil, time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC))},
		{actionWebIdentity, webOut(long, nil, time.Now())},
		{"GetCallerIdentity", &GetCallerIdentityOutput{Arn: long, UserID: "u", Account: "123456789012"}},
		{actionSAML, samlOut("plain", nil, time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC))},
		{actionSAML, samlOut(long, nil, time.Now())},
	} {
		hint := resultSizeHint(r.res)
		b, ok := appendResultXML(make([]byte, 0, hint), r.op, r.res, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
		if !ok || cap(b) != hint {
			t.Errorf("%T: rendered %d bytes, hint %d, capacity now %d", r.res, len(b), hint, cap(b))
		}
	}
}

func TestResultTemplateFallsBack(t *testing.T) {
	for _, tc := range []struct {
		op     string
		result any
	}{
		{"GetCallerIdentity", webOut("x", nil, time.Now())},                                 // op and type disagree
		{actionWebIdentity, &GetCallerIdentityOutput{}},                                     // op and type disagree
		{actionWebIdentity, (*AssumeRoleWithWebIdentityOutput)(nil)},                        // nil
		{"AssumeRole", &AssumeRoleOutput{}},                                                 // not templated
		{actionWebIdentity, samlOut("x", nil, time.Now())},                                  // op and type disagree
		{actionSAML, (*AssumeRoleWithSAMLOutput)(nil)},                                      // nil
		{actionSAML, samlOut("x", nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))},       // MarshalText fails
		{actionWebIdentity, webOut("x", nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}, // MarshalText fails
	} {
		if _, ok := appendResultXML(nil, tc.op, tc.result, "r"); ok {
			t.Errorf("%s %T: template used", tc.op, tc.result)
		}
	}
}

func FuzzResultTemplate(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s, s, int64(1700000000), 7)
	}
	f.Fuzz(func(t *testing.T, a, b string, unix int64, packed int) {
		exp := time.Unix(unix%253402300799, 0).UTC()
		if exp.Year() < 0 {
			return // MarshalText refuses; covered by TestResultTemplateFallsBack
		}
		checkTemplate(t, actionWebIdentity, webOut(a, &packed, exp), b)
		checkTemplate(t, "GetCallerIdentity", &GetCallerIdentityOutput{Arn: a, UserID: b, Account: a + b}, b)
		checkTemplate(t, actionSAML, samlOut(a, &packed, exp), b)
	})
}

// TestWriteResultPooledBuffers: a recycled buffer never carries bytes of an
// earlier response (a long result, then a short one, then the JSON form).
func TestWriteResultPooledBuffers(t *testing.T) {
	var bufs sync.Pool
	exp := time.Date(2026, 11, 22, 23, 0, 0, 0, time.UTC)
	long := webOut(strings.Repeat("L", 5000), nil, exp)
	short := &GetCallerIdentityOutput{Arn: "arn:aws:sts::1:assumed-role/r/s", UserID: "AROA:s", Account: "1"}
	for i, tc := range []struct {
		op  string
		res any
	}{{actionWebIdentity, long}, {"GetCallerIdentity", short}, {actionWebIdentity, webOut("x", nil, exp)}, {"GetCallerIdentity", short}} {
		w := httptest.NewRecorder()
		writeResult(w, tc.op, tc.res, "req", false, &bufs)
		want, err := encodeResultXML(tc.op, tc.res, "req")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Body.Bytes(), want) || w.Header().Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Fatalf("response %d differs from encoding/xml:\n got %q\nwant %q", i, w.Body.Bytes(), want)
		}
	}
}
