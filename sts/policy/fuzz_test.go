package policy

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: Parse never panics, every error is a *MalformedError, and a
// document that parses can be evaluated.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`), uint8(0))
	f.Add([]byte(bench20Doc()), uint8(0))
	f.Fuzz(func(t *testing.T, doc []byte, kind uint8) {
		k := Kind(kind % 3)
		p, err := Parse(doc, k)
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is %T, not *MalformedError", err, err)
			}
			_ = err.Error()
			return
		}
		ctx := NewContext()
		ctx.Set("aws:username", "alice")
		ctx.Set("aws:TagKeys", "a", "b")
		r := &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/alice/k", Context: ctx,
			Principal: map[string][]string{"AWS": {"123456789012"}, "Federated": {"accounts.google.com"}}}
		res := p.Evaluate(r)
		if (res.Decision == ImplicitDeny) != (len(res.Matched) == 0) {
			t.Fatalf("decision %v with %d matches", res.Decision, len(res.Matched))
		}
	})
}

// FuzzEvaluate: evaluation of hostile requests (and hostile documents)
// never panics or hangs, is deterministic, and Authorize agrees with
// Evaluate for a single policy used as both identity and session set.
func FuzzEvaluate(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::b/${aws:username}/*"}}`,
		"s3:GetObject", "arn:aws:s3:::b/alice/k", "aws:username", "alice")
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"iam:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}`,
		"s3:PutObject", "*", "aws:SourceIp", "10.1.1.1")
	rich := mustParse(f, bench20Doc(), Identity)
	f.Fuzz(func(t *testing.T, doc, action, resource, key, value string) {
		ctx := NewContext()
		ctx.Set(key, value)
		ctx.Set("aws:username", value)
		ctx.Set("aws:PrincipalTag/team", value, value)
		r := &Request{Action: action, Resource: resource, Context: ctx}
		policies := []*Policy{rich}
		if p, err := Parse([]byte(doc), Identity); err == nil {
			policies = append(policies, p)
		}
		for _, p := range policies {
			a := p.Evaluate(r)
			b := p.Evaluate(r)
			if a.Decision != b.Decision || len(a.Matched) != len(b.Matched) {
				t.Fatalf("non-deterministic: %v vs %v", a, b)
			}
			auth := Authorize(r, []*Policy{p}, []*Policy{p})
			if auth.Decision != a.Decision {
				t.Fatalf("Authorize %v, Evaluate %v", auth.Decision, a.Decision)
			}
		}
	})
}

// FuzzGlob checks the wildcard matcher against regexp (a differential
// oracle): '*' is any run, '?' one character, the rest literal; folded, a
// character equals every character of its simple-fold orbit, as (?i) says.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"a*b?c", "axxbyc"}, {"*", ""}, {"?", "é"}, {"*a*a*a*b", "aaaaaaaaaaaaaaaa"},
		{"s3:get*", "S3:GetObject"}, {"x?y", "x\u212ay"}, {"**", "abc"}, {"", ""},
		{"\u0130*", "i"}, {"k*", "\u212aX"}, {"\u212a", "K"}, {"*ı", "I"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		if !utf8.ValidString(pat) || !utf8.ValidString(s) || len(pat) > 64 || len(s) > 256 {
			return
		}
		var re strings.Builder
		re.WriteString(`^(?s:`)
		for _, r := range pat {
			switch r {
			case '*':
				re.WriteString(`.*`)
			case '?':
				re.WriteString(`.`)
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(`)$`)
		p := compilePattern(pat, compileOpts{wild: true})
		got, _ := p.match(s, false, nil)
		if want := regexp.MustCompile(re.String()).MatchString(s); got != want {
			t.Fatalf("match(%q, %q) = %v, regexp says %v", pat, s, got, want)
		}
		got, _ = p.match(s, true, nil)
		if want := regexp.MustCompile(`(?i)` + re.String()).MatchString(s); got != want {
			t.Fatalf("fold match(%q, %q) = %v, regexp says %v", pat, s, got, want)
		}
	})
}
