package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
	"github.com/idbroker/idbroker/sts"
)

// benchSTS answers AssumeRoleWithWebIdentity with fixed credentials, so
// that a benchmark measures the broker's own work.
type benchSTS struct{ STS }

func (benchSTS) AssumeRoleWithWebIdentity(_ context.Context, in *sts.AssumeRoleWithWebIdentityInput) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	return &sts.AssumeRoleWithWebIdentityOutput{
		Credentials:     sts.Credentials{AccessKeyID: "ASIABENCH00000000001", SecretAccessKey: "secret", SessionToken: "token", Expiration: time.Now().Add(time.Hour)},
		AssumedRoleUser: sts.AssumedRoleUser{Arn: "arn:aws:sts::" + moAccount + ":assumed-role/Developer/" + in.RoleSessionName},
	}, nil
}

// newBenchBroker is a broker with the password provider "corp" (no
// hashing: any password signs a known user in) whose users map to one
// role, and an STS that answers at once.
func newBenchBroker(b *testing.B, opts ...func(*Config)) *Server {
	b.Helper()
	const pub = "http://broker.example.com"
	keys, err := GenerateKeys()
	if err != nil {
		b.Fatal(err)
	}
	iss, err := NewIssuer(pub, keys.Signing, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := mapping.ParseConfig([]byte(moRules))
	if err != nil {
		b.Fatal(err)
	}
	m, err := mapping.Compile(cfg, mapping.Env{AccountID: moAccount, Partition: "aws", Roles: map[string]mapping.RoleInfo{
		"Developer": {MaxDuration: 4 * time.Hour}, "Ops": {MaxDuration: 4 * time.Hour},
		"Admin": {MaxDuration: time.Hour}, "Auditor": {MaxDuration: 4 * time.Hour},
	}})
	if err != nil {
		b.Fatal(err)
	}
	dir := directory{users: map[string]providers.Identity{
		"dev": {Provider: "corp", Subject: "dev", Username: "dev", Groups: []string{"developers"}},
	}}
	bc := Config{PublicURL: pub, Providers: []Provider{{Name: "corp", Type: "ldap", Impl: dir}},
		Mapper: m, STS: benchSTS{}, Issuer: iss, CookieKey: keys.Cookie, Store: store.NewMemory(nil)}
	for _, o := range opts {
		o(&bc)
	}
	s, err := New(bc)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAPICredentials: POST /api/v1/credentials with a username and
// password: JSON in, the lock-out (memory store), the login, the session
// that answers once (sealed, put in the memory store), mapping, the broker
// JWT (ES256), JSON out. The provider and the STS cost nothing.
func BenchmarkAPICredentials(b *testing.B) {
	s := newBenchBroker(b)
	const body = `{"provider":"corp","username":"dev","password":"x"}`
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "http://broker.example.com/api/v1/credentials", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkAPICredentialsBearer: POST /api/v1/credentials with a session
// token: the session read from the memory store and unsealed, the secret
// compared, mapping, the broker JWT, JSON out (no re-check is due).
func BenchmarkAPICredentialsBearer(b *testing.B) {
	s := newBenchBroker(b)
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
}

// BenchmarkPeekIssuer: the token exchange's unverified read of a subject
// token's iss, which chooses the provider that verifies it.
func BenchmarkPeekIssuer(b *testing.B) {
	idp := oidctest.New(b)
	tok := idp.Sign(idp.Claims("a"))
	b.ReportAllocs()
	for b.Loop() {
		if peekIssuer(tok) != idp.Issuer() {
			b.Fatal("no issuer")
		}
	}
}
