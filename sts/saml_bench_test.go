package sts

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkServeSAML is one AssumeRoleWithSAML through ServeHTTP with a
// verifier double that returns a fresh assertion (everything the STS does
// itself: parse, attributes, trust policy, replay claim, mint, XML).
func BenchmarkServeSAML(b *testing.B) {
	kr, err := GenerateKeyRing()
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{AccountID: tkAccount, Keys: kr, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Roles: []RoleConfig{{Name: "saml-tls", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Principal":{"Federated":"` + tkSAMLARN + `"},"Action":"sts:AssumeRoleWithSAML","Condition":{"StringEquals":{"SAML:aud":"https://signin.aws.amazon.com/saml"}}}]}`)}},
		SAMLProviders:   []SAMLProvider{{Name: "idp", Verifier: &samlDouble{}}},
		SAMLReplayCache: freshClaims{},
	})
	if err != nil {
		b.Fatal(err)
	}
	body := "Action=AssumeRoleWithSAML&Version=2011-06-15&RoleArn=" + url.QueryEscape(tkSAMLRole) +
		"&PrincipalArn=" + url.QueryEscape(tkSAMLARN) + "&SAMLAssertion=" + strings.Repeat("PHNhbWw+", 1000)
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
