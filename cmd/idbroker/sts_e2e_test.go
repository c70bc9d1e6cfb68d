package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// stsChainConfig: a CI role assumed with web identity (the entry point),
// and AssumeRole targets that trust it in the ways §7.5 distinguishes.
func stsChainConfig(issuer, hostPath string) []byte {
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
    policies:
      - Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: ["s3:GetObject", "sts:AssumeRole"], Resource: "*"}
          - {Effect: Deny, Action: "sts:AssumeRole", Resource: "arn:aws:iam::123456789012:role/AccountTrustDenied"}
  - name: Plain
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "arn:aws:iam::123456789012:oidc-provider/%[2]s"}
          Action: sts:AssumeRoleWithWebIdentity
  - name: test-role
    max_session_duration: 4h
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:role/CI"}, Action: [sts:AssumeRole, sts:SetSourceIdentity]}
        - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:role/CI"}, Action: sts:TagSession, Condition: {StringEquals: {"aws:RequestTag/project": "unicorn"}}}
  - name: external
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {AWS: "arn:aws:iam::123456789012:role/CI"}
          Action: sts:AssumeRole
          Condition: {StringEquals: {"sts:ExternalId": "s3cr3t-ext"}}
  - name: AccountTrust
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {AWS: "123456789012"}, Action: sts:AssumeRole}
  - name: AccountTrustDenied
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:root"}, Action: sts:AssumeRole}
sts:
  oidc_providers:
    - issuer: %[1]s
      client_ids: [ci-client]
