package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/pquerna/otp/totp"
	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/sts"
)

const (
	mfaSensitiveARN = "arn:aws:iam::123456789012:role/Sensitive"
	mfaAliceSerial  = "arn:aws:iam::123456789012:mfa/alice"
	// mfaDeveloperPolicy is the demo's Developer read access plus writes
	// that need MFA within the hour.
	mfaDeveloperPolicy = `{"Version":"2012-10-17","Statement":[
	  {"Sid":"ReadDemoBuckets","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::demo-*","arn:aws:s3:::demo-*/*"]},
	  {"Sid":"WriteWithFreshMFA","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::demo-*/*",
	   "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}]}`
	// mfaSensitiveTrust lets Developer sessions assume Sensitive, with MFA only.
	mfaSensitiveTrust = `{"Version":"2012-10-17","Statement":[{"Sid":"DevelopersWithMFA","Effect":"Allow",
	  "Principal":{"AWS":"arn:aws:iam::123456789012:role/Developer"},"Action":"sts:AssumeRole",
	  "Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`
	mfaSensitivePolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"DeleteWithinFiveMinutes","Effect":"Allow",
	  "Action":"s3:DeleteObject","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"300"}}}]}`
)

// stsMFAConfig is the embedded demo with the Developer policy above and a
// role Sensitive that only Developer sessions with MFA may assume.
func stsMFAConfig(t *testing.T) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(configs.Demo, &doc); err != nil {
		t.Fatal(err)
	}
	asJSON := func(s string) any {
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	roles := doc["roles"].([]any)
	for _, r := range roles {
		if role := r.(map[string]any); role["name"] == "Developer" {
			role["policies"] = []any{asJSON(mfaDeveloperPolicy)}
		}
	}
	doc["roles"] = append(roles, map[string]any{
		"name": "Sensitive", "trust_policy": asJSON(mfaSensitiveTrust), "policies": []any{asJSON(mfaSensitivePolicy)},
	})
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mfaPost posts a JSON body, with a bearer token when given.
func mfaPost(t *testing.T, url, bearer string, body any) (int, map[string]any) {
	t.Helper()
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: status %d, body not JSON: %s", url, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// totpSteps waits, when needed, until at least 20 seconds of the current
// 30-second step are left, and returns the codes of the previous, current
// and next steps: all three are accepted (one step of drift) while the
// broker's clock stays in this step, and each works once.
func totpSteps(t *testing.T, secret string) (prev, cur, next string) {
	t.Helper()
	now := time.Now()
	if left := 30*time.Second - now.Sub(now.Truncate(30*time.Second)); left < 20*time.Second {
		time.Sleep(left + 100*time.Millisecond)
		now = time.Now()
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return code(now.Add(-30 * time.Second)), code(now), code(now.Add(30 * time.Second))
}

// TestSTSMFA: alice enrols a TOTP device by the API; keys from a sign-in
// without a code carry aws:MultiFactorAuthPresent false (the Developer
// policy's MFA-only write is refused, the authorize API and policy
// simulate agree) and cannot assume Sensitive, whose trust policy wants
// MFA; AssumeRole with her serial and a code (aws-sdk-go-v2) can, once per
// code; another person's serial is refused without using the code up; a
// sign-in with a code gives keys with MFA.
func TestSTSMFA(t *testing.T) {
	ts := startServer(t, stsMFAConfig(t))
	status, out := mfaPost(t, ts.URL+"/api/v1/sessions", "", map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
	bearer, _ := out["session_token"].(string)
	if status != 201 || bearer == "" {
		t.Fatalf("sign-in: %d %v", status, out)
	}
	status, out = mfaPost(t, ts.URL+"/api/v1/mfa/totp", bearer, map[string]any{})
	secret, _ := out["secret"].(string)
	if status != 200 || secret == "" {
		t.Fatalf("enrol: %d %v", status, out)
	}
	prev, cur, next := totpSteps(t, secret)
	if status, out = mfaPost(t, ts.URL+"/api/v1/mfa/totp/confirm", bearer, map[string]any{"code": cur}); status != 200 {
		t.Fatalf("confirm: %d %v", status, out)
	}

	// Keys without MFA (the demo provider does not ask for it).
	plain := decLogin(t, ts.URL, "alice", "Developer")
	developer := json.RawMessage(mfaDeveloperPolicy)
	agree := func(name string, c minted, action, resource string, derived map[string]any, policies json.RawMessage, want string) {
		t.Helper()
		api := decAuthorizeSigned(t, ts.URL, c, decQuestion(action, resource, nil))
		in := map[string]any{"policies": []json.RawMessage{policies}, "action": action, "resource": resource, "context": derived}
		stdin, _ := json.Marshal(in)
		var sout, serr bytes.Buffer
		if code := run(context.Background(), []string{"policy", "simulate"}, bytes.NewReader(stdin), &sout, &serr); code != 0 {
			t.Fatalf("%s: policy simulate exit %d: %s", name, code, serr.String())
		}
		var sim decResult
		if err := json.Unmarshal(sout.Bytes(), &sim.body); err != nil {
			t.Fatal(err)
		}
		if api.status != 200 || api.decision() != want || sim.decision() != want {
			t.Fatalf("%s: %s: authorize API %d %s, policy simulate %s; want %s", name, action, api.status, api.decision(), sim.decision(), want)
		}
	}
	noMFA := map[string]any{"aws:MultiFactorAuthPresent": "false"}
	agree("no MFA", plain, "s3:GetObject", "arn:aws:s3:::demo-bucket/k", noMFA, developer, "Allow")
	agree("no MFA", plain, "s3:PutObject", "arn:aws:s3:::demo-bucket/k", noMFA, developer, "ImplicitDeny")

	client := stsClient(ts.URL, plain.aws())
	assume := func(serial, code *string) (*awssts.AssumeRoleOutput, error) {
		return client.AssumeRole(context.Background(), &awssts.AssumeRoleInput{
			RoleArn: aws.String(mfaSensitiveARN), RoleSessionName: aws.String("alice-sensitive"), SerialNumber: serial, TokenCode: code})
	}
	// The trust policy wants MFA.
	if _, err := assume(nil, nil); apiCode(err) != "AccessDenied" {
		t.Fatalf("Sensitive without MFA: %v", err)
	}
	// Another person's serial: refused, and the code is not used up.
	const failed = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
	for _, serial := range []string{"arn:aws:iam::123456789012:mfa/bob", "arn:aws:iam::999999999999:mfa/alice", "GAHT12345678"} {
		_, err := assume(aws.String(serial), aws.String(prev))
		if apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), failed) {
			t.Fatalf("serial %s: %v", serial, err)
		}
	}
	// Her serial and a code: the new session has MFA from now.
	hop, err := assume(aws.String(mfaAliceSerial), aws.String(next))
	if err != nil {
		t.Fatalf("AssumeRole with the TOTP code: %v", err)
	}
	sensitive := minted{*hop.Credentials.AccessKeyId, *hop.Credentials.SecretAccessKey, *hop.Credentials.SessionToken}
	withMFA := map[string]any{"aws:MultiFactorAuthPresent": "true", "aws:MultiFactorAuthAge": "0"}
	agree("AssumeRole with MFA", sensitive, "s3:DeleteObject", "arn:aws:s3:::demo-bucket/k", withMFA, json.RawMessage(mfaSensitivePolicy), "Allow")
	// Each code works once.
	if _, err := assume(aws.String(mfaAliceSerial), aws.String(next)); apiCode(err) != "AccessDenied" || !strings.Contains(err.Error(), failed) {
		t.Fatalf("reused code: %v", err)
	}
	// A sign-in with the code the refused serials did not use: keys with MFA.
	status, out = apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice", "role": "Developer", "totp_code": prev})
	if status != 200 {
		t.Fatalf("sign-in with a TOTP code: %d %v", status, out)
	}
	strong := minted{out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)}
	agree("sign-in with MFA", strong, "s3:PutObject", "arn:aws:s3:::demo-bucket/k", withMFA, developer, "Allow")
	// Those keys carry the MFA into AssumeRole without a code.
	if _, err := stsClient(ts.URL, strong.aws()).AssumeRole(context.Background(), &awssts.AssumeRoleInput{
		RoleArn: aws.String(mfaSensitiveARN), RoleSessionName: aws.String("alice-inherits")}); err != nil {
		t.Fatalf("AssumeRole from keys with MFA: %v", err)
	}

	logs := ts.Logs.String()
	for _, want := range []string{`"event":"mfa.verified"`, `"event":"mfa.failed"`, `"reason":"MFA: `} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	ts.assertNoSecrets(t, secret, bearer)
	for _, c := range []string{prev, cur, next} {
		if strings.Contains(logs, `"`+c+`"`) {
			t.Errorf("a TOTP code appears in the logs")
		}
	}
}

// TestSAMLMFAReachesDecisions: the broker's own SAML Response with the
// REFEDS MFA class (AuthnInstant the MFA's time), verified by the real
// SAML verifier and redeemed with aws-sdk-go-v2, makes a session with
// aws:MultiFactorAuthPresent and aws:MultiFactorAuthAge counted from that
// instant: a trust policy that wants MFA admits it and not the same
// Response without MFA; a permission wanting MFA within five minutes allows
// a two-minute-old MFA and not a ten-minute-old one.
func TestSAMLMFAReachesDecisions(t *testing.T) {
	dir := t.TempDir()
	if err := broker.InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := sts.InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	keys, err := broker.LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	const providerARN = "arn:aws:iam::123456789012:saml-provider/idbroker"
	ts := startServer(t, []byte(fmt.Sprintf(`
account_id: "123456789012"
keys: {dir: %q}
roles:
  - name: Developer
    policies:
      - {Version: "2012-10-17", Statement: [{Sid: FreshMFA, Effect: Allow, Action: "s3:PutObject", Resource: "*",
         Condition: {NumericLessThan: {"aws:MultiFactorAuthAge": "300"}}}]}
  - name: Sensitive
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {Federated: %q}, Action: "sts:AssumeRoleWithSAML",
           Condition: {Bool: {"aws:MultiFactorAuthPresent": "true"}}}
`, dir, providerARN)))
	idp, err := broker.NewSAMLIdP(broker.SAMLIdPConfig{PublicURL: ts.URL, ProviderARN: providerARN, Key: keys.SAMLKey, Certificate: keys.SAMLCert})
	if err != nil {
		t.Fatal(err)
	}
	redeem := func(role string, mfa bool, authTime time.Time) (*awssts.AssumeRoleWithSAMLOutput, error) {
		roleARN := "arn:aws:iam::123456789012:role/" + role
		b64, err := idp.Sign(broker.SAMLAssertionRequest{RoleARN: roleARN, NameID: broker.Subject(role, "okta", "alice"),
			SessionName: "alice", Duration: 20 * time.Minute, MFA: mfa, AuthTime: authTime})
		if err != nil {
			t.Fatal(err)
		}
		return stsClient(ts.URL, nil).AssumeRoleWithSAML(context.Background(), &awssts.AssumeRoleWithSAMLInput{
			RoleArn: aws.String(roleARN), PrincipalArn: aws.String(providerARN), SAMLAssertion: aws.String(b64)})
	}
	now := time.Now()
	if _, err := redeem("Sensitive", false, now); apiCode(err) != "AccessDenied" {
		t.Fatalf("Sensitive without MFA: %v", err)
	}
	if _, err := redeem("Sensitive", true, now.Add(-time.Minute)); err != nil {
		t.Fatalf("Sensitive with MFA: %v", err)
	}
	for _, tc := range []struct {
		name string
		mfa  bool
		ago  time.Duration
		want string
	}{
		{"MFA two minutes ago", true, 2 * time.Minute, "Allow"},
		{"MFA ten minutes ago", true, 10 * time.Minute, "ImplicitDeny"},
		{"no MFA", false, 0, "ImplicitDeny"},
	} {
		out, err := redeem("Developer", tc.mfa, now.Add(-tc.ago))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := minted{*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken}
		if got := decAuthorizeSigned(t, ts.URL, c, decQuestion("s3:PutObject", "arn:aws:s3:::b/k", nil)); got.decision() != tc.want {
			t.Errorf("%s: %d %s, want %s", tc.name, got.status, got.raw, tc.want)
		}
	}
}
