package oidctest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// tokenRequest runs authorize for a challenge and then posts to the token
// endpoint with the given verifier and secret.
func tokenRequest(t *testing.T, s *oidctest.Server, challengeVerifier, verifier, secret string) *http.Response {
	t.Helper()
	q := url.Values{
		"response_type": {"code"}, "client_id": {s.ClientID()}, "redirect_uri": {"https://rp.example/cb"},
		"state": {"st"}, "nonce": {"n1"}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(challengeVerifier)},
	}
	cb, err := s.Authorize(s.URL(oidctest.Authorize) + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if cb.Query().Get("state") != "st" || cb.Query().Get("code") == "" {
		t.Fatalf("callback %v", cb)
	}
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {"https://rp.example/cb"}, "code_verifier": {verifier},
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL(oidctest.Token), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.ClientID(), secret)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestTokenEndpoint(t *testing.T) {
	s := oidctest.New(t, oidctest.WithTLS())
	v := oauth2.GenerateVerifier()
	cases := []struct {
		name             string
		verifier, secret string
		status           int
	}{
		{"good", v, s.ClientSecret(), http.StatusOK},
		{"wrong verifier", oauth2.GenerateVerifier(), s.ClientSecret(), http.StatusBadRequest},
		{"empty verifier", "", s.ClientSecret(), http.StatusBadRequest},
		{"wrong secret", v, "nope", http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tokenRequest(t, s, v, tc.verifier, tc.secret)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusOK {
				var body map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatal(err)
				}
				if body["id_token"] == nil || body["access_token"] == nil {
					t.Errorf("token response %v", body)
				}
			}
		})
	}
	if got := s.Hits(oidctest.Token); got != len(cases) {
		t.Errorf("token hits = %d", got)
	}
	if got := s.Hits(oidctest.Authorize); got != len(cases) {
		t.Errorf("authorize hits = %d", got)
	}
}

func TestJWKSRotationAndFaults(t *testing.T) {
	s := oidctest.New(t, oidctest.WithAlg("ES256"))
	get := func() (int, []string) {
		resp, err := s.Client().Get(s.URL(oidctest.JWKS))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []struct {
				KID string `json:"kid"`
				Kty string `json:"kty"`
			} `json:"keys"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&set)
		var kids []string
		for _, k := range set.Keys {
			if k.Kty != "EC" {
				t.Errorf("kty %s", k.Kty)
			}
			kids = append(kids, k.KID)
		}
		return resp.StatusCode, kids
	}
	k1 := s.CurrentKey()
	k2 := s.RotateKey()
	if _, kids := get(); len(kids) != 2 || kids[0] != k1.KID || kids[1] != k2.KID {
		t.Errorf("after rotate: %v", kids)
	}
	s.RemoveKey(k1.KID)
	if _, kids := get(); len(kids) != 1 || kids[0] != k2.KID {
		t.Errorf("after remove: %v", kids)
	}
	s.SetFault(oidctest.JWKS, oidctest.Fault{Status: 500})
	if status, _ := get(); status != 500 {
		t.Errorf("fault status %d", status)
	}
	s.SetFault(oidctest.JWKS, oidctest.Fault{Delay: 300 * time.Millisecond})
	start := time.Now()
	get()
	if time.Since(start) < 300*time.Millisecond {
		t.Error("delay not applied")
	}
	s.ClearFault(oidctest.JWKS)
	if status, _ := get(); status != 200 {
		t.Errorf("cleared status %d", status)
	}
	if s.Hits(oidctest.JWKS) != 5 {
		t.Errorf("jwks hits %d", s.Hits(oidctest.JWKS))
	}
}
