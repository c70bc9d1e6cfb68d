package policy

import (
	"fmt"
	"strings"
	"testing"
)

// bench20Doc is a 20-statement identity policy in which every statement
// carries conditions (string, numeric, date, IP, bool, ARN, set operators,
// variables), so evaluation exercises the whole compiled form.
func bench20Doc() string {
	var st []string
	for i := 0; i < 20; i++ {
		effect := "Allow"
		if i%5 == 4 {
			effect = "Deny"
		}
		st = append(st, fmt.Sprintf(`{"Sid":"S%d","Effect":"%s",
			"Action":["s3:Get*","s3:List%d*","ec2:Describe?nstances%d"],
			"Resource":["arn:aws:s3:::bucket-%d/${aws:PrincipalTag/team}/*","arn:aws:s3:::shared-%d/*"],
			"Condition":{
				"StringEquals":{"aws:PrincipalTag/team":["red","blue","green"]},
				"StringLike":{"s3:prefix":["home/${aws:username}/*","public/*"]},
				"NumericLessThan":{"aws:MultiFactorAuthAge":"%d"},
				"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
				"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]},
				"Bool":{"aws:SecureTransport":"true"},
				"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/team-*"},
				"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}`,
			i, effect, i, i, i, i, 3600+i))
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",") + `]}`
}

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
	// Matches statement 18's second resource only, after 18 statements
	// whose actions match and whose resources are checked and rejected.
	return &Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::shared-18/report.csv", Context: ctx}
}

func BenchmarkEvaluate20Statements(b *testing.B) {
	p := mustParseNamed(b, "bench", bench20Doc(), Identity)
	r := bench20Request()
	if got := p.Evaluate(r); got.Decision != Allow || len(got.Matched) != 1 || got.Matched[0].Sid != "S18" {
		b.Fatalf("unexpected result %v %v", got.Decision, got.Matched)
	}
	miss := *r
	miss.Resource = "arn:aws:s3:::elsewhere/x"
	b.Run("match", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Evaluate(r)
		}
	})
	b.Run("nomatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Evaluate(&miss)
		}
	})
}

// TestEvaluateAllocations pins the "no allocation on the common path"
// promise: nothing matched means zero allocations, a match allocates only
// the Matched slice.
func TestEvaluateAllocations(t *testing.T) {
	p := mustParseNamed(t, "bench", bench20Doc(), Identity)
	r := bench20Request()
	miss := *r
	miss.Resource = "arn:aws:s3:::elsewhere/x"
	if n := testing.AllocsPerRun(100, func() { _ = p.Evaluate(&miss) }); n != 0 {
		t.Errorf("no match: %v allocs per Evaluate, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.Evaluate(r) }); n > 1 {
		t.Errorf("match: %v allocs per Evaluate, want <= 1", n)
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
