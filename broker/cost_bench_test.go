package broker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/metrics"
	"github.com/idbroker/idbroker/internal/ratelimit"
)

// BenchmarkIssueCost: POST /api/v1/credentials with a session token (as
// BenchmarkAPICredentialsBearer) with the issuance limits off and on (all
// three limits, on the memory store, never reached) and the metrics off
// and on: what limits and metrics add to an issuance.
func BenchmarkIssueCost(b *testing.B) {
	for _, tc := range []struct {
		name            string
		limits, metrics bool
	}{{"plain", false, false}, {"limits", true, false}, {"metrics", false, true}, {"limits+metrics", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := newBenchBroker(b, func(c *Config) {
				if tc.limits {
					huge := &ratelimit.Rule{Rate: 1_000_000, Per: time.Second}
					l, err := ratelimit.New(ratelimit.Limits{PerUser: huge, PerRole: huge, PerSource: huge}, c.Store, ratelimit.Options{})
					if err != nil {
						b.Fatal(err)
					}
					c.Limiter = l
				}
				if tc.metrics {
					m := metrics.New("bench")
					m.Configure([]string{"corp"}, map[string]string{"arn:aws:iam::" + moAccount + ":role/Developer": "Developer"})
					c.Observer = m
				}
			})
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "http://broker.example.com/api/v1/sessions", strings.NewReader(`{"provider":"corp","username":"dev","password":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			s.ServeHTTP(rec, req)
			var created sessionCreated
			if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || rec.Code != http.StatusCreated {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "http://broker.example.com/api/v1/credentials", strings.NewReader(`{}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+created.SessionToken)
				s.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
