package sts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts"
)

const (
	testAccount  = "123456789012"
	testClientID = "sts-test-client"
)

// clock is a shared, adjustable clock for the STS and the OIDC verifier.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testIssuer is a real OIDC issuer: discovery + JWKS over HTTP, RS256 keys.
type testIssuer struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	kid      string
	jwksDown atomic.Bool
	jwksHits atomic.Int64
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &testIssuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                iss.URL(),
			"jwks_uri":                              iss.URL() + "/jwks",
			"authorization_endpoint":                iss.URL() + "/auth",
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		iss.jwksHits.Add(1)
		if iss.jwksDown.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": iss.kid, "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	iss.srv = httptest.NewServer(mux)
	t.Cleanup(iss.srv.Close)
	return iss
}

func (i *testIssuer) URL() string { return i.srv.URL }

// hostPath is the issuer without scheme: the trust-policy key prefix.
func (i *testIssuer) hostPath() string { return strings.TrimPrefix(i.srv.URL, "http://") }

func (i *testIssuer) providerARN() string {
	return "arn:aws:iam::" + testAccount + ":oidc-provider/" + i.hostPath()
}

// token signs claims (defaults filled in) with the issuer's RS256 key.
func (i *testIssuer) token(t *testing.T, now time.Time, over map[string]any) string {
	t.Helper()
	claims := jwt.MapClaims{
		"iss": i.URL(), "sub": "repo:acme/app:ref:refs/heads/main", "aud": testClientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = i.kid
	if kid, ok := over["__kid"].(string); ok {
		tok.Header["kid"] = kid
		delete(claims, "__kid")
	}
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goOIDCVerifier adapts go-oidc's IDTokenVerifier to sts.WebIdentityVerifier.
type goOIDCVerifier struct {
	v        *oidc.IDTokenVerifier
	clientID string
}

func newGoOIDCVerifier(t *testing.T, iss *testIssuer, clk *clock) *goOIDCVerifier {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), iss.srv.Client())
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, iss.URL())
	if err != nil {
		t.Fatal(err)
	}
	return &goOIDCVerifier{
		v:        p.Verifier(&oidc.Config{ClientID: testClientID, Now: clk.Now, SupportedSigningAlgs: []string{oidc.RS256}}),
		clientID: testClientID,
	}
}

func (g *goOIDCVerifier) VerifyWebIdentity(ctx context.Context, raw string) (*sts.WebIdentity, error) {
	tok, err := g.v.Verify(ctx, raw)
	if err != nil {
		var te *oidc.TokenExpiredError
		switch {
		case errors.As(err, &te):
			return nil, fmt.Errorf("verify: %w", &awsspec.TokenExpiredError{Expiry: te.Expiry})
		case strings.Contains(err.Error(), "expected audience"):
			return nil, fmt.Errorf("%w: %v", awsspec.ErrAudience, err)
		case strings.Contains(err.Error(), "fetching keys"):
			return nil, fmt.Errorf("%w: %v", awsspec.ErrKeyUnavailable, err)
		}
		return nil, fmt.Errorf("%w: %v", awsspec.ErrInvalidToken, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: %v", awsspec.ErrInvalidToken, err)
	}
	id := &sts.WebIdentity{Issuer: tok.Issuer, Subject: tok.Subject, Audience: g.clientID,
		IssuedAt: tok.IssuedAt, Expiry: tok.Expiry, Claims: claims}
	if azp, ok := claims["azp"].(string); ok {
		id.AZP = azp
	}
	if amr, ok := claims["amr"].([]any); ok {
		for _, a := range amr {
			if s, ok := a.(string); ok {
				id.AMR = append(id.AMR, s)
			}
		}
	}
	return id, nil
}

// env is one STS behind a real HTTP server with a real OIDC issuer.
type env struct {
	t      *testing.T
	clk    *clock
	iss    *testIssuer
	svc    *sts.Service
	srv    *httptest.Server
	logs   *syncBuffer
	events *[]sts.AuditEvent
	evMu   *sync.Mutex
	keys   *sts.KeyRing
}

func trustPolicy(iss *testIssuer, extra string) string {
	hp := iss.hostPath()
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
	  "Principal":{"Federated":"` + iss.providerARN() + `"},
	  "Action":"sts:AssumeRoleWithWebIdentity",
	  "Condition":{"StringEquals":{"` + hp + `:aud":"` + testClientID + `"},
	               "StringLike":{"` + hp + `:sub":"repo:acme/*"}}}` + extra + `]}`
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with a hook that may add roles, providers, etc.
func newEnvWith(t *testing.T, mod func(e *env, cfg *sts.Config)) *env {
	t.Helper()
	clk := &clock{}
	iss := newTestIssuer(t)
	keys, err := sts.GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	e := &env{t: t, clk: clk, iss: iss, logs: logs, events: &[]sts.AuditEvent{}, evMu: &sync.Mutex{}, keys: keys}
	hp := iss.hostPath()
	tagTrust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
	  "Principal":{"Federated":"` + iss.providerARN() + `"},
	  "Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession","sts:SetSourceIdentity"],
	  "Condition":{"StringEquals":{"` + hp + `:aud":"` + testClientID + `"}}}]}`
	perm := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
	cfg := sts.Config{
		AccountID: testAccount,
		Keys:      keys,
		Now:       clk.Now,
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Audit: func(_ context.Context, ev sts.AuditEvent) {
			e.evMu.Lock()
			defer e.evMu.Unlock()
			*e.events = append(*e.events, ev)
		},
		ManagedPolicies: []sts.ManagedPolicy{{Name: "ReadOnly", Document: []byte(perm)}},
		Roles: []sts.RoleConfig{
			{Name: "ci-deployer", Path: "/ci/", MaxSessionDuration: 2 * time.Hour,
				TrustPolicy: []byte(trustPolicy(iss, "")), Policies: [][]byte{[]byte(perm)}},
			{Name: "tagged", TrustPolicy: []byte(tagTrust), PolicyARNs: []string{"arn:aws:iam::" + testAccount + ":policy/ReadOnly"}},
		},
		OIDCProviders: []sts.OIDCProvider{{Issuer: iss.URL(), Verifier: newGoOIDCVerifier(t, iss, clk)}},
	}
	if mod != nil {
		mod(e, &cfg)
	}
	svc, err := sts.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.srv = httptest.NewServer(svc)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) roleARN() string   { return "arn:aws:iam::" + testAccount + ":role/ci/ci-deployer" }