`, issuer, hostPath))
}

type stsChainEnv struct {
	ts  *testServer
	idp *oidctest.Server
}

func newSTSChainEnv(t *testing.T) *stsChainEnv {
	t.Helper()
	idp := oidctest.New(t)
	u, _ := url.Parse(idp.Issuer())
	return &stsChainEnv{ts: startServer(t, stsChainConfig(idp.Issuer(), u.Host+u.Path)), idp: idp}
}

// session assumes role (CI or Plain) with a web identity token and returns
// a client signing with the minted credentials, and the assumed-role ARN.
func (e *stsChainEnv) session(t *testing.T, role, name string, region string) (*awssts.Client, string) {
	t.Helper()
	return e.sessionWithPolicy(t, role, name, region, "")
}

func (e *stsChainEnv) sessionWithPolicy(t *testing.T, role, name, region, policy string) (*awssts.Client, string) {
	t.Helper()
	claims := e.idp.Claims("ci-client")
	claims["sub"] = "repo:acme/app"
	out, err := stsClient(e.ts.URL, nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/" + role), RoleSessionName: aws.String(name),
		WebIdentityToken: aws.String(e.idp.Sign(claims)),
		Policy:           map[bool]*string{true: nil, false: aws.String(policy)}[policy == ""],
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity %s: %v", role, err)
	}
	c := out.Credentials
	creds := staticCreds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	if region == "" {
		region = "us-east-1"
	}
	return awssts.New(awssts.Options{Region: region, BaseEndpoint: aws.String(e.ts.URL), Credentials: creds, RetryMaxAttempts: 1}), *out.AssumedRoleUser.Arn
}

const testRoleARN = "arn:aws:iam::123456789012:role/test-role"

// TestSTSMotoChecklist ports the moto test_sts.py / test_auth.py cases of
// STS-SPEC §9.1-§9.2 that apply to an STS without IAM users.
func TestSTSMotoChecklist(t *testing.T) {
	e := newSTSChainEnv(t)
	ctx := context.Background()
	ci, ciARN := e.session(t, "CI", "ci-run", "")

	t.Run("test_assume_role", func(t *testing.T) {
		policy := `{"Version":"2012-10-17","Statement":[{"Sid":"Stmt13690092345534","Action":["S3:ListBucket"],"Effect":"Allow","Resource":["arn:aws:s3:::foobar-tester"]}]}`
		start := time.Now()
		out, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{
			RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("session-name"),
			Policy: aws.String(policy), DurationSeconds: aws.Int32(900),
		})
		if err != nil {
			t.Fatalf("AssumeRole: %v", err)
		}
		c := out.Credentials
		if len(*c.SessionToken) == 0 || len(*c.AccessKeyId) != 20 || !strings.HasPrefix(*c.AccessKeyId, "ASIA") || len(*c.SecretAccessKey) != 40 {
			t.Errorf("credential shape %q %d", *c.AccessKeyId, len(*c.SecretAccessKey))
		}
		if d := c.Expiration.Sub(start); d < 899*time.Second || d > 901*time.Second {
			t.Errorf("expiration %v after the call, want 900s", d)
		}
		if *out.AssumedRoleUser.Arn != "arn:aws:sts::123456789012:assumed-role/test-role/session-name" {
			t.Errorf("Arn %q", *out.AssumedRoleUser.Arn)
		}
		id := *out.AssumedRoleUser.AssumedRoleId
		if !strings.HasPrefix(id, "AROA") || !strings.HasSuffix(id, ":session-name") || len(id) != 21+1+len("session-name") {
			t.Errorf("AssumedRoleId %q", id)
		}
		if out.PackedPolicySize == nil {
			t.Error("PackedPolicySize missing with a session policy")
		}
		// test_get_caller_identity_with_assumed_role_credentials
		who, err := awssts.New(awssts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.ts.URL), RetryMaxAttempts: 1,
			Credentials: staticCreds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)}).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if *who.Arn != *out.AssumedRoleUser.Arn || *who.UserId != id || *who.Account != "123456789012" {
			t.Errorf("caller identity %q %q %q", *who.Arn, *who.UserId, *who.Account)
		}
	})

	t.Run("test_assume_role_with_too_long_role_session_name", func(t *testing.T) {
		name := strings.Repeat("s", 65)
		_, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String(name)})
		code, msg, status := stsAPIErr(t, err)
		want := "1 validation error detected: Value '" + name + "' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64"
		if code != "ValidationError" || status != 400 || msg != want {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})

	t.Run("test_get_session_token with session credentials", func(t *testing.T) {
		_, err := ci.GetSessionToken(ctx, &awssts.GetSessionTokenInput{DurationSeconds: aws.Int32(903)})
		code, msg, status := stsAPIErr(t, err)
		if code != "AccessDenied" || status != 403 || msg != "Cannot call GetSessionToken with session credentials" {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})
	t.Run("test_get_federation_token with session credentials", func(t *testing.T) {
		_, err := ci.GetFederationToken(ctx, &awssts.GetFederationTokenInput{Name: aws.String("Bob"), DurationSeconds: aws.Int32(903)})
		code, msg, status := stsAPIErr(t, err)
		if code != "AccessDenied" || status != 403 || msg != "Cannot call GetFederationToken with session credentials" {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})
	t.Run("test_federation_token_with_too_long_policy", func(t *testing.T) {
		_, err := ci.GetFederationToken(ctx, &awssts.GetFederationTokenInput{Name: aws.String("Bob"), Policy: aws.String(`{"a":"` + strings.Repeat("x", 2048) + `"}`)})
		code, msg, status := stsAPIErr(t, err)
		if code != "ValidationError" || status != 400 || !strings.Contains(msg, "2048") {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})
	t.Run("GetFederationToken name of 33 characters", func(t *testing.T) {
		_, err := ci.GetFederationToken(ctx, &awssts.GetFederationTokenInput{Name: aws.String(strings.Repeat("b", 33))})
		code, msg, _ := stsAPIErr(t, err)
		if code != "ValidationError" || !strings.Contains(msg, "at 'name' failed to satisfy constraint: Member must have length less than or equal to 32") {
			t.Errorf("%s %q", code, msg)
		}
	})
	t.Run("GetSessionToken DurationSeconds 129601", func(t *testing.T) {
		_, err := ci.GetSessionToken(ctx, &awssts.GetSessionTokenInput{DurationSeconds: aws.Int32(129601)})
		if code, msg, _ := stsAPIErr(t, err); code != "ValidationError" || !strings.Contains(msg, "129600") {
			t.Errorf("%s %q", code, msg)
		}
	})
	t.Run("test_get_access_key_info", func(t *testing.T) {
		out, err := ci.GetAccessKeyInfo(ctx, &awssts.GetAccessKeyInfoInput{AccessKeyId: aws.String("ASIAQWERTYUIOPASDFGH")})
		if err != nil || aws.ToString(out.Account) != "123456789012" {
			t.Fatalf("GetAccessKeyInfo: %v %v", out, err)
		}
		_, err = ci.GetAccessKeyInfo(ctx, &awssts.GetAccessKeyInfoInput{AccessKeyId: aws.String("AKIA-not-a-key!")})
		if code, _, _ := stsAPIErr(t, err); code != "ValidationError" {
			t.Errorf("bad key id: %s", code)
		}
	})
	t.Run("test_sts_regions", func(t *testing.T) {
		for _, region := range []string{"us-west-2", "eu-central-1"} {
			c, _ := e.session(t, "CI", "regional", region)
			if _, err := c.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{}); err != nil {
				t.Errorf("%s: %v", region, err)
			}
		}
	})
	t.Run("test_invalid_client_token_id", func(t *testing.T) {
		bad := awssts.New(awssts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.ts.URL), RetryMaxAttempts: 1,
			Credentials: staticCreds("ASIAINVALIDKEY000000", "x", "bm90LWEtdG9rZW4")})
		_, err := bad.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
		code, msg, status := stsAPIErr(t, err)
		if code != "InvalidClientTokenId" || status != 403 || msg != "The security token included in the request is invalid." {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})
	t.Run("test_signature_does_not_match", func(t *testing.T) {
		claims := e.idp.Claims("ci-client")
		claims["sub"] = "repo:acme/app"
		out, err := stsClient(e.ts.URL, nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String("arn:aws:iam::123456789012:role/CI"), RoleSessionName: aws.String("sig"), WebIdentityToken: aws.String(e.idp.Sign(claims)),
		})
		if err != nil {
			t.Fatal(err)
		}
		c := out.Credentials
		wrong := awssts.New(awssts.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.ts.URL), RetryMaxAttempts: 1,
			Credentials: staticCreds(*c.AccessKeyId, strings.Repeat("A", 40), *c.SessionToken)})
		_, err = wrong.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("x1")})
		code, msg, status := stsAPIErr(t, err)
		if code != "SignatureDoesNotMatch" || status != 403 || msg != "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details." {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})
	t.Run("MissingAuthenticationToken", func(t *testing.T) {
		_, err := stsClient(e.ts.URL, nil).AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("anon")})
		code, msg, status := stsAPIErr(t, err)
		if code != "MissingAuthenticationToken" || status != 403 || msg != "Request is missing Authentication Token" {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})
	t.Run("test_sts_assume_role_with_external_id", func(t *testing.T) {
		ext := "arn:aws:iam::123456789012:role/external"
		_, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(ext), RoleSessionName: aws.String("x" + "y"), ExternalId: aws.String("wrong-ext")})
		code, msg, status := stsAPIErr(t, err)
		if code != "AccessDenied" || status != 403 || msg != "User: "+ciARN+" is not authorized to perform: sts:AssumeRole on resource: "+ext {
			t.Errorf("%s %d %q", code, status, msg)
		}
		if _, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(ext), RoleSessionName: aws.String("xy"), ExternalId: aws.String("s3cr3t-ext")}); err != nil {
			t.Errorf("right ExternalId: %v", err)
		}
	})
	t.Run("test_sts_assume_role_with_principal", func(t *testing.T) {
		plain, plainARN := e.session(t, "Plain", "p1", "")
		_, err := plain.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("p2")})
		code, msg, status := stsAPIErr(t, err)
		if code != "AccessDenied" || status != 403 || msg != "User: "+plainARN+" is not authorized to perform: sts:AssumeRole on resource: "+testRoleARN {
			t.Errorf("%s %d %q", code, status, msg)
		}
	})
	t.Run("trust naming the account needs the caller's policy", func(t *testing.T) {
		if _, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/AccountTrust"), RoleSessionName: aws.String("acct")}); err != nil {
			t.Errorf("CI (policy allows sts:AssumeRole): %v", err)
		}
		plain, _ := e.session(t, "Plain", "p3", "")
		_, err := plain.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/AccountTrust"), RoleSessionName: aws.String("acct")})
		if code, _, _ := stsAPIErr(t, err); code != "AccessDenied" {
			t.Errorf("Plain (no policy): %s", code)
		}
		_, err = ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/AccountTrustDenied"), RoleSessionName: aws.String("acct")})
		if code, _, _ := stsAPIErr(t, err); code != "AccessDenied" {
			t.Errorf("explicit deny in caller policy: %s", code)
		}
		// A session policy narrows the caller: a CI session limited to
		// s3:GetObject cannot assume through the account trust, but still
		// can where the trust policy names its role directly.
		narrow, _ := e.sessionWithPolicy(t, "CI", "narrow", "", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`)
		_, err = narrow.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/AccountTrust"), RoleSessionName: aws.String("acct")})
		if code, _, _ := stsAPIErr(t, err); code != "AccessDenied" {
			t.Errorf("narrowed session via account trust: %s", code)
		}
		if _, err := narrow.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("direct")}); err != nil {
			t.Errorf("narrowed session, trust names its role: %v", err)
		}
	})
}

