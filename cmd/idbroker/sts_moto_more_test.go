package main

// More of the moto checklist (STS-SPEC §9.1-§9.3) through aws-sdk-go-v2
// against the real server: ARN partitions, GetCallerIdentity under a
// denying session policy, the modeled exceptions as typed errors,
// ExpiredToken for expired session keys and RequestExpired for an expired
// pre-signed URL.
//
// moto items that do not apply to this STS, and why:
//   - test_get_caller_identity_with_iam_user_credentials,
//     test_get_access_key_info_with_iam_user, test_access_denied_with_no_policy
//     (and the other IAM-user cases of test_auth.py): there are no IAM users
//     and no long-term (AKIA) keys; every key is a role session minted by
//     this STS.
//   - test_get_caller_identity_with_default_credentials: moto answers for
//     unknown keys with a built-in default identity; here an unknown key is
//     InvalidClientTokenId (TestSTSMotoChecklist/test_invalid_client_token_id).
//   - test_get_session_token / test_get_federation_token succeeding: both
//     need long-term user keys; with session keys they are refused with
//     AccessDenied (covered in TestSTSMotoChecklist).
//   - test_sts_integration.py (AssumeRole / AssumeRoleWithSAML into a role of
//     another account, 111111111111): one STS serves one account_id, so a role
//     of another account does not exist here (AccessDenied, below).
//   - test_perform_role_based_action, test_s3_invalid_token_with_temporary_credentials,
//     test_allowed_with_wildcard_action: they call IAM/S3 with the session,
//     services this STS does not implement (its policy decisions are exposed
//     by /api/v1/authorize, covered in authorize_e2e_test.go).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/providers/oidc/oidctest"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// motoConfig: an STS of the given ARN partition with a web-identity role CI
// (may assume, tag, decode authorization messages) and AssumeRole targets.
func motoConfig(partition, issuer, hostPath string) []byte {
	return []byte(fmt.Sprintf(`
account_id: "123456789012"
partition: %[1]s
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
          Principal: {Federated: "arn:%[1]s:iam::123456789012:oidc-provider/%[3]s"}
          Action: sts:AssumeRoleWithWebIdentity
          Condition:
            StringEquals: {"%[3]s:aud": "ci-client"}
    policies:
      - Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: ["sts:AssumeRole", "sts:TagSession", "sts:DecodeAuthorizationMessage", "s3:GetObject"], Resource: "*"}
  - name: test-role
    max_session_duration: 4h
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {AWS: "arn:%[1]s:iam::123456789012:role/CI"}, Action: [sts:AssumeRole, sts:TagSession]}
  - name: AccountTrust
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {AWS: "123456789012"}, Action: sts:AssumeRole}
sts:
  oidc_providers:
    - issuer: %[2]s
      client_ids: [ci-client]
`, partition, issuer, hostPath))
}

type motoEnv struct {
	ts        *testServer
	idp       *oidctest.Server
	partition string
	hostPath  string
}

func newMotoEnv(t *testing.T, partition string) *motoEnv {
	t.Helper()
	idp := oidctest.New(t)
	u, err := url.Parse(idp.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	hostPath := u.Host + u.Path
	return &motoEnv{ts: startServer(t, motoConfig(partition, idp.Issuer(), hostPath)), idp: idp, partition: partition, hostPath: hostPath}
}

func (e *motoEnv) roleARN(name string) string {
	return "arn:" + e.partition + ":iam::123456789012:role/" + name
}

// token is a CI ID token; edit may change its claims.
func (e *motoEnv) token(edit func(c map[string]any)) string {
	c := e.idp.Claims("ci-client")
	c["sub"] = "repo:acme/app"
	if edit != nil {
		edit(c)
	}
	return e.idp.Sign(c)
}

func (e *motoEnv) webIdentity(ctx context.Context, in *awssts.AssumeRoleWithWebIdentityInput) (*awssts.AssumeRoleWithWebIdentityOutput, error) {
	if in.RoleArn == nil {
		in.RoleArn = aws.String(e.roleARN("CI"))
	}
	if in.RoleSessionName == nil {
		in.RoleSessionName = aws.String("ci-run")
	}
	if in.WebIdentityToken == nil {
		in.WebIdentityToken = aws.String(e.token(nil))
	}
	return stsClient(e.ts.URL, nil).AssumeRoleWithWebIdentity(ctx, in)
}

// ciSession is a client signing with a CI session's keys (session policy
// optional), and those keys.
func (e *motoEnv) ciSession(t *testing.T, region, policy string) (*awssts.Client, *ststypes.Credentials, string) {
	t.Helper()
	in := &awssts.AssumeRoleWithWebIdentityInput{}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := e.webIdentity(context.Background(), in)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	return e.client(out.Credentials, region), out.Credentials, *out.AssumedRoleUser.Arn
}

func (e *motoEnv) client(c *ststypes.Credentials, region string) *awssts.Client {
	return awssts.New(awssts.Options{Region: region, BaseEndpoint: aws.String(e.ts.URL), RetryMaxAttempts: 1,
		Credentials: staticCreds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)})
}

