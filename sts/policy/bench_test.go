package policy

import (
	"fmt"
	"strings"
	"testing"
)

// bench20Doc is a 20-statement identity policy in which every statement
// carries eight conditions (string, numeric, date, IP, bool, ARN, set
// operators, variables), so evaluation exercises the whole compiled form.
// Every statement covers arn:aws:s3:::common/*; statements 0-9 fail at
// their third condition (MFA age), the Deny statements 14 and 19 at their
// last one (tag keys), the other eight allow.
func bench20Doc() string {
	var st []string
	for i := 0; i < 20; i++ {
		effect, tagKeys, maxAge := "Allow", `["env","team"]`, 3600
		if i%5 == 4 {
			effect, tagKeys = "Deny", `["x"]`
		}
		if i < 10 {
			maxAge = 60
		}
		st = append(st, fmt.Sprintf(`{"Sid":"S%d","Effect":"%s",
			"Action":["s3:Get*","s3:List%d*","ec2:Describe?nstances%d"],
			"Resource":["arn:aws:s3:::bucket-%d/${aws:PrincipalTag/team}/*","arn:aws:s3:::shared-%d/*","arn:aws:s3:::common/*"],
			"Condition":{
				"StringEquals":{"aws:PrincipalTag/team":["red","blue","green"]},
				"StringLike":{"s3:prefix":["home/${aws:username}/*","public/*"]},
				"NumericLessThan":{"aws:MultiFactorAuthAge":"%d"},
				"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
				"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]},
				"Bool":{"aws:SecureTransport":"true"},
				"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/team-*"},
				"ForAllValues:StringEquals":{"aws:TagKeys":%s}}}`,
			i, effect, i, i, i, i, maxAge, tagKeys))
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",") + `]}`
}

// bench20Request matches statement 18 alone (through its shared-18
// resource, after 18 statements whose action matches and whose resources
// are tried and rejected).
func bench20Request() *Request {
	ctx := NewContext()
	ctx.Set("aws:PrincipalTag/team", "red")
	ctx.Set("aws:username", "alice")
	ctx.Set("s3:prefix", "home/alice/docs")
	ctx.Set("aws:MultiFactorAuthAge", "120")
	ctx.Set("aws:CurrentTime", "2024-05-01T12:00:00Z")
	ctx.Set("aws:SourceIp", "10.1.2.3")
	ctx.Set("aws:SecureTransport", "true")
	ctx.Set("aws:PrincipalArn", "arn:aws:iam::123456789012:role/team-red")
	ctx.Set("aws:TagKeys", "env")
	return &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::shared-18/report.csv", Context: ctx}
}

// bench20Variants: one statement applies; every statement's conditions are
// evaluated (eight allow); nothing matches the resource.
func bench20Variants(tb testing.TB, p *Policy) (one, all, none *Request) {
	one = bench20Request()
	a, n := *one, *one
	a.Resource = "arn:aws:s3:::common/x"
	n.Resource = "arn:aws:s3:::elsewhere/x"
	if got := p.Evaluate(one); got.Decision != Allow || sids(got.Matched) != "bench/S18/Allow" {
		tb.Fatalf("one: %v %s", got.Decision, sids(got.Matched))
	}
	if got := p.Evaluate(&a); got.Decision != Allow || len(got.Matched) != 8 {
		tb.Fatalf("all: %v %s", got.Decision, sids(got.Matched))
	}
	if got := p.Evaluate(&n); got.Decision != ImplicitDeny {
		tb.Fatalf("none: %v", got.Decision)
	}
	return one, &a, &n
}

func BenchmarkEvaluate20Statements(b *testing.B) {
	p := mustParseNamed(b, "bench", bench20Doc(), Identity)
	one, all, none := bench20Variants(b, p)
	for _, bc := range []struct {
		name string
		r    *Request
	}{{"one-applies", one}, {"all-conditions", all}, {"nomatch", none}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Evaluate(bc.r)
			}
		})
	}
}

// TestEvaluateAllocations pins the "no allocation on the common path"
// promise: nothing matched means zero allocations, a match allocates only
// the Matched slice.
func TestEvaluateAllocations(t *testing.T) {
	p := mustParseNamed(t, "bench", bench20Doc(), Identity)
	one, all, none := bench20Variants(t, p)
	if n := testing.AllocsPerRun(100, func() { _ = p.Evaluate(none) }); n != 0 {
		t.Errorf("no match: %v allocs per Evaluate, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.Evaluate(one) }); n > 1 {
		t.Errorf("one match: %v allocs per Evaluate, want <= 1", n)
	}
	// Eight matches: only the Matched slice grows (1, 2, 4, 8).
	if n := testing.AllocsPerRun(100, func() { _ = p.Evaluate(all) }); n > 4 {
		t.Errorf("eight matches: %v allocs per Evaluate, want <= 4", n)
	}
}

// Compiled policies are shared between goroutines (run with -race).
func TestConcurrentEvaluate(t *testing.T) {
	p := mustParseNamed(t, "bench", bench20Doc(), Identity)
	one, all, none := bench20Variants(t, p)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				if p.Evaluate(one).Decision != Allow || p.Evaluate(all).Decision != Allow || p.Evaluate(none).Decision != ImplicitDeny {
					t.Error("wrong decision under concurrency")
					return
				}
				_ = Authorize(one, []*Policy{p}, []*Policy{p})
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

func BenchmarkParse20Statements(b *testing.B) {
	doc := []byte(bench20Doc())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc, Identity); err != nil {
			b.Fatal(err)
		}
	}
}
