package sts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const benchIssuer = "https://idp.example.com"

// fixedVerifier is a benchmark double: it accepts any token and returns
// one identity, so the benchmarks below measure the STS's own work (parse,
// routing, trust policy, mint, audit line, XML), not a signature.
type fixedVerifier struct{}

func (fixedVerifier) VerifyWebIdentity(_ context.Context, _ string) (*WebIdentity, error) {
	now := time.Now()
	return &WebIdentity{Issuer: benchIssuer, Subject: "repo:acme/app:ref:refs/heads/main", Audience: "sts.amazonaws.com",
		AMR: []string{"pwd", "mfa"}, IssuedAt: now, Expiry: now.Add(time.Hour),
		Claims: map[string]any{"iss": benchIssuer, "sub": "repo:acme/app:ref:refs/heads/main", "aud": "sts.amazonaws.com"}}, nil
}

func benchService(b *testing.B) *Service {
	b.Helper()
	kr, err := GenerateKeyRing()
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{AccountID: "123456789012", Keys: kr,
		Logger:        slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Roles:         []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC)}},
		OIDCProviders: []OIDCProvider{{Issuer: benchIssuer, Verifier: fixedVerifier{}}}})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchJWT(b *testing.B) string {
	b.Helper()
	seg := func(v any) string {
		j, err := json.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(j)
	}
	now := time.Now().Unix()
	return seg(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}) + "." +
		seg(map[string]any{"iss": benchIssuer, "sub": "repo:acme/app:ref:refs/heads/main", "aud": "sts.amazonaws.com",
			"iat": now, "exp": now + 3600, "amr": []string{"pwd", "mfa"}, "email": "alice@example.com"}) +
		"." + strings.Repeat("A", 342)
}

// BenchmarkServeWebIdentity is one AssumeRoleWithWebIdentity through
// ServeHTTP with a verifier double (everything but the signature).
func BenchmarkServeWebIdentity(b *testing.B) {
	s := benchService(b)
	body := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + url.QueryEscape("arn:aws:iam::123456789012:role/r") +
		"&RoleSessionName=bench&WebIdentityToken=" + benchJWT(b)
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

// BenchmarkServeCallerIdentity is one signed GetCallerIdentity through
// ServeHTTP with credentials minted by AssumeRoleWithWebIdentity.
func BenchmarkServeCallerIdentity(b *testing.B) {
	s := benchService(b)
	out, err := s.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{
		RoleArn: "arn:aws:iam::123456789012:role/r", RoleSessionName: "bench", WebIdentityToken: benchJWT(b)})
	if err != nil {
		b.Fatal(err)
	}
	c := out.Credentials
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	sum := sha256.Sum256([]byte(body))
	req := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	hdr := req.Header.Clone()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(body))
		r.Header = hdr
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkOpenToken opens a web-identity session token (federated keys).
func BenchmarkOpenToken(b *testing.B) {
	s := benchService(b)
	out, err := s.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{
		RoleArn: "arn:aws:iam::123456789012:role/r", RoleSessionName: "bench", WebIdentityToken: benchJWT(b)})
	if err != nil {
		b.Fatal(err)
	}
	tok := out.Credentials.SessionToken
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.keys.openToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteResult renders the two hot results.
func BenchmarkWriteResult(b *testing.B) {
	exp := time.Now().UTC().Truncate(time.Second)
	web := &AssumeRoleWithWebIdentityOutput{
		Credentials:                 Credentials{AccessKeyID: "ASIAABCDEFGHIJKLMNOP", SecretAccessKey: strings.Repeat("s", 40), SessionToken: strings.Repeat("t", 400), Expiration: exp},
		SubjectFromWebIdentityToken: "repo:acme/app:ref:refs/heads/main",
		AssumedRoleUser:             AssumedRoleUser{AssumedRoleID: "AROAABCDEFGHIJKLMNOPQ:bench", Arn: "arn:aws:sts::123456789012:assumed-role/r/bench"},
		Provider:                    "arn:aws:iam::123456789012:oidc-provider/idp.example.com",
		Audience:                    "sts.amazonaws.com",
	}
	caller := &GetCallerIdentityOutput{Arn: "arn:aws:sts::123456789012:assumed-role/r/bench", UserID: "AROAABCDEFGHIJKLMNOPQ:bench", Account: "123456789012"}
	for _, tc := range []struct {
		name   string
		op     string
		result any
	}{{"web-identity", actionWebIdentity, web}, {"caller-identity", "GetCallerIdentity", caller}} {
		b.Run(tc.name, func(b *testing.B) {
			var bufs sync.Pool // as in Service
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				writeResult(w, tc.op, tc.result, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", false, &bufs)
			}
		})
	}
}

// BenchmarkAuditEmit is one "issued" audit line through a JSON handler.
func BenchmarkAuditEmit(b *testing.B) {
	s := benchService(b)
	ctx := withReqState(context.Background(), &reqState{requestID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", sourceIP: "127.0.0.1"})
	ev := AuditEvent{Action: actionWebIdentity, Outcome: "issued", RoleARN: "arn:aws:iam::123456789012:role/r", SessionName: "bench",
		Principal: "arn:aws:iam::123456789012:oidc-provider/idp.example.com|repo:acme/app", AccessKeyID: "ASIAABCDEFGHIJKLMNOP",
		Expiration: time.Now().Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		s.emit(ctx, ev)
	}
}
