package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// syncBuffer collects log output from the server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testServer is the real idbroker server on a loopback port.
type testServer struct {
	URL string
	// MetricsURL is its metrics listener (server.metrics_listen).
	MetricsURL string
	Logs       *syncBuffer
}

// startServer runs serve() with the given configuration on 127.0.0.1:0.
func startServer(t *testing.T, yamlConfig []byte) *testServer {
	t.Helper()
	cfg, err := parseConfig(yamlConfig, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Server.Listen = "127.0.0.1:0"
	if cfg.Server.MetricsListen == "" {
		cfg.Server.MetricsListen = "127.0.0.1:0"
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, ready) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return &testServer{URL: "http://" + addr, MetricsURL: metricsURLFromLogs(t, logs), Logs: logs}
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	return nil
}

// assertNoSecrets fails when a secret appears in the captured logs.
// issued reads the minted-credential counter from the metrics listener.
func (ts *testServer) issued(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(ts.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := issuedMetric.FindSubmatch(b)
	if m == nil {
		t.Fatal("no idbroker_sts_credentials_issued_total in /metrics")
	}
	f, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return int(f)
}

var issuedMetric = regexp.MustCompile(`(?m)^idbroker_sts_credentials_issued_total ([0-9.e+]+)$`)

func (ts *testServer) assertNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	logs := ts.Logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%.6s…) appears in the logs", s)
		}
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ`),
		regexp.MustCompile(`(?i)"password":`),
		regexp.MustCompile(`(?i)x-amz-security-token`),
	} {
		if loc := re.FindStringIndex(logs); loc != nil {
			t.Errorf("logs match %s: …%s…", re, logs[max(0, loc[0]-40):min(len(logs), loc[1]+40)])
		}
	}
}

func stsClient(endpoint string, creds aws.CredentialsProvider) *awssts.Client {
	if creds == nil {
		creds = aws.AnonymousCredentials{}
	}
	return awssts.New(awssts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      creds,
		RetryMaxAttempts: 1,
	})
}

func staticCreds(id, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "test"}, nil
	})
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func issuerConfig(issuer, hostPath string) []byte {
	return []byte(fmt.Sprintf(`
account_id: "123456789012"
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: devs, when: {groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
  - name: CI
    max_session_duration: 2h
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "arn:aws:iam::123456789012:oidc-provider/%[2]s"}
          Action: sts:AssumeRoleWithWebIdentity
          Condition:
            StringEquals: {"%[2]s:aud": "ci-client"}
            StringLike: {"%[2]s:sub": "repo:acme/*"}
sts:
  oidc_providers:
    - issuer: %[1]s
      client_ids: [ci-client]
`, issuer, hostPath))
}

// TestWebIdentityWithAWSSDK is the spine's end-to-end test: a real OIDC
// issuer mints a token, aws-sdk-go-v2 trades it for keys at the real server,
// and GetCallerIdentity signed with those keys names the assumed role.
func TestWebIdentityWithAWSSDK(t *testing.T) {
	idp := oidctest.New(t)
	u, _ := url.Parse(idp.Issuer())
	hostPath := u.Host + u.Path
	ts := startServer(t, issuerConfig(idp.Issuer(), hostPath))
	ctx := context.Background()

	claims := idp.Claims("ci-client")
	claims["sub"] = "repo:acme/app:ref:main"
	token := idp.Sign(claims)

	out, err := stsClient(ts.URL, nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::123456789012:role/CI"),
		RoleSessionName:  aws.String("ci-run-42"),
		WebIdentityToken: aws.String(token),
		DurationSeconds:  aws.Int32(903),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	c := out.Credentials
	if !regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`).MatchString(*c.AccessKeyId) || len(*c.SecretAccessKey) != 40 || *c.SessionToken == "" {
		t.Fatalf("credentials shape: %q / %d / %d", *c.AccessKeyId, len(*c.SecretAccessKey), len(*c.SessionToken))
	}
	if got := time.Until(*c.Expiration); got < 880*time.Second || got > 910*time.Second {
		t.Errorf("expiration in %v, want about 903s", got)
	}
	wantARN := "arn:aws:sts::123456789012:assumed-role/CI/ci-run-42"
	if *out.AssumedRoleUser.Arn != wantARN || *out.SubjectFromWebIdentityToken != "repo:acme/app:ref:main" {
		t.Errorf("assumed role %q subject %q", *out.AssumedRoleUser.Arn, *out.SubjectFromWebIdentityToken)
	}
	if !regexp.MustCompile(`^AROA[A-Z0-9]{17}:ci-run-42$`).MatchString(*out.AssumedRoleUser.AssumedRoleId) {
		t.Errorf("AssumedRoleId %q", *out.AssumedRoleUser.AssumedRoleId)
	}

	who, err := stsClient(ts.URL, staticCreds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *who.Arn != wantARN || *who.Account != "123456789012" || *who.UserId != *out.AssumedRoleUser.AssumedRoleId {
		t.Errorf("caller identity %q %q %q", *who.Arn, *who.Account, *who.UserId)
	}
	ts.assertNoSecrets(t, token, *c.SecretAccessKey, *c.SessionToken)
}

