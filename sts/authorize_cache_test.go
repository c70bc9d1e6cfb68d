package sts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/sts/policy"
)

// sessionPolicy20 is a session policy of n statements.
func sessionPolicyN(n int) string {
	st := make([]string, n)
	for i := range st {
		st[i] = fmt.Sprintf(`{"Sid":"S%d","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::bucket-%d/*","Condition":{"IpAddress":{"aws:SourceIp":"10.%d.0.0/16"}}}`, i, i, i)
	}
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(st, ",") + `]}`
}

// cacheService is a Service whose role allows s3:*; sessions minted with
// the given inline session policies.
func cacheService(tb testing.TB, docs ...string) (*Service, []*Session) {
	tb.Helper()
	kr, err := GenerateKeyRing()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{AccountID: "123456789012", Keys: kr, Roles: []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC),
		Policies: [][]byte{[]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)}}}})
	if err != nil {
		tb.Fatal(err)
	}
	var out []*Session
	for i, doc := range docs {
		c, _, err := s.mint(context.Background(), mintParams{role: s.roles["arn:aws:iam::123456789012:role/r"], sessionName: fmt.Sprintf("s%d", i),
			policy: doc, duration: time.Hour, now: s.now()})
		if err != nil {
			tb.Fatal(err)
		}
		sess, err := s.SessionFromToken(c.AccessKeyID, c.SessionToken)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, sess)
	}
	return s, out
}

// withPolicyCache gives s a fresh session policy cache of size n.
func withPolicyCache(tb testing.TB, s *Service, n int) *policy.Cache {
	tb.Helper()
	s.sessionPolicyCache = policy.NewCache(n)
	return s.sessionPolicyCache
}

// TestAuthorizeCompilesSessionPolicyOnce: the session policy sealed in a
// session token is parsed on the first decision only; later decisions for
// the same policy text come from the cache, with a fraction of the
// allocations of a parse.
func TestAuthorizeCompilesSessionPolicyOnce(t *testing.T) {
	doc := sessionPolicyN(20)
	s, sessions := cacheService(t, doc, doc, sessionPolicyN(3))
	c := withPolicyCache(t, s, 8)
	ctx := map[string][]string{"aws:SourceIp": {"10.3.1.1"}}

	cases := []struct {
		name        string
		sess        *Session
		action      string
		want        policy.Decision
		wantParses  uint64
		wantHitsAdd uint64
	}{
		{"first decision parses", sessions[0], "s3:GetObject", policy.Allow, 1, 0},
		{"second decision does not", sessions[0], "s3:ListBucket", policy.Allow, 1, 1},
		{"another session, same text, does not", sessions[1], "s3:GetObject", policy.Allow, 1, 1},
		{"session policy still narrows", sessions[0], "s3:PutObject", policy.ImplicitDeny, 1, 1},
		{"a different text parses", sessions[2], "s3:GetObject", policy.ImplicitDeny, 2, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h0, _ := c.Stats()
			res, err := s.Authorize(tc.sess, tc.action, "arn:aws:s3:::bucket-3/k", ctx)
			if err != nil || res.Decision != tc.want {
				t.Fatalf("decision %v (%v), want %v", res.Decision, err, tc.want)
			}
			h1, parses := c.Stats()
			if parses != tc.wantParses || h1-h0 != tc.wantHitsAdd {
				t.Errorf("parses %d (+%d hits), want %d (+%d)", parses, h1-h0, tc.wantParses, tc.wantHitsAdd)
			}
		})
	}

	parseAllocs := testing.AllocsPerRun(20, func() {
		if _, err := policy.Parse([]byte(doc), policy.Identity); err != nil {
			t.Fatal(err)
		}
	})
	cached := testing.AllocsPerRun(50, func() {
		if _, err := s.Authorize(sessions[0], "s3:GetObject", "arn:aws:s3:::bucket-3/k", ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations: parse %.0f, cached Authorize %.0f", parseAllocs, cached)
	if cached*4 > parseAllocs {
		t.Errorf("cached Authorize allocates %.0f, a parse %.0f: the policy is parsed again", cached, parseAllocs)
	}
}

// BenchmarkAuthorizeSessionPolicy is one decision for a session with a
// 20-statement inline session policy: "cached" is every decision after the
// first; "parse" misses the cache on every call (two sessions alternate in
// a cache of one).
func BenchmarkAuthorizeSessionPolicy(b *testing.B) {
	ctx := map[string][]string{"aws:SourceIp": {"10.3.1.1"}}
	b.Run("cached", func(b *testing.B) {
		s, sessions := cacheService(b, sessionPolicyN(20))
		withPolicyCache(b, s, sessionPolicyCacheSize)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Authorize(sessions[0], "s3:GetObject", "arn:aws:s3:::bucket-3/k", ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		s, sessions := cacheService(b, sessionPolicyN(20), sessionPolicyN(20)+" ")
		withPolicyCache(b, s, 1)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Authorize(sessions[i%2], "s3:GetObject", "arn:aws:s3:::bucket-3/k", ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
