package sts

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// quotaLimiter admits n issuances, then refuses, auditing the first
// refusal only; fail makes it answer an error.
type quotaLimiter struct {
	mu      sync.Mutex
	n       int
	refused int
	fail    bool
	asked   []IssueLimitRequest
}

func (q *quotaLimiter) AdmitIssue(_ context.Context, req IssueLimitRequest) (IssueAdmission, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.asked = append(q.asked, req)
	if q.fail {
		return IssueAdmission{}, errors.New("store down")
	}
	if q.n > 0 {
		q.n--
		return IssueAdmission{Allowed: true}, nil
	}
	q.refused++
	return IssueAdmission{RetryAfter: time.Second, Limit: "user", Audit: q.refused == 1}, nil
}

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	requests []string
	issued   []string
}

func (r *recorder) ObserveRequest(action, code string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, action+"/"+code)
}

func (r *recorder) ObserveIssued(action, roleARN string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.issued = append(r.issued, action+"/"+roleARN)
}

func limitedService(t *testing.T, lim IssueLimiter, obs Observer, logs io.Writer) *Service {
	t.Helper()
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{AccountID: "123456789012", Keys: kr,
		Logger:        slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Roles:         []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC)}},
		OIDCProviders: []OIDCProvider{{Issuer: benchIssuer, Verifier: fixedVerifier{}}},
		Limiter:       lim, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func webIdentityRequest(t *testing.T) *http.Request {
	t.Helper()
	body := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + url.QueryEscape("arn:aws:iam::123456789012:role/r") +
		"&RoleSessionName=s1&WebIdentityToken=" + benchJWTFor(t)
	req := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.7:4000"
	return req
}

// benchJWTFor is a token fixedVerifier accepts: JWT-shaped, naming the
// issuer (the verifier double checks nothing else).
func benchJWTFor(t *testing.T) string {
	t.Helper()
	seg := func(v any) string {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(j)
	}
	return seg(map[string]any{"alg": "RS256", "kid": "k1"}) + "." + seg(map[string]any{"iss": benchIssuer, "sub": "x"}) + "." + strings.Repeat("A", 342)
}

// TestThrottlingDirectRequests: a direct AssumeRoleWithWebIdentity over
// the limit is 400 Throttling "Rate exceeded", mints nothing, and only the
// first refusal of the burst is audited; the limiter is asked with the
// person (provider and subject), the role and the client address.
func TestThrottlingDirectRequests(t *testing.T) {
	q := &quotaLimiter{n: 1}
	obs := &recorder{}
	var logs bytes.Buffer
	s := limitedService(t, q, obs, &logs)
	serve := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, webIdentityRequest(t))
		return w
	}
	if w := serve(); w.Code != 200 {
		t.Fatalf("within the limit: %d %s", w.Code, w.Body)
	}
	for i := range 3 {
		w := serve()
		if w.Code != 400 || !strings.Contains(w.Body.String(), "<Code>Throttling</Code>") || !strings.Contains(w.Body.String(), "<Message>Rate exceeded</Message>") {
			t.Fatalf("over the limit (%d): %d %s", i+1, w.Code, w.Body)
		}
	}
	if s.Issued() != 1 {
		t.Errorf("minted %d, want 1", s.Issued())
	}
	if n := strings.Count(logs.String(), `"code":"Throttling"`); n != 1 {
		t.Errorf("%d audit records of Throttling for one burst, want 1\n%s", n, logs.String())
	}
	want := IssueLimitRequest{Action: "AssumeRoleWithWebIdentity", Provider: "arn:aws:iam::123456789012:oidc-provider/idp.example.com",
		Subject: "repo:acme/app:ref:refs/heads/main", RoleARN: "arn:aws:iam::123456789012:role/r", SourceIP: "192.0.2.7"}
	if len(q.asked) != 4 || q.asked[0] != want {
		t.Errorf("the limiter was asked %+v, want 4 times %+v", q.asked, want)
	}
	if strings.Join(obs.requests, " ") != "AssumeRoleWithWebIdentity/ AssumeRoleWithWebIdentity/Throttling AssumeRoleWithWebIdentity/Throttling AssumeRoleWithWebIdentity/Throttling" {
		t.Errorf("observed requests %v", obs.requests)
	}
	if strings.Join(obs.issued, " ") != "AssumeRoleWithWebIdentity/arn:aws:iam::123456789012:role/r" {
		t.Errorf("observed issues %v", obs.issued)
	}
}

// TestNoLimitInProcess: the Go API called in process (the broker's own
// issuing, which the broker limits) and registered actions are not asked
// about; a limiter that cannot decide refuses with ServiceUnavailable.
func TestNoLimitInProcess(t *testing.T) {
	q := &quotaLimiter{}
	s := limitedService(t, q, nil, io.Discard)
	if _, err := s.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{
		RoleArn: "arn:aws:iam::123456789012:role/r", RoleSessionName: "s1", WebIdentityToken: benchJWTFor(t)}); err != nil {
		t.Fatalf("in process: %v", err)
	}
	s.RegisterAction("AssumeRoleWithLDAPIdentity", func(ctx context.Context, req *Request) (any, error) {
		_, err := s.AssumeRoleWithWebIdentity(ctx, &AssumeRoleWithWebIdentityInput{
			RoleArn: "arn:aws:iam::123456789012:role/r", RoleSessionName: "s1", WebIdentityToken: benchJWTFor(t)})
		return nil, err
	})
	req := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader("Action=AssumeRoleWithLDAPIdentity&Version=2011-06-15"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != 200 || len(q.asked) != 0 {
		t.Fatalf("a registered action: %d %s; limiter asked %d times", w.Code, w.Body, len(q.asked))
	}

	q.fail = true
	w = httptest.NewRecorder()
	s.ServeHTTP(w, webIdentityRequest(t))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "<Code>ServiceUnavailable</Code>") {
		t.Fatalf("limits that cannot be checked: %d %s", w.Code, w.Body)
	}
}