func (e *env) taggedARN() string { return "arn:aws:iam::" + testAccount + ":role/tagged" }

// client is an aws-sdk-go-v2 STS client pointed at the test server.
func (e *env) client(creds aws.CredentialsProvider) *awssts.Client {
	if creds == nil {
		creds = aws.AnonymousCredentials{}
	}
	return awssts.New(awssts.Options{
		BaseEndpoint: aws.String(e.srv.URL),
		Region:       "us-east-1",
		Credentials:  creds,
		HTTPClient:   e.srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func staticCreds(c *awssts.AssumeRoleWithWebIdentityOutput) aws.CredentialsProvider {
	return staticProvider(*c.Credentials.AccessKeyId, *c.Credentials.SecretAccessKey, *c.Credentials.SessionToken)
}

func staticProvider(akid, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token, Source: "test"}, nil
	})
}

// assume performs a successful exchange and returns the output.
func (e *env) assume(t *testing.T, session string) *awssts.AssumeRoleWithWebIdentityOutput {
	t.Helper()
	out, err := e.client(nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(e.roleARN()), RoleSessionName: aws.String(session),
		WebIdentityToken: aws.String(e.iss.token(t, e.clk.Now(), nil)),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	return out
}

// apiErr extracts the AWS code, message and HTTP status of an SDK error.
func apiErr(t *testing.T, err error) (code, msg string, status int) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error, got success")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

type rawResponse struct {
	status  int
	header  http.Header
	body    string
	code    string
	message string
	typ     string
}

// do sends a raw request and decodes an AWS error envelope if there is one.
func (e *env) do(t *testing.T, req *http.Request) rawResponse {
	t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	rr := rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if m := regexp.MustCompile(`<Type>(.*?)</Type><Code>(.*?)</Code><Message>(.*?)</Message>`).FindStringSubmatch(rr.body); m != nil {
		rr.typ, rr.code, rr.message = m[1], m[2], m[3]
	}
	return rr
}

func (e *env) postForm(t *testing.T, form string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return e.do(t, req)
}

// assertNoSecrets fails if the captured logs or audit events contain any of
// the given secrets, or anything shaped like a JWT.
func (e *env) assertNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	logs := e.logs.String()
	e.evMu.Lock()
	evs, _ := json.Marshal(*e.events)
	e.evMu.Unlock()
	for _, hay := range []string{logs, string(evs)} {
		for _, s := range secrets {
			if s != "" && strings.Contains(hay, s) {
				t.Errorf("log or audit contains a secret (%d chars)", len(s))
			}
		}
		if regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ`).MatchString(hay) {
			t.Error("log or audit contains a JWT")
		}
		if strings.Contains(strings.ToLower(hay), "x-amz-security-token") || strings.Contains(hay, "Authorization:") {
			t.Error("log or audit contains request credentials")
		}
	}
}

func (e *env) lastEvent(t *testing.T) sts.AuditEvent {
	t.Helper()
	e.evMu.Lock()
	defer e.evMu.Unlock()
	if len(*e.events) == 0 {
		t.Fatal("no audit event")
	}
	return (*e.events)[len(*e.events)-1]
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func pemPublicKey(t *testing.T, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}
