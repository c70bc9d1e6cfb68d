package broker

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/reports"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

// authorizeBenchSTS answers the plain form of the decision API with a fixed
// session and decides with the policy engine on a real permission policy,
// so that the benchmark measures the handler and the decision without the
// token's crypto.
type authorizeBenchSTS struct {
	STS
	sess *sts.Session
	pol  []*policy.Policy
}

func (a authorizeBenchSTS) SessionFromToken(string, string) (*sts.Session, error) { return a.sess, nil }

func (a authorizeBenchSTS) Authorize(_ *sts.Session, action, resource string, reqCtx map[string][]string) (policy.Result, error) {
	c := policy.NewContext()
	for k, v := range reqCtx {
		c.Set(k, v...)
	}
	return policy.Authorize(&policy.Request{Action: action, Resource: resource, Context: c}, a.pol, nil), nil
}

// BenchmarkAuthorize is POST /api/v1/authorize (plain form, an allowed
// s3:GetObject) without and with the reports' recorder (the access
// advisor): the recorder must cost the handler less than 10 %.
func BenchmarkAuthorize(b *testing.B) {
	for _, withRecorder := range []bool{false, true} {
		name := "recorder=off"
		if withRecorder {
			name = "recorder=on"
		}
		b.Run(name, func(b *testing.B) {
			s := newBenchBroker(b)
			pol, err := policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}`), policy.Identity)
			if err != nil {
				b.Fatal(err)
			}
			s.cfg.STS = authorizeBenchSTS{STS: s.cfg.STS, pol: []*policy.Policy{pol}, sess: &sts.Session{
				AccessKeyID: "ASIABENCH00000000001", Account: moAccount, RoleARN: "arn:aws:iam::" + moAccount + ":role/Developer",
				RoleName: "Developer", SessionName: "dev", IssuedAt: time.Now(), Expiration: time.Now().Add(time.Hour),
			}}
			if withRecorder {
				rec, err := reports.New(store.NewMemory(nil), reports.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { rec.Close() })
				s.cfg.Reports = rec
			}
			body := `{"access_key_id":"ASIABENCH00000000001","session_token":"token","action":"s3:GetObject","resource":"arn:aws:s3:::bucket/key"}`
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "http://broker.example.com/api/v1/authorize", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				s.ServeHTTP(w, req)
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"Allow"`) {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
			b.StopTimer()
			if s.cfg.Reports != nil && s.cfg.Reports.Dropped() > 0 {
				b.Logf("%d events dropped (the queue was full)", s.cfg.Reports.Dropped())
			}
		})
	}
}