// TestWebIdentityRefusals drives hostile tokens and parameters through the
// real wiring (providers/oidc verifier + STS) with the AWS SDK.
func TestWebIdentityRefusals(t *testing.T) {
	idp := oidctest.New(t)
	u, _ := url.Parse(idp.Issuer())
	hostPath := u.Host + u.Path
	ts := startServer(t, issuerConfig(idp.Issuer(), hostPath))
	other := oidctest.New(t)
	ctx := context.Background()

	good := func() map[string]any {
		c := idp.Claims("ci-client")
		c["sub"] = "repo:acme/app"
		return c
	}
	expired := good()
	expired["iat"] = time.Now().Add(-2 * time.Hour).Unix()
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	wrongAud := good()
	wrongAud["aud"] = "someone-else"
	wrongSub := good()
	wrongSub["sub"] = "repo:evil/app"
	otherClaims := other.Claims("ci-client")

	pubPEM := publicKeyPEM(t, idp.CurrentKey().Public())
	cases := []struct {
		name, token, session string
		duration             *int32
		wantCode             string
	}{
		{"wrong aud", idp.Sign(wrongAud), "s1", nil, "InvalidIdentityToken"},
		{"unknown issuer", other.Sign(otherClaims), "s1", nil, "InvalidIdentityToken"},
		{"expired", idp.Sign(expired), "s1", nil, "ExpiredTokenException"},
		{"alg none", unsignedToken(good()), "s1", nil, "InvalidIdentityToken"},
		{"HS256 with the public key", idp.SignHMAC("HS256", pubPEM, map[string]any{"kid": idp.CurrentKey().KID}, good()), "s1", nil, "InvalidIdentityToken"},
		{"trust policy refuses sub", idp.Sign(wrongSub), "s1", nil, "AccessDenied"},
		{"session name with slash", idp.Sign(good()), "a/b", nil, "ValidationError"},
		{"session name too short", idp.Sign(good()), "a", nil, "ValidationError"},
		{"duration 899", idp.Sign(good()), "s1", aws.Int32(899), "ValidationError"},
		{"duration 43201", idp.Sign(good()), "s1", aws.Int32(43201), "ValidationError"},
		{"duration above role max", idp.Sign(good()), "s1", aws.Int32(7201), "ValidationError"},
	}
	before := ts.issued(t)
	defer func() {
		if after := ts.issued(t); after != before {
			t.Errorf("%d credentials issued by refused requests", after-before)
		}
	}()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := stsClient(ts.URL, nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
				RoleArn:          aws.String("arn:aws:iam::123456789012:role/CI"),
				RoleSessionName:  aws.String(tc.session),
				WebIdentityToken: aws.String(tc.token),
				DurationSeconds:  tc.duration,
			})
			if code := apiCode(err); code != tc.wantCode {
				t.Fatalf("error %v (code %q), want %s", err, code, tc.wantCode)
			}
			ts.assertNoSecrets(t, tc.token)
		})
	}
	t.Run("missing parameters", func(t *testing.T) {
		resp := postForm(t, ts.URL, url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}})
		if resp.code != "ValidationError" || resp.status != 400 || strings.Contains(resp.body, "<Credentials>") {
			t.Fatalf("got %d %s: %s", resp.status, resp.code, resp.body)
		}
	})
	t.Run("unknown action", func(t *testing.T) {
		resp := postForm(t, ts.URL, url.Values{"Action": {"GetEverything"}, "Version": {"2011-06-15"}})
		if resp.code != "InvalidAction" || resp.status != 400 {
			t.Fatalf("got %d %s: %s", resp.status, resp.code, resp.body)
		}
	})
}

