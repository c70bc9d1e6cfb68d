package broker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/mapping"
)

// TestJSONEndpointsRequireJSON: every JSON endpoint of the broker answers
// 415 UnsupportedMediaType to a body not declared as JSON (what a web page
// can post cross-site without asking: text/plain, a form), before reading
// it: no login is tried, nothing is issued. A bodyless GET or DELETE needs
// no Content-Type.
func TestJSONEndpointsRequireJSON(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	// The explain API is mounted with an Explainer.
	m, err := mapping.Compile(mapping.Config{}, mapping.Env{AccountID: moAccount, Partition: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	b.s.cfg.Explainer = m
	b.s.routes()
	token, _ := b.createSession(t, "alice")
	login := `{"provider":"corp","username":"alice","password":"pw"}`
	endpoints := []struct {
		method, path, body string
		bearer             bool
	}{
		{http.MethodPost, "/api/v1/credentials", login, false},
		{http.MethodPost, "/api/v1/credentials", `{"role":"Developer"}`, true},
		{http.MethodPost, "/api/v1/sessions", login, false},
		{http.MethodGet, "/api/v1/sessions/current", "{}", true},
		{http.MethodDelete, "/api/v1/sessions/current", "{}", true},
		{http.MethodPost, "/api/v1/authorize", `{"action":"s3:GetObject","resource":"*","access_key_id":"ASIA","session_token":"x"}`, false},
		{http.MethodGet, "/api/v1/explain?identity=%7B%7D", "{}", false},
	}
	types := []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
		"application/json; charset=latin1", "application/json; foo=bar", "application/jsonp", "application/json-patch+json", "json", "application/json, text/plain"}
	for _, ep := range endpoints {
		for _, ct := range types {
			t.Run(ep.method+" "+ep.path+" "+ct, func(t *testing.T) {
				req := httptest.NewRequest(ep.method, b.pub+ep.path, strings.NewReader(ep.body))
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				if ep.bearer {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				rec := httptest.NewRecorder()
				b.s.ServeHTTP(rec, req)
				var out apiError
				if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != http.StatusUnsupportedMediaType || out.Error.Code != "UnsupportedMediaType" {
					t.Fatalf("%d %s, want 415 UnsupportedMediaType", rec.Code, rec.Body)
				}
			})
		}
	}
	if n := len(b.auditEvents(t, "login")); n != 1 {
		t.Errorf("%d logins tried, want the one that made the session", n)
	}
	if n := len(b.sts.calls()); n != 0 {
		t.Errorf("%d credentials issued", n)
	}
	// Accepted: JSON with or without charset=utf-8 (any case), and a
	// bodyless GET without a Content-Type.
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"} {
		if rec, _ := b.request(t, http.MethodPost, "/api/v1/credentials", token, ct, `{"role":"Developer"}`); rec.Code != http.StatusOK {
			t.Errorf("%q: %d %s", ct, rec.Code, rec.Body)
		}
	}
	if rec, _ := b.request(t, http.MethodGet, "/api/v1/sessions/current", token, "", ""); rec.Code != http.StatusOK {
		t.Errorf("bodyless GET: %d %s", rec.Code, rec.Body)
	}
}
