package sts

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// allowAll admits everything: the cost of asking, without a store.
type allowAll struct{}

func (allowAll) AdmitIssue(context.Context, IssueLimitRequest) (IssueAdmission, error) {
	return IssueAdmission{Allowed: true}, nil
}

// countingObserver counts what it is told, as cheaply as a counter can.
type countingObserver struct{ n atomic.Int64 }

func (c *countingObserver) ObserveRequest(string, string, time.Duration) { c.n.Add(1) }
func (c *countingObserver) ObserveIssued(string, string)                 { c.n.Add(1) }

// BenchmarkServeWebIdentityHooks is BenchmarkServeWebIdentity with the
// limiter and the observer hooks set to doubles that cost nothing: what
// the STS itself adds to a direct issuance (the limiter's store round trip
// is measured in internal/ratelimit, the metrics' in internal/metrics).
func BenchmarkServeWebIdentityHooks(b *testing.B) {
	s := benchService(b)
	s.limiter, s.observer = allowAll{}, &countingObserver{}
	body := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + url.QueryEscape("arn:aws:iam::123456789012:role/r") +
		"&RoleSessionName=bench&WebIdentityToken=" + benchJWT(b)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
