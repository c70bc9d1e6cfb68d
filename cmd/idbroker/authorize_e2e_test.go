package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/sts"
)

const (
	decDeveloperARN = "arn:aws:iam::123456789012:role/Developer"
	decAdminARN     = "arn:aws:iam::123456789012:role/Admin"
	// selfChainTrust lets a Developer session assume Developer again, so a
	// test can add a session policy to keys that came from the demo login.
	selfChainTrust = `{"Version":"2012-10-17","Statement":[{"Sid":"SelfChain","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::123456789012:role/Developer"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
)

// decisionConfig is the embedded demo configuration with admin.roles [Admin],
// and a Developer trust policy that allows role chaining (for session
// policies). The demo's users, rules and role
// policies are kept as they are.
func decisionConfig(t *testing.T) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(configs.Demo, &doc); err != nil {
		t.Fatal(err)
	}
	doc["admin"] = map[string]any{"roles": []any{"Admin"}}
	var trust any
	if err := json.Unmarshal([]byte(selfChainTrust), &trust); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range doc["roles"].([]any) {
		if role := r.(map[string]any); role["name"] == "Developer" {
			role["trust_policy"] = trust
			found = true
		}
	}
	if !found {
		t.Fatal("the demo configuration has no Developer role")
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// developerPolicy is the Developer role's permission policy of the demo
// configuration, as JSON.
func developerPolicy(t *testing.T) json.RawMessage {
	t.Helper()
	cfg, err := parseConfig(configs.Demo, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cfg.Roles {
		if r.Name == "Developer" && len(r.Policies) == 1 {
			return json.RawMessage(r.Policies[0].JSON)
		}
	}
	t.Fatal("the demo Developer role does not have exactly one inline policy")
	return nil
}

// minted are minted credentials.
type minted struct{ id, secret, token string }

func (c minted) aws() aws.CredentialsProvider { return staticCreds(c.id, c.secret, c.token) }

// decLogin signs in through POST /api/v1/credentials.
func decLogin(t *testing.T, base, user, role string) minted {
	t.Helper()
	body := map[string]any{"provider": "demo", "username": user, "password": user}
	if role != "" {
		body["role"] = role
	}
	status, out := apiLogin(t, base, body)
	if status != 200 {
		t.Fatalf("%s login: %d %v", user, status, out)
	}
	return minted{out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)}
}

// chain assumes Developer again with the caller's keys and a session policy
// (aws-sdk-go-v2 AssumeRole against the server's STS).
func decChain(t *testing.T, base string, caller minted, sessionPolicy string) minted {
	t.Helper()
	in := &awssts.AssumeRoleInput{RoleArn: aws.String(decDeveloperARN), RoleSessionName: aws.String("alice-narrowed")}
	if sessionPolicy != "" {
		in.Policy = aws.String(sessionPolicy)
	}
	out, err := stsClient(base, caller.aws()).AssumeRole(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRole with session policy: %v", err)
	}
	c := out.Credentials
	return minted{*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken}
}

type decResult struct {
	status int
	raw    []byte
	body   map[string]any
}

func (r decResult) code() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (r decResult) decision() string { s, _ := r.body["decision"].(string); return s }

// sids lists the statement ids of "matched", sorted.
func (r decResult) sids() []string {
	var out []string
	list, _ := r.body["matched"].([]any)
	for _, m := range list {
		sid, _ := m.(map[string]any)["sid"].(string)
		out = append(out, sid)
	}
	slices.Sort(out)
	return out
}

func decDo(t *testing.T, req *http.Request) decResult {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := decResult{status: resp.StatusCode, raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("status %d, body not JSON: %s", resp.StatusCode, raw)
	}
	return r
}

// signedRequest signs req with c (SigV4, service "sts", us-east-1) at the
// given time, as any AWS SDK would sign an STS call.
func decSign(t *testing.T, req *http.Request, body []byte, c minted, at time.Time) *http.Request {
	t.Helper()
	sum := sha256.Sum256(body)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.id, SecretAccessKey: c.secret, SessionToken: c.token},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// authorizeSigned asks POST /api/v1/authorize in the signed form.
func decAuthorizeSigned(t *testing.T, base string, c minted, question map[string]any) decResult {
	t.Helper()
	body, _ := json.Marshal(question)
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/authorize", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return decDo(t, decSign(t, req, body, c, time.Now()))
}

// authorizePlain asks POST /api/v1/authorize in the plain form.
func decAuthorizePlain(t *testing.T, base string, body any) decResult {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/authorize", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	return decDo(t, req)
}

func decQuestion(action, resource string, ctx map[string]any) map[string]any {
	q := map[string]any{"action": action, "resource": resource}
	if ctx != nil {
		q["context"] = ctx
	}
	return q
}

// mintExpired mints Developer credentials with the server's key ring (keys
// dir) on an STS whose clock is three hours behind, so they expired two
// hours ago: the same sealing keys, a real AssumeRole, no forged bytes.
func decMintExpired(t *testing.T, ring *sts.KeyRing) minted {
	t.Helper()
	past := time.Now().Add(-3 * time.Hour)
	svc, err := sts.New(sts.Config{
		AccountID: "123456789012", Keys: ring, Now: func() time.Time { return past },
		Roles: []sts.RoleConfig{{Name: "Developer", TrustPolicy: []byte(selfChainTrust), Policies: [][]byte{developerPolicy(t)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	caller := &sts.Session{Account: "123456789012", RoleARN: decDeveloperARN, RoleName: "Developer", RoleID: "AROAEXAMPLEEXAMPLEEX", SessionName: "alice",
		IssuedAt: past, Expiration: past.Add(time.Hour)}
	out, err := svc.AssumeRole(context.Background(), caller, &sts.AssumeRoleInput{RoleArn: decDeveloperARN, RoleSessionName: "alice-old"})
	if err != nil {
		t.Fatalf("mint in the past: %v", err)
	}
	if time.Until(out.Credentials.Expiration) > -time.Hour {
		t.Fatalf("credentials expire at %v, want two hours ago", out.Credentials.Expiration)
	}
	return minted{out.Credentials.AccessKeyID, out.Credentials.SecretAccessKey, out.Credentials.SessionToken}
}

// startAssembled serves the app assemble() builds from yamlConfig on an
// httptest server and returns it with the STS key ring it runs with, so a
// test can mint credentials with the same keys on another clock.
func startAssembled(t *testing.T, yamlConfig []byte) (*testServer, *sts.KeyRing) {
	t.Helper()
	cfg, err := parseConfig(yamlConfig, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	sec, err := generateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := assemble(cfg, sec, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.startRevocations(ctx, nil2discard())
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() { srv.Close(); cancel(); a.close() })
	return &testServer{URL: srv.URL, Logs: logs}, sec.ring
}

func decTamper(token string) string {
	b := []byte(token)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestAuthorizeDecisions: keys from the demo login (alice as Developer),
// and the same keys narrowed by session policies through AssumeRole, asked
// about through the signed decision API.
func TestAuthorizeDecisions(t *testing.T) {
	ts := startServer(t, decisionConfig(t))
	alice := decLogin(t, ts.URL, "alice", "")

	widen := decChain(t, ts.URL, alice, `{"Version":"2012-10-17","Statement":[{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"}]}`)
	denySecret := decChain(t, ts.URL, alice, `{"Version":"2012-10-17","Statement":[`+
		`{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"},`+
		`{"Sid":"NoSecrets","Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::demo-bucket/secret/*"}]}`)
	mfaOnly := decChain(t, ts.URL, alice, `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyWithMFA","Effect":"Allow","Action":"s3:*","Resource":"*",`+
		`"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`)
	officeOnly := decChain(t, ts.URL, alice, `{"Version":"2012-10-17","Statement":[{"Sid":"FromTheOffice","Effect":"Allow","Action":"s3:*","Resource":"*",`+
		`"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`)

	cases := []struct {
		name     string
		c        minted
		q        map[string]any
		decision string
		sids     []string
	}{
		{"alice may read the demo bucket", alice, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", nil), "Allow", []string{"ReadDemoBuckets"}},
		{"alice may list the demo bucket", alice, decQuestion("s3:ListBucket", "arn:aws:s3:::demo-bucket", nil), "Allow", []string{"ReadDemoBuckets"}},
		{"alice may not write", alice, decQuestion("s3:PutObject", "arn:aws:s3:::demo-bucket/key", nil), "ImplicitDeny", nil},
		{"alice may not read another bucket", alice, decQuestion("s3:GetObject", "arn:aws:s3:::prod-bucket/key", nil), "ImplicitDeny", nil},
		{"action names are case-insensitive", alice, decQuestion("S3:getobject", "arn:aws:s3:::demo-bucket/key", nil), "Allow", []string{"ReadDemoBuckets"}},
		{"a widening session policy still allows reads", widen, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", nil), "Allow", []string{"Everything", "ReadDemoBuckets"}},
		{"a widening session policy cannot grant writes", widen, decQuestion("s3:PutObject", "arn:aws:s3:::demo-bucket/key", nil), "ImplicitDeny", nil},
		{"a widening session policy cannot grant other buckets", widen, decQuestion("s3:GetObject", "arn:aws:s3:::prod-bucket/key", nil), "ImplicitDeny", nil},
		{"explicit deny in the session policy", denySecret, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/secret/plans", nil), "ExplicitDeny", []string{"NoSecrets"}},
		{"explicit deny leaves the rest", denySecret, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/readme", nil), "Allow", []string{"Everything", "ReadDemoBuckets"}},
		{"MFA comes from the session (none)", mfaOnly, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", nil), "ImplicitDeny", nil},
		{"caller context: source IP inside", officeOnly, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", map[string]any{"aws:SourceIp": "10.1.2.3"}), "Allow", []string{"FromTheOffice", "ReadDemoBuckets"}},
		{"caller context: source IP outside", officeOnly, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", map[string]any{"aws:SourceIp": "192.0.2.1"}), "ImplicitDeny", nil},
		{"caller context: list values", alice, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", map[string]any{"aws:TagKeys": []string{"a", "b"}}), "Allow", []string{"ReadDemoBuckets"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := decAuthorizeSigned(t, ts.URL, tc.c, tc.q)
			if r.status != 200 || r.decision() != tc.decision || !slices.Equal(r.sids(), tc.sids) {
				t.Fatalf("got %d %s, want decision %s matched %v", r.status, r.raw, tc.decision, tc.sids)
			}
			if len(r.body) != 2 {
				t.Errorf("answer has fields beyond decision and matched: %s", r.raw)
			}
		})
	}
	ts.assertNoSecrets(t, alice.secret, alice.token, widen.token, denySecret.token)
	if !strings.Contains(ts.Logs.String(), `"event":"authorize"`) {
		t.Error("decisions are not audited")
	}
}

// TestAuthorizeCallerCannotClaimSessionKeys: context keys the STS derives
// from the session are refused, whatever their spelling, so a token holder
// cannot claim MFA, another principal, tags or a provider's subject.
func TestAuthorizeCallerCannotClaimSessionKeys(t *testing.T) {
	ts := startServer(t, decisionConfig(t))
	alice := decLogin(t, ts.URL, "alice", "")
	mfaOnly := decChain(t, ts.URL, alice, `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyWithMFA","Effect":"Allow","Action":"s3:*","Resource":"*",`+
		`"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`)
	for _, key := range []string{
		"aws:MultiFactorAuthPresent", "AWS:MULTIFACTORAUTHPRESENT", "aws:MultiFactorAuthAge",
		"aws:PrincipalArn", "aws:userid", "aws:username", "aws:PrincipalAccount", "aws:PrincipalType",
		"aws:PrincipalTag/team", "aws:SourceIdentity", "aws:TokenIssueTime", "aws:FederatedProvider",
		"aws:CurrentTime", "aws:EpochTime", "saml:sub", "sts:RoleSessionName",
		"127.0.0.1:8080:sub", "accounts.google.com:sub", "token.actions.githubusercontent.com:aud",
	} {
		t.Run(key, func(t *testing.T) {
			val := "true"
			if strings.Contains(strings.ToLower(key), "arn") {
				val = decAdminARN
			}
			r := decAuthorizeSigned(t, ts.URL, mfaOnly, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", map[string]any{key: val}))
			if r.status != 400 || r.code() != "InvalidRequest" || !strings.Contains(string(r.raw), "derived from the session") {
				t.Fatalf("claiming %s: %d %s", key, r.status, r.raw)
			}
		})
	}
	// Without the claim the same question is denied: the MFA flag is the
	// session's (the demo login has none).
	if r := decAuthorizeSigned(t, ts.URL, mfaOnly, decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", nil)); r.decision() != "ImplicitDeny" {
		t.Fatalf("without MFA: %d %s", r.status, r.raw)
	}
}

// TestAuthorizeRefusals: bad credentials get the STS's codes in the API's
// JSON error shape, malformed questions 400, large bodies 413.
func TestAuthorizeRefusals(t *testing.T) {
	ts, ring := startAssembled(t, decisionConfig(t))
	alice := decLogin(t, ts.URL, "alice", "")
	expired := decMintExpired(t, ring)
	wrongSecret := alice
	wrongSecret.secret = "A" + alice.secret[1:]
	if wrongSecret.secret == alice.secret {
		wrongSecret.secret = "B" + alice.secret[1:]
	}
	tampered := alice
	tampered.token = decTamper(alice.token)
	otherKey := alice
	otherKey.id = "ASIAAAAAAAAAAAAAAAAA"
	q := decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", nil)

	t.Run("signed", func(t *testing.T) {
		cases := []struct {
			name       string
			c          minted
			wantStatus int
			wantCode   string
		}{
			{"tampered session token", tampered, 403, "InvalidClientTokenId"},
			{"access key id of another token", otherKey, 403, "InvalidClientTokenId"},
			{"expired token", expired, 403, "ExpiredToken"},
			{"wrong secret", wrongSecret, 403, "SignatureDoesNotMatch"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := decAuthorizeSigned(t, ts.URL, tc.c, q)
				if r.status != tc.wantStatus || r.code() != tc.wantCode {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.wantStatus, tc.wantCode)
				}
				if _, ok := r.body["decision"]; ok {
					t.Fatal("a decision was given")
				}
			})
		}
		t.Run("body changed after signing", func(t *testing.T) {
			body, _ := json.Marshal(q)
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/authorize", bytes.NewReader([]byte(`{"action":"s3:PutObject","resource":"*"}`)))
			req.Header.Set("Content-Type", "application/json")
			decSign(t, req, body, alice, time.Now())
			if r := decDo(t, req); r.status != 403 || r.code() != "SignatureDoesNotMatch" {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
		})
		t.Run("credentials in the body of a signed request", func(t *testing.T) {
			qq := decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", nil)
			qq["access_key_id"], qq["session_token"] = expired.id, expired.token
			if r := decAuthorizeSigned(t, ts.URL, alice, qq); r.status != 400 || r.code() != "InvalidRequest" {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
		})
	})

	t.Run("malformed", func(t *testing.T) {
		cases := []struct {
			name       string
			body       any
			wantStatus int
			wantCode   string
		}{
			{"no credentials", q, 403, "MissingAuthenticationToken"},
			{"unknown field", map[string]any{"action": "s3:GetObject", "resource": "*", "principal": decDeveloperARN}, 400, "InvalidRequest"},
			{"not JSON", `{"action":`, 400, "InvalidRequest"},
			{"two objects", `{"action":"s3:GetObject","resource":"*"} {}`, 400, "InvalidRequest"},
			{"no action", map[string]any{"resource": "*"}, 400, "InvalidRequest"},
			{"action without service", map[string]any{"action": "GetObject", "resource": "*"}, 400, "InvalidRequest"},
			{"no resource", map[string]any{"action": "s3:GetObject"}, 400, "InvalidRequest"},
			{"context nested list", decQuestion("s3:GetObject", "*", map[string]any{"s3:prefix": []any{[]any{"a"}}}), 400, "InvalidRequest"},
			{"context null", decQuestion("s3:GetObject", "*", map[string]any{"aws:SourceIp": nil}), 400, "InvalidRequest"},
			{"context object", decQuestion("s3:GetObject", "*", map[string]any{"aws:SourceIp": map[string]any{"a": "b"}}), 400, "InvalidRequest"},
			{"context key without prefix", decQuestion("s3:GetObject", "*", map[string]any{"SourceIp": "10.0.0.1"}), 400, "InvalidRequest"},
			{"context key twice", `{"action":"s3:GetObject","resource":"*","context":{"aws:SourceIp":"10.0.0.1","AWS:SOURCEIP":"192.0.2.1"}}`, 400, "InvalidRequest"},
			{"body over 64 KiB", decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/"+strings.Repeat("k", 70<<10), nil), 413, "RequestTooLarge"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := decAuthorizePlain(t, ts.URL, tc.body)
				if r.status != tc.wantStatus || r.code() != tc.wantCode {
					t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.wantStatus, tc.wantCode)
				}
			})
		}
	})

	t.Run("plain form", func(t *testing.T) {
		plain := func(c minted) map[string]any {
			b := decQuestion("s3:GetObject", "arn:aws:s3:::demo-bucket/key", nil)
			b["access_key_id"], b["session_token"] = c.id, c.token
			return b
		}
		r := decAuthorizePlain(t, ts.URL, plain(alice))
		if r.status != 200 || r.decision() != "Allow" {
			t.Fatalf("plain form, alice: %d %s", r.status, r.raw)
		}
		cases := []struct {
			name     string
			c        minted
			wantCode string
		}{
			{"tampered session token", tampered, "InvalidClientTokenId"},
			{"access key id does not match the token", otherKey, "InvalidClientTokenId"},
			{"expired token", expired, "ExpiredToken"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if r := decAuthorizePlain(t, ts.URL, plain(tc.c)); r.status != 403 || r.code() != tc.wantCode {
					t.Fatalf("got %d %s, want 403 %s", r.status, r.raw, tc.wantCode)
				}
			})
		}
	})
	ts.assertNoSecrets(t, alice.secret, alice.token, expired.token, expired.secret)
}

// TestAuthorizeAgreesWithPolicySimulate is issue #3's "done when": the
// decision API and `idbroker policy simulate` give the same decision and
// the same deciding statements for the same role policy, session policy,
// action, resource and context.
func TestAuthorizeAgreesWithPolicySimulate(t *testing.T) {
	ts := startServer(t, decisionConfig(t))
	alice := decLogin(t, ts.URL, "alice", "")
	rolePolicy := developerPolicy(t)

	sessionPolicies := map[string]string{
		"none":    "",
		"widen":   `{"Version":"2012-10-17","Statement":[{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"}]}`,
		"narrow":  `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyReadme","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::demo-bucket/readme"}]}`,
		"deny":    `{"Version":"2012-10-17","Statement":[{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::demo-bucket/secret/*"}]}`,
		"ip":      `{"Version":"2012-10-17","Statement":[{"Sid":"FromTheOffice","Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.0/24"]}}}]}`,
		"prefix":  `{"Version":"2012-10-17","Statement":[{"Sid":"HomeOnly","Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringLike":{"s3:prefix":["home/alice/*"]}}}]}`,
		"mfa":     `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyWithMFA","Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`,
		"notmfa":  `{"Version":"2012-10-17","Statement":[{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"DenyWithoutMFA","Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}`,
		"self":    `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyDevelopers","Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/Developer"}}}]}`,
		"notself": `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyAdmins","Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/Admin"}}}]}`,
		"maxkeys": `{"Version":"2012-10-17","Statement":[{"Sid":"SmallLists","Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"NumericLessThanEquals":{"s3:max-keys":"100"},"Bool":{"s3:versions":"false"}}}]}`,
	}
	keys := map[string]minted{}
	for name, doc := range sessionPolicies {
		if doc == "" {
			keys[name] = alice
			continue
		}
		keys[name] = decChain(t, ts.URL, alice, doc)
	}
	// What the STS derives from a Developer session made by the demo login;
	// simulate has to be told (the decision API must not be).
	derived := map[string]any{
		"aws:PrincipalArn": decDeveloperARN, "aws:PrincipalAccount": "123456789012",
		"aws:PrincipalType": "AssumedRole", "aws:MultiFactorAuthPresent": "false",
	}

	type tcase struct {
		session, action, resource string
		ctx                       map[string]any
	}
	var cases []tcase
	for _, s := range []string{"none", "widen", "narrow", "deny", "mfa", "notmfa", "self", "notself"} {
		for _, ar := range [][2]string{
			{"s3:GetObject", "arn:aws:s3:::demo-bucket/readme"},
			{"s3:GetObject", "arn:aws:s3:::demo-bucket/secret/plans"},
			{"s3:PutObject", "arn:aws:s3:::demo-bucket/readme"},
			{"s3:ListBucket", "arn:aws:s3:::demo-bucket"},
			{"s3:GetObject", "arn:aws:s3:::prod-bucket/readme"},
			{"iam:CreateUser", "*"},
		} {
			cases = append(cases, tcase{s, ar[0], ar[1], nil})
		}
	}
	for _, ip := range []string{"10.9.8.7", "192.0.2.200", "198.51.100.1"} {
		cases = append(cases, tcase{"ip", "s3:GetObject", "arn:aws:s3:::demo-bucket/k", map[string]any{"aws:SourceIp": ip}})
	}
	cases = append(cases, tcase{"ip", "s3:GetObject", "arn:aws:s3:::demo-bucket/k", nil})
	// Numbers and booleans in the context are read the same way by both.
	for _, ctx := range []map[string]any{
		{"s3:max-keys": 10, "s3:versions": false}, {"s3:max-keys": 1000, "s3:versions": false},
		{"s3:max-keys": "50", "s3:versions": true}, {"s3:max-keys": []any{5, 7}, "s3:versions": "false"},
	} {
		cases = append(cases, tcase{"maxkeys", "s3:ListBucket", "arn:aws:s3:::demo-bucket", ctx})
	}
	for _, prefix := range []any{"home/alice/docs/", "home/bob/", []string{"home/alice/a", "home/alice/b"}} {
		cases = append(cases, tcase{"prefix", "s3:ListBucket", "arn:aws:s3:::demo-bucket", map[string]any{"s3:prefix": prefix}})
	}

	seen := map[string]bool{}
	for _, tc := range cases {
		name := fmt.Sprintf("%s/%s/%s/%v", tc.session, tc.action, tc.resource, tc.ctx)
		t.Run(name, func(t *testing.T) {
			api := decAuthorizeSigned(t, ts.URL, keys[tc.session], decQuestion(tc.action, tc.resource, tc.ctx))
			if api.status != 200 {
				t.Fatalf("decision API: %d %s", api.status, api.raw)
			}

			simCtx := map[string]any{}
			for k, v := range derived {
				simCtx[k] = v
			}
			for k, v := range tc.ctx {
				simCtx[k] = v
			}
			in := map[string]any{"policies": []json.RawMessage{rolePolicy}, "action": tc.action, "resource": tc.resource, "context": simCtx}
			if doc := sessionPolicies[tc.session]; doc != "" {
				in["session_policies"] = []json.RawMessage{json.RawMessage(doc)}
			}
			stdin, _ := json.Marshal(in)
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"policy", "simulate"}, bytes.NewReader(stdin), &out, &errb); code != 0 {
				t.Fatalf("policy simulate exit %d: %s", code, errb.String())
			}
			var sim decResult
			if err := json.Unmarshal(out.Bytes(), &sim.body); err != nil {
				t.Fatalf("simulate output: %v: %s", err, out.String())
			}
			if api.decision() != sim.decision() || !slices.Equal(api.sids(), sim.sids()) {
				t.Fatalf("decision API says %s %v, policy simulate says %s %v", api.decision(), api.sids(), sim.decision(), sim.sids())
			}
			seen[api.decision()] = true
		})
	}
	// The table must exercise every outcome, or agreement means little.
	for _, d := range []string{"Allow", "ImplicitDeny", "ExplicitDeny"} {
		if !seen[d] {
			t.Errorf("no case ended in %s", d)
		}
	}
}