func checkCredentialShape(t *testing.T, c *ststypes.Credentials, start time.Time, seconds int) {
	t.Helper()
	if !regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`).MatchString(aws.ToString(c.AccessKeyId)) || len(aws.ToString(c.SecretAccessKey)) != 40 || aws.ToString(c.SessionToken) == "" {
		t.Errorf("credential shape %q / secret %d / token %d", aws.ToString(c.AccessKeyId), len(aws.ToString(c.SecretAccessKey)), len(aws.ToString(c.SessionToken)))
	}
	want := start.Add(time.Duration(seconds) * time.Second)
	if c.Expiration == nil || c.Expiration.Before(want.Add(-2*time.Second)) || c.Expiration.After(want.Add(2*time.Second)) {
		t.Errorf("Expiration %v, want about %v", c.Expiration, want)
	}
}

// TestSTSMotoPartitions: test_assume_role[us-east-1/aws, cn-north-1/aws-cn,
// us-isob-east-1/aws-iso-b], test_assume_role_with_web_identity[aws, aws-cn]
// and test_sts_regions: every ARN follows the configured partition, and the
// client's signing region is the one it uses.
func TestSTSMotoPartitions(t *testing.T) {
	cases := []struct{ partition, region string }{
		{"aws", "us-east-1"},
		{"aws-cn", "cn-north-1"},
		{"aws-iso-b", "us-isob-east-1"},
		{"aws-us-gov", "us-gov-west-1"},
	}
	for _, tc := range cases {
		t.Run(tc.partition, func(t *testing.T) {
			e := newMotoEnv(t, tc.partition)
			ctx := context.Background()
			sts := "arn:" + tc.partition + ":sts::123456789012:assumed-role/"

			// test_assume_role_with_web_identity: unsigned, 903 seconds.
			start := time.Now()
			web, err := e.webIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{RoleSessionName: aws.String("web-session"), DurationSeconds: aws.Int32(903)})
			if err != nil {
				t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
			}
			checkCredentialShape(t, web.Credentials, start, 903)
			if got := *web.AssumedRoleUser.Arn; got != sts+"CI/web-session" {
				t.Errorf("web identity Arn %q", got)
			}
			if id := *web.AssumedRoleUser.AssumedRoleId; !strings.HasPrefix(id, "AROA") || !strings.HasSuffix(id, ":web-session") {
				t.Errorf("AssumedRoleId %q", id)
			}
			if got, want := aws.ToString(web.Provider), "arn:"+tc.partition+":iam::123456789012:oidc-provider/"+e.hostPath; got != want {
				t.Errorf("Provider %q, want %q", got, want)
			}

			// test_assume_role: session policy, 900 seconds, signed in the
			// partition's region.
			ci := e.client(web.Credentials, tc.region)
			policy := `{"Version":"2012-10-17","Statement":[{"Sid":"Stmt13690092345534","Action":["S3:ListBucket"],"Effect":"Allow","Resource":["arn:` + tc.partition + `:s3:::foobar-tester"]}]}`
			start = time.Now()
			out, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{
				RoleArn: aws.String(e.roleARN("test-role")), RoleSessionName: aws.String("session-name"),
				Policy: aws.String(policy), DurationSeconds: aws.Int32(900),
			})
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			checkCredentialShape(t, out.Credentials, start, 900)
			if got := *out.AssumedRoleUser.Arn; got != sts+"test-role/session-name" {
				t.Errorf("AssumeRole Arn %q", got)
			}
			id := *out.AssumedRoleUser.AssumedRoleId
			if !regexp.MustCompile(`^AROA[A-Z0-9]{17}:session-name$`).MatchString(id) {
				t.Errorf("AssumedRoleId %q", id)
			}

			// test_sts_regions / test_get_caller_identity_with_assumed_role_credentials.
			who, err := e.client(out.Credentials, tc.region).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity in %s: %v", tc.region, err)
			}
			if *who.Arn != *out.AssumedRoleUser.Arn || *who.UserId != id || *who.Account != "123456789012" {
				t.Errorf("caller identity %q %q %q", *who.Arn, *who.UserId, *who.Account)
			}
			// test_get_access_key_info_default.
			info, err := ci.GetAccessKeyInfo(ctx, &awssts.GetAccessKeyInfoInput{AccessKeyId: out.Credentials.AccessKeyId})
			if err != nil || aws.ToString(info.Account) != "123456789012" {
				t.Errorf("GetAccessKeyInfo: %v %v", info, err)
			}

			// The same role in another partition (or account) is not this
			// STS's role.
			for _, other := range []string{
				"arn:" + map[bool]string{true: "aws-cn", false: "aws"}[tc.partition == "aws"] + ":iam::123456789012:role/test-role",
				"arn:" + tc.partition + ":iam::111111111111:role/test-role",
			} {
				_, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(other), RoleSessionName: aws.String("elsewhere")})
				if code, _, status := stsAPIErr(t, err); code != "AccessDenied" || status != 403 {
					t.Errorf("%s: %s %d, want AccessDenied 403", other, code, status)
				}
			}
		})
	}
}

// TestSTSMotoGetCallerIdentityAllowedWithDenyingPolicy: test_auth.py
// test_get_caller_identity_allowed_with_denying_policy. GetCallerIdentity
// needs no permission: a session policy denying it (explicitly or by
// wildcard) leaves it working, while the same policy does deny the other
// actions it names.
func TestSTSMotoGetCallerIdentityAllowedWithDenyingPolicy(t *testing.T) {
	e := newMotoEnv(t, "aws")
	ctx := context.Background()
	deny := func(actions string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},` +
			`{"Effect":"Deny","Action":` + actions + `,"Resource":"*"}]}`
	}
	cases := []struct {
		name        string
		policy      string
		assumeAllow bool // AssumeRole of AccountTrust (needs the caller's policy)
	}{
		{"no session policy", "", true},
		{"deny sts:GetCallerIdentity only", deny(`"sts:GetCallerIdentity"`), true},
		{"deny sts:GetCallerIdentity and sts:AssumeRole", deny(`["sts:GetCallerIdentity","sts:AssumeRole"]`), false},
		{"deny sts:*", deny(`"sts:*"`), false},
		{"deny *", deny(`"*"`), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, arn := e.ciSession(t, "us-east-1", tc.policy)
			who, err := c.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatalf("GetCallerIdentity: %v", err)
			}
			if *who.Arn != arn || *who.Account != "123456789012" {
				t.Errorf("caller identity %q %q", *who.Arn, *who.Account)
			}
			_, err = c.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(e.roleARN("AccountTrust")), RoleSessionName: aws.String("acct")})
			if tc.assumeAllow {
				if err != nil {
					t.Errorf("AssumeRole (not denied): %v", err)
				}
				return
			}
			want := "User: " + arn + " is not authorized to perform: sts:AssumeRole on resource: " + e.roleARN("AccountTrust")
			if code, msg, status := stsAPIErr(t, err); code != "AccessDenied" || status != 403 || msg != want {
				t.Errorf("AssumeRole under the deny: %s %d %q", code, status, msg)
			}
		})
	}
}