type stsResp struct {
	status     int
	code, body string
}

var codeRE = regexp.MustCompile(`<Code>([^<]*)</Code>`)

func postForm(t *testing.T, base string, v url.Values) stsResp {
	t.Helper()
	resp, err := http.PostForm(base+"/", v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := stsResp{status: resp.StatusCode, body: string(b)}
	if m := codeRE.FindStringSubmatch(r.body); m != nil {
		r.code = m[1]
	}
	return r
}

// apiLogin calls POST /api/v1/credentials.
func apiLogin(t *testing.T, base string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	resp, err := http.Post(base+"/api/v1/credentials", "application/json", rd)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d, body not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// TestDemoLoginThenCallerIdentity logs in to the embedded demo through the
// JSON API and uses the keys with the AWS SDK.
func TestDemoLoginThenCallerIdentity(t *testing.T) {
	ts := startServer(t, configs.Demo)
	ctx := context.Background()

	status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
	if status != 200 {
		t.Fatalf("alice: %d %v", status, out)
	}
	if out["Version"] != float64(1) || out["RoleArn"] != "arn:aws:iam::123456789012:role/Developer" || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
		t.Fatalf("alice: %v", out)
	}
	exp, err := time.Parse(time.RFC3339, out["Expiration"].(string))
	if err != nil || time.Until(exp) < 59*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Errorf("Expiration %v (%v), want about 1h", out["Expiration"], err)
	}
	id, secret, token := out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)
	who, err := stsClient(ts.URL, staticCreds(id, secret, token)).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *who.Arn != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
		t.Errorf("Arn %q", *who.Arn)
	}

	// bob has two grants: he must choose, then gets what he chose.
	status, out = apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "bob", "password": "bob"})
	if status != 409 {
		t.Fatalf("bob without role: %d %v", status, out)
	}
	e := out["error"].(map[string]any)
	if e["code"] != "RoleChoiceRequired" || fmt.Sprint(e["roles"]) != "[arn:aws:iam::123456789012:role/Developer arn:aws:iam::123456789012:role/Admin]" {
		t.Fatalf("bob: %v", e)
	}
	status, out = apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "bob", "password": "bob", "role": "Admin", "duration_seconds": 7200})
	if status != 200 || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Admin/bob" {
		t.Fatalf("bob as Admin: %d %v", status, out)
	}
	// Admin's maximum is 1h: the request for 2h is shortened, not refused.
	if exp, _ := time.Parse(time.RFC3339, out["Expiration"].(string)); time.Until(exp) > 61*time.Minute {
		t.Errorf("Admin session lasts until %v, beyond the role's 1h", exp)
	}
	ts.assertNoSecrets(t, secret, token, out["SecretAccessKey"].(string), out["SessionToken"].(string))
}

