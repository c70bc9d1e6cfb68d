package broker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/ratelimit"
	"github.com/idbroker/idbroker/sts"
)

// TestThrottledAnswers: one throttled refusal, every surface's answer:
// 429 with Retry-After (whole seconds, rounded up) for the JSON API and
// the token endpoint, 400 Throttling "Rate exceeded" for the STS action.
func TestThrottledAnswers(t *testing.T) {
	ref := &refusal{class: classThrottled, err: errThrottled, retryAfter: 2500 * time.Millisecond}

	w := httptest.NewRecorder()
	writeAPIRefusal(w, ref)
	var body apiError
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3" || body.Error.Code != "Throttling" {
		t.Errorf("JSON API: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}

	w = httptest.NewRecorder()
	writeOAuthError(w, oauthRefusal(ref, false))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3" {
		t.Errorf("token endpoint: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}

	var se *sts.Error
	if err := stsRefusal(ref); !errors.As(err, &se) || se.Code != "Throttling" || se.Message != "Rate exceeded" || se.Status != http.StatusBadRequest {
		t.Errorf("STS action: %v", err)
	}
}

// fixedLimiter answers one decision and records the request.
type fixedLimiter struct {
	d   ratelimit.Decision
	err error
	got ratelimit.Request
}

func (f *fixedLimiter) Admit(_ context.Context, req ratelimit.Request) (ratelimit.Decision, error) {
	f.got = req
	return f.d, f.err
}

// TestSTSLimiterPerson: the broker's own assertions (JWT issuer, SAML IdP)
// count as the broker user they name, any other as provider|subject.
func TestSTSLimiterPerson(t *testing.T) {
	tr := Trust{Partition: "aws", Account: "123456789012", PublicURL: "https://broker.example.com"}
	f := &fixedLimiter{d: ratelimit.Decision{Allowed: true}}
	l := STSLimiter(f, tr)
	for _, tc := range []struct{ provider, subject, want string }{
		{"arn:aws:iam::123456789012:oidc-provider/broker.example.com", Subject("Developer", "corp", "alice"), "corp/alice"},
		{tr.SAMLProviderARN(), Subject("Admin", "corp", "alice"), "corp/alice"},
		{"arn:aws:iam::123456789012:oidc-provider/token.actions.example.com", "repo:acme/app", "arn:aws:iam::123456789012:oidc-provider/token.actions.example.com|repo:acme/app"},
		{"", "", ""},
	} {
		if _, err := l.AdmitIssue(t.Context(), sts.IssueLimitRequest{Provider: tc.provider, Subject: tc.subject, RoleARN: "arn:r", SourceIP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
		if f.got.User != tc.want || f.got.Surface != SurfaceSTS || f.got.Source != "192.0.2.1" || len(f.got.RoleARNs) != 1 {
			t.Errorf("%s | %s: asked %+v, want user %q", tc.provider, tc.subject, f.got, tc.want)
		}
	}
}