// isA reports whether err wraps a T (a typed exception of the SDK).
func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// TestSTSMotoTypedExceptions: STS-SPEC §9.3 last row. Each modeled error the
// server can produce decodes, in aws-sdk-go-v2, to its typed exception
// (chosen by <Code>), with the HTTP status AWS uses.
func TestSTSMotoTypedExceptions(t *testing.T) {
	e := newMotoEnv(t, "aws")
	saml := newSTSSAMLEnv(t, false)
	ctx := context.Background()
	ci, _, _ := e.ciSession(t, "us-east-1", "")
	// 50 tags of random hex (DEFLATE cannot shrink them much): over the
	// packed-size budget.
	bigTags := make([]ststypes.Tag, 50)
	for i := range bigTags {
		bigTags[i] = ststypes.Tag{Key: aws.String(fmt.Sprintf("k%02d", i) + randHex(t, 60)), Value: aws.String(randHex(t, 120))}
	}
	// 50 maximal tags that compress well: within the packed budget, but
	// too large for a session token.
	repetitiveTags := make([]ststypes.Tag, 50)
	for i := range repetitiveTags {
		repetitiveTags[i] = ststypes.Tag{Key: aws.String(fmt.Sprintf("k%02d", i) + strings.Repeat("a", 125)), Value: aws.String(strings.Repeat("v", 256))}
	}
	samlWith := func(f func(s *samltest.ResponseSpec)) func(t *testing.T) error {
		return func(t *testing.T) error {
			spec := stsSAMLSpec("bob")
			f(&spec)
			_, err := saml.assume(ctx, samlAdminARN, saml.encode(t, spec), nil)
			return err
		}
	}
	cases := []struct {
		name   string
		call   func(t *testing.T) error
		typed  func(error) bool
		code   string
		status int
	}{
		{"InvalidIdentityTokenException: audience not registered", func(*testing.T) error {
			_, err := e.webIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{WebIdentityToken: aws.String(e.token(func(c map[string]any) { c["aud"] = "someone-else" }))})
			return err
		}, isA[*ststypes.InvalidIdentityTokenException], "InvalidIdentityToken", 400},
		{"InvalidIdentityTokenException: alg none", func(*testing.T) error {
			c := e.idp.Claims("ci-client")
			_, err := e.webIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{WebIdentityToken: aws.String(unsignedToken(c))})
			return err
		}, isA[*ststypes.InvalidIdentityTokenException], "InvalidIdentityToken", 400},
		{"ExpiredTokenException: expired ID token", func(*testing.T) error {
			_, err := e.webIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{WebIdentityToken: aws.String(e.token(func(c map[string]any) {
				c["iat"], c["exp"] = time.Now().Add(-20*time.Minute).Unix(), time.Now().Add(-10*time.Minute).Unix()
			}))})
			return err
		}, isA[*ststypes.ExpiredTokenException], "ExpiredTokenException", 400},
		{"MalformedPolicyDocumentException: web identity session policy", func(*testing.T) error {
			_, err := e.webIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{Policy: aws.String("[")})
			return err
		}, isA[*ststypes.MalformedPolicyDocumentException], "MalformedPolicyDocument", 400},
		{"PackedPolicyTooLargeException: 50 large session tags", func(*testing.T) error {
			_, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(e.roleARN("test-role")), RoleSessionName: aws.String("big"), Tags: bigTags})
			return err
		}, isA[*ststypes.PackedPolicyTooLargeException], "PackedPolicyTooLarge", 400},
		{"PackedPolicyTooLargeException: 50 maximal compressible session tags", func(*testing.T) error {
			_, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(e.roleARN("test-role")), RoleSessionName: aws.String("big2"), Tags: repetitiveTags})
			return err
		}, isA[*ststypes.PackedPolicyTooLargeException], "PackedPolicyTooLarge", 400},
		{"InvalidAuthorizationMessageException", func(*testing.T) error {
			_, err := ci.DecodeAuthorizationMessage(ctx, &awssts.DecodeAuthorizationMessageInput{EncodedMessage: aws.String("abc")})
			return err
		}, isA[*ststypes.InvalidAuthorizationMessageException], "InvalidAuthorizationMessageException", 400},
		{"IDPRejectedClaimException: SAML status Responder", samlWith(func(s *samltest.ResponseSpec) {
			s.Modify = func(resp, _ *etree.Element) {
				resp.FindElement(".//StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
			}
		}), isA[*ststypes.IDPRejectedClaimException], "IDPRejectedClaim", 403},
		{"ExpiredTokenException: SAML issued 7 minutes ago", samlWith(func(s *samltest.ResponseSpec) {
			s.Now, s.Lifetime = time.Now().Add(-7*time.Minute), time.Hour
		}), isA[*ststypes.ExpiredTokenException], "ExpiredTokenException", 400},
		{"InvalidIdentityTokenException: SAML unsigned", samlWith(func(s *samltest.ResponseSpec) { s.Sign = samltest.SignNone }),
			isA[*ststypes.InvalidIdentityTokenException], "InvalidIdentityToken", 400},
		// Not modeled: a generic API error with the code, no typed exception.
		{"AccessDenied is generic", func(*testing.T) error {
			_, err := ci.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: aws.String(e.roleARN("nope")), RoleSessionName: aws.String("x1")})
			return err
		}, isA[*smithy.GenericAPIError], "AccessDenied", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t)
			code, msg, status := stsAPIErr(t, err)
			if !tc.typed(err) {
				t.Errorf("%T is not the expected typed error (%s: %s)", errors.Unwrap(err), code, msg)
			}
			if code != tc.code || status != tc.status {
				t.Errorf("got %s %d (%s), want %s %d", code, status, msg, tc.code, tc.status)
			}
		})
	}
}