// TestAPIRefusals: every bad input gets its status and code, nothing is
// issued, and no password reaches the logs.
func TestAPIRefusals(t *testing.T) {
	ts := startServer(t, configs.Demo)
	before := ts.issued(t)
	defer func() {
		if after := ts.issued(t); after != before {
			t.Errorf("%d credentials issued by refused requests", after-before)
		}
	}()
	const canary = "CANARY-pw-7f3a9"
	cases := []struct {
		name       string
		body       any
		wantStatus int
		wantCode   string
	}{
		{"wrong password", map[string]any{"provider": "demo", "username": "alice", "password": canary}, 401, "InvalidCredentials"},
		{"unknown user", map[string]any{"provider": "demo", "username": "mallory", "password": canary}, 401, "InvalidCredentials"},
		{"empty password", map[string]any{"provider": "demo", "username": "alice", "password": ""}, 401, "InvalidCredentials"},
		{"malformed JSON", `{"provider":"demo","username":"alice","password":`, 400, "InvalidRequest"},
		{"unknown field", map[string]any{"provider": "demo", "username": "alice", "password": "alice", "admin": true}, 400, "InvalidRequest"},
		{"unknown provider", map[string]any{"provider": "nope", "username": "alice", "password": canary}, 400, "UnknownProvider"},
		{"role not granted", map[string]any{"provider": "demo", "username": "alice", "password": "alice", "role": "Admin"}, 403, "RoleNotGranted"},
		{"duration too short", map[string]any{"provider": "demo", "username": "alice", "password": "alice", "duration_seconds": 60}, 400, "InvalidRequest"},
		{"body over 64 KiB", map[string]any{"provider": "demo", "username": "alice", "password": strings.Repeat("x", 70<<10)}, 413, "RequestTooLarge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := apiLogin(t, ts.URL, tc.body)
			e, _ := out["error"].(map[string]any)
			if status != tc.wantStatus || e == nil || e["code"] != tc.wantCode {
				t.Fatalf("got %d %v, want %d %s", status, out, tc.wantStatus, tc.wantCode)
			}
			if _, ok := out["SecretAccessKey"]; ok {
				t.Fatal("credentials issued")
			}
		})
	}
	// Unknown user and wrong password are indistinguishable.
	_, a := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "nope"})
	_, b := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "mallory", "password": "nope"})
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("wrong password %v vs unknown user %v", a, b)
	}
	ts.assertNoSecrets(t, canary)
}

// TestSigV4Refusals: forged, tampered, stale and unsigned requests.
func TestSigV4Refusals(t *testing.T) {
	ts := startServer(t, configs.Demo)
	_, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
	id, secret, token := out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)

	tampered := []byte(token)
	tampered[len(tampered)/2] ^= 0x01
	if tampered[len(tampered)/2] == '.' || tampered[len(tampered)/2] == '-' {
		tampered[len(tampered)/2] = 'A'
	}
	wrongSecret := "A" + secret[1:]
	if wrongSecret == secret {
		wrongSecret = "B" + secret[1:]
	}
	cases := []struct {
		name              string
		id, secret, token string
		at                time.Time
		wantStatus        int
		wantCode          string
	}{
		{"valid", id, secret, token, time.Now(), 200, ""},
		{"tampered session token", id, secret, string(tampered), time.Now(), 403, "InvalidClientTokenId"},
		{"wrong secret", id, wrongSecret, token, time.Now(), 403, "SignatureDoesNotMatch"},
		{"16 minutes old", id, secret, token, time.Now().Add(-16 * time.Minute), 403, "SignatureDoesNotMatch"},
		{"16 minutes ahead", id, secret, token, time.Now().Add(16 * time.Minute), 403, "SignatureDoesNotMatch"},
		{"another access key id", "ASIAAAAAAAAAAAAAAAAA", secret, token, time.Now(), 403, "InvalidClientTokenId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := "Action=GetCallerIdentity&Version=2011-06-15"
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			sum := sha256.Sum256([]byte(body))
			err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: tc.id, SecretAccessKey: tc.secret, SessionToken: tc.token},
				req, hex.EncodeToString(sum[:]), "sts", "us-east-1", tc.at)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code := ""
			if m := codeRE.FindStringSubmatch(string(b)); m != nil {
				code = m[1]
			}
			if resp.StatusCode != tc.wantStatus || code != tc.wantCode {
				t.Fatalf("got %d %q, want %d %q: %s", resp.StatusCode, code, tc.wantStatus, tc.wantCode, b)
			}
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		r := postForm(t, ts.URL, url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
		if r.status != 403 || r.code != "MissingAuthenticationToken" {
			t.Fatalf("got %d %s", r.status, r.code)
		}
	})
	ts.assertNoSecrets(t, secret, token)
}

// metricsURLFromLogs is the metrics listener's URL as serve logged it
// (logged before the server is ready).
func metricsURLFromLogs(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	m := metricsListening.FindStringSubmatch(logs.String())
	if m == nil {
		return ""
	}
	return "http://" + m[1]
}

var metricsListening = regexp.MustCompile(`"msg":"metrics listening","addr":"([^"]+)"`)
