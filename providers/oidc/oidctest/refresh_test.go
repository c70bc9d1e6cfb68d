package oidctest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// codeTokens runs a code flow with scope and returns the token response.
func codeTokens(t *testing.T, s *oidctest.Server, scope string) map[string]any {
	t.Helper()
	v := oauth2.GenerateVerifier()
	q := url.Values{
		"response_type": {"code"}, "client_id": {s.ClientID()}, "redirect_uri": {"https://rp.example/cb"},
		"state": {"st"}, "scope": {scope}, "code_challenge_method": {"S256"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(v)},
	}
	cb, err := s.Authorize(s.URL(oidctest.Authorize) + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	status, body := postToken(t, s, s.ClientSecret(), url.Values{
		"grant_type": {"authorization_code"}, "code": {cb.Query().Get("code")},
		"redirect_uri": {"https://rp.example/cb"}, "code_verifier": {v},
	})
	if status != http.StatusOK {
		t.Fatalf("code grant: %d %v", status, body)
	}
	return body
}

func postToken(t *testing.T, s *oidctest.Server, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL(oidctest.Token), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.ClientID(), secret)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func refresh(t *testing.T, s *oidctest.Server, rt string) (int, map[string]any) {
	t.Helper()
	return postToken(t, s, s.ClientSecret(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func TestRefreshGrant(t *testing.T) {
	s := oidctest.New(t)
	if rt := codeTokens(t, s, "openid email")["refresh_token"]; rt != nil {
		t.Errorf("refresh token without offline_access: %v", rt)
	}
	rt, _ := codeTokens(t, s, "openid offline_access")["refresh_token"].(string)
	if !strings.HasPrefix(rt, "rt-") {
		t.Fatalf("no refresh token with offline_access: %q", rt)
	}
	if status, body := postToken(t, s, "wrong", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); status != http.StatusUnauthorized {
		t.Errorf("wrong client secret: %d %v", status, body)
	}

	// Rotation: the answer has a new refresh token; the redeemed one is dead.
	s.SetUser(map[string]any{"sub": "u-123", "groups": []any{"ops"}})
	status, body := refresh(t, s, rt)
	next, _ := body["refresh_token"].(string)
	if status != http.StatusOK || body["access_token"] == nil || body["id_token"] == nil || next == "" || next == rt {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if status, body := refresh(t, s, rt); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("rotated token again: %d %v", status, body)
	}

	// A fault on the refresh grant leaves the code grant alone.
	s.SetFault(oidctest.Refresh, oidctest.Fault{Status: http.StatusInternalServerError})
	if status, _ := refresh(t, s, next); status != http.StatusInternalServerError {
		t.Errorf("refresh under a fault: %d", status)
	}
	codeTokens(t, s, "openid")
	s.ClearFault(oidctest.Refresh)

	s.RevokeRefreshTokens()
	if status, body := refresh(t, s, next); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("revoked token: %d %v", status, body)
	}
	// The wrong secret was refused before the grant was looked at.
	if got := s.Hits(oidctest.Refresh); got != 4 {
		t.Errorf("refresh hits = %d, want 4", got)
	}
}

func TestRefreshGrantOptions(t *testing.T) {
	s := oidctest.New(t, oidctest.WithRefreshTokens(), oidctest.WithoutRefreshRotation(), oidctest.WithoutRefreshIDToken())
	rt, _ := codeTokens(t, s, "openid")["refresh_token"].(string)
	if rt == "" {
		t.Fatal("WithRefreshTokens: no refresh token")
	}
	for range 2 {
		status, body := refresh(t, s, rt)
		if status != http.StatusOK || body["refresh_token"] != nil || body["id_token"] != nil || body["access_token"] == nil {
			t.Fatalf("refresh without rotation or ID token: %d %v", status, body)
		}
	}
	if s.LiveRefreshTokens() != 1 {
		t.Errorf("live refresh tokens = %d", s.LiveRefreshTokens())
	}
}