// TestSTSMotoIDPCommunicationError: a SAML provider whose metadata URL does
// not answer -> 400 IDPCommunicationError (the code botocore retries). The
// STS model lists IDPCommunicationError for AssumeRoleWithWebIdentity only,
// so for AssumeRoleWithSAML aws-sdk-go-v2 surfaces a generic API error, not
// IDPCommunicationErrorException.
func TestSTSMotoIDPCommunicationError(t *testing.T) {
	idp := samltest.NewIdP(t)
	// A loopback port nobody listens on any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := strings.Replace(string(samlSTSConfig("unused", false)), "metadata_file: unused", "metadata_url: http://"+addr+"/metadata", 1)
	ts := startServer(t, []byte(cfg))
	env := &stsSAMLEnv{ts: ts, idp: idp}
	_, err = env.assume(context.Background(), samlAdminARN, env.encode(t, stsSAMLSpec("bob")), nil)
	code, msg, status := stsAPIErr(t, err)
	if !isA[*smithy.GenericAPIError](err) || code != "IDPCommunicationError" || status != 400 {
		t.Errorf("got %T %s %d (%s), want a generic IDPCommunicationError 400", errors.Unwrap(err), code, status, msg)
	}
}

// TestSTSMotoExpiredSessionCredentials: §9.3 "Expired session creds used to
// sign -> 403 ExpiredToken". ExpiredToken is not the modeled
// ExpiredTokenException: the SDK surfaces a generic API error.
func TestSTSMotoExpiredSessionCredentials(t *testing.T) {
	ts, ring := startAssembled(t, decisionConfig(t))
	expired := decMintExpired(t, ring)
	_, err := stsClient(ts.URL, expired.aws()).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	code, msg, status := stsAPIErr(t, err)
	if code != "ExpiredToken" || status != 403 || msg != "The security token included in the request is expired" {
		t.Errorf("got %s %d %q", code, status, msg)
	}
	if isA[*ststypes.ExpiredTokenException](err) {
		t.Error("ExpiredToken decoded as ExpiredTokenException")
	}
}