// TestSTSExactness drives §9.3 rows and §2 bounds through aws-sdk-go-v2.
func TestSTSExactness(t *testing.T) {
	e := newSTSChainEnv(t)
	ctx := context.Background()
	ci, _ := e.session(t, "CI", "ci-x", "")
	tags := func(n int) []ststypes.Tag {
		out := make([]ststypes.Tag, n)
		for i := range out {
			out[i] = ststypes.Tag{Key: aws.String("k" + strconv.Itoa(i)), Value: aws.String("v")}
		}
		return out
	}
	cases := []struct {
		name       string
		in         awssts.AssumeRoleInput
		wantCode   string
		wantStatus int
		wantMsg    string // substring
	}{
		{"session name a:b", awssts.AssumeRoleInput{RoleSessionName: aws.String("a:b")}, "ValidationError", 400, `Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{"session name x/y", awssts.AssumeRoleInput{RoleSessionName: aws.String("x/y")}, "ValidationError", 400, `at 'roleSessionName'`},
		{"duration 899", awssts.AssumeRoleInput{DurationSeconds: aws.Int32(899)}, "ValidationError", 400, "Member must have value greater than or equal to 900"},
		{"duration 43201", awssts.AssumeRoleInput{DurationSeconds: aws.Int32(43201)}, "ValidationError", 400, "Member must have value less than or equal to 43200"},
		{"chaining 3601", awssts.AssumeRoleInput{DurationSeconds: aws.Int32(3601)}, "ValidationError", 400, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."},
		{"policy 2049 chars", awssts.AssumeRoleInput{Policy: aws.String(strings.Repeat(" ", 2049))}, "ValidationError", 400, "Member must have length less than or equal to 2048"},
		{"policy not JSON", awssts.AssumeRoleInput{Policy: aws.String("{not json")}, "MalformedPolicyDocument", 400, ""},
		{"11 policy ARNs", awssts.AssumeRoleInput{PolicyArns: func() []ststypes.PolicyDescriptorType {
			var l []ststypes.PolicyDescriptorType
			for i := 0; i < 11; i++ {
				l = append(l, ststypes.PolicyDescriptorType{Arn: aws.String("arn:aws:iam::123456789012:policy/p" + strconv.Itoa(i))})
			}
			return l
		}()}, "ValidationError", 400, "at 'policyArns'"},
		{"51 tags", awssts.AssumeRoleInput{Tags: tags(51)}, "ValidationError", 400, "Member must have length less than or equal to 50"},
		{"tag key 129 chars", awssts.AssumeRoleInput{Tags: []ststypes.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}}, "ValidationError", 400, "at 'tags.1.member.key'"},
		{"tags not allowed by trust condition", awssts.AssumeRoleInput{Tags: []ststypes.Tag{{Key: aws.String("project"), Value: aws.String("dragon")}}}, "AccessDenied", 403, "is not authorized to perform: sts:AssumeRole on resource"},
		{"transitive key not a tag", awssts.AssumeRoleInput{TransitiveTagKeys: []string{"project"}}, "ValidationError", 400, ""},
		{"external id with space", awssts.AssumeRoleInput{ExternalId: aws.String("a b")}, "ValidationError", 400, "at 'externalId'"},
		{"source identity with slash", awssts.AssumeRoleInput{SourceIdentity: aws.String("a/b")}, "ValidationError", 400, "at 'sourceIdentity'"},
		{"MFA code", awssts.AssumeRoleInput{SerialNumber: aws.String("arn:aws:iam::123456789012:mfa/alice"), TokenCode: aws.String("123456")}, "AccessDenied", 403, "MultiFactorAuthentication failed"},
		{"token code 5 digits", awssts.AssumeRoleInput{SerialNumber: aws.String("arn:aws:iam::123456789012:mfa/alice"), TokenCode: aws.String("12345")}, "ValidationError", 400, "at 'tokenCode'"},
		{"unknown role", awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/nope")}, "AccessDenied", 403, "on resource: arn:aws:iam::123456789012:role/nope"},
		{"role ARN 19 chars", awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::1:r/ab")}, "ValidationError", 400, "Member must have length greater than or equal to 20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.RoleArn == nil {
				in.RoleArn = aws.String(testRoleARN)
			}
			if in.RoleSessionName == nil {
				in.RoleSessionName = aws.String("exact")
			}
			out, err := ci.AssumeRole(ctx, &in)
			if out != nil && out.Credentials != nil {
				t.Fatal("credentials came back")
			}
			code, msg, status := stsAPIErr(t, err)
			if code != tc.wantCode || status != tc.wantStatus || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("got %s %d %q, want %s %d ~%q", code, status, msg, tc.wantCode, tc.wantStatus, tc.wantMsg)
			}
		})
	}
	t.Run("typed exceptions", func(t *testing.T) {
		_, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("typed"), Policy: aws.String("[")})
		var mpd *ststypes.MalformedPolicyDocumentException
		if !errors.As(err, &mpd) {
			t.Errorf("not a MalformedPolicyDocumentException: %T %v", err, err)
		}
	})
	t.Run("successes: 3600 chained, tags with TagSession, source identity", func(t *testing.T) {
		out, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{
			RoleArn: aws.String(testRoleARN), RoleSessionName: aws.String("ok"), DurationSeconds: aws.Int32(3600),
			Tags:              []ststypes.Tag{{Key: aws.String("project"), Value: aws.String("unicorn")}},
			TransitiveTagKeys: []string{"project"}, SourceIdentity: aws.String("alice"),
		})
		if err != nil {
			t.Fatalf("AssumeRole: %v", err)
		}
		if aws.ToString(out.SourceIdentity) != "alice" || out.PackedPolicySize == nil {
			t.Errorf("SourceIdentity %q PackedPolicySize %v", aws.ToString(out.SourceIdentity), out.PackedPolicySize)
		}
		if !regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`).MatchString(*out.Credentials.AccessKeyId) {
			t.Errorf("AccessKeyId %q", *out.Credentials.AccessKeyId)
		}
	})
}
