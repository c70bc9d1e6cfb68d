package broker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestProvidersListing: GET /api/v1/providers says each provider's name,
// kind and whether the broker takes its password (what idbroker login
// chooses its way by), as JSON, without a session.
func TestProvidersListing(t *testing.T) {
	pw, _ := newPasswordBroker(t, nil)
	oidc, _, _ := newOIDCBroker(t)
	tests := []struct {
		name string
		s    *Server
		want providerInfo
	}{
		{"password provider", pw, providerInfo{Name: "corp", DisplayName: "corp", Type: "ldap", Password: true}},
		{"browser provider", oidc, providerInfo{Name: "corp", DisplayName: "corp", Type: "oidc", Password: false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/providers", nil))
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
			}
			var got providerListing
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Providers) != 1 || got.Providers[0] != tc.want {
				t.Errorf("got %+v, want [%+v]", got.Providers, tc.want)
			}
			rec = httptest.NewRecorder()
			tc.s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/providers", nil))
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("POST: %d", rec.Code)
			}
		})
	}
}