// TestSTSMotoPresignedRequestExpired: a pre-signed GetCallerIdentity URL is
// good until X-Amz-Date + X-Amz-Expires and then 400 RequestExpired; without
// X-Amz-Expires (the SDK's STS presigner) the 15-minute skew window applies.
func TestSTSMotoPresignedRequestExpired(t *testing.T) {
	e := newMotoEnv(t, "aws")
	_, creds, arn := e.ciSession(t, "us-east-1", "")
	c := aws.Credentials{AccessKeyID: *creds.AccessKeyId, SecretAccessKey: *creds.SecretAccessKey, SessionToken: *creds.SessionToken}
	empty := sha256.Sum256(nil)
	presign := func(t *testing.T, expires int, signedAgo time.Duration) string {
		t.Helper()
		q := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
		if expires > 0 {
			q.Set("X-Amz-Expires", strconv.Itoa(expires))
		}
		req, err := http.NewRequest(http.MethodGet, e.ts.URL+"/?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, req, hex.EncodeToString(empty[:]), "sts", "us-east-1", time.Now().Add(-signedAgo))
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	cases := []struct {
		name      string
		expires   int
		signedAgo time.Duration
		status    int
		code      string
	}{
		{"X-Amz-Expires 60, fresh", 60, 0, 200, ""},
		{"X-Amz-Expires 1, signed 10s ago", 1, 10 * time.Second, 400, "RequestExpired"},
		{"X-Amz-Expires 60, signed 61s ago", 60, 61 * time.Second, 400, "RequestExpired"},
		{"X-Amz-Expires 3600, signed 30 min ago", 3600, 30 * time.Minute, 200, ""},
		{"no X-Amz-Expires, fresh", 0, 0, 200, ""},
		{"no X-Amz-Expires, signed 16 min ago", 0, 16 * time.Minute, 403, "SignatureDoesNotMatch"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := httpGet(t, presign(t, tc.expires, tc.signedAgo))
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.code == "" {
				if !strings.Contains(body, "<Arn>"+arn+"</Arn>") {
					t.Errorf("body %s, want Arn %s", body, arn)
				}
				return
			}
			var er struct {
				Code      string `xml:"Error>Code"`
				RequestID string `xml:"RequestId"`
			}
			if err := xml.Unmarshal([]byte(body), &er); err != nil || er.Code != tc.code || er.RequestID == "" {
				t.Errorf("error body %s (%v), want code %s", body, err, tc.code)
			}
		})
	}
	t.Run("SDK presigner", func(t *testing.T) {
		p, err := awssts.NewPresignClient(e.client(creds, "us-east-1")).PresignGetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(p.Method, p.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = p.SignedHeader.Clone()
		status, body := httpDo(t, req)
		if status != 200 || !strings.Contains(body, "<Arn>"+arn+"</Arn>") {
			t.Errorf("%s %s: %d %s", p.Method, p.URL, status, body)
		}
	})
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return httpDo(t, req)
}

func httpDo(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
