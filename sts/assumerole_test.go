package sts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

const hopRole = "arn:aws:iam::" + testAccount + ":role/hop"

// newChainEnv adds a role "hop" that the ci-deployer role may assume.
func newChainEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, func(e *env, cfg *sts.Config) {
		cfg.Roles = append(cfg.Roles, sts.RoleConfig{Name: "hop", MaxSessionDuration: 2 * time.Hour,
			TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + testAccount + `:role/ci/ci-deployer"},"Action":"sts:AssumeRole"}]}`),
			Policies:    [][]byte{[]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"*"}]}`)}})
	})
}

// signedRaw sends a SigV4-signed raw request (method GET puts params in the query).
func (e *env) signedRaw(t *testing.T, method string, params url.Values, creds aws.Credentials, accept string) rawResponse {
	t.Helper()
	var req *http.Request
	body := ""
	if method == http.MethodGet {
		req, _ = http.NewRequest(method, e.srv.URL+"/?"+params.Encode(), nil)
	} else {
		body = params.Encode()
		req, _ = http.NewRequest(method, e.srv.URL+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	return e.do(t, req)
}

func TestAssumeRoleWire(t *testing.T) {
	e := newChainEnv(t)
	out := e.assume(t, "wire")
	c := out.Credentials
	creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}
	base := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {hopRole}}

	cases := []struct {
		name, method, accept string
		params               url.Values
		status               int
		want                 string // substring of the body
	}{
		{"GET works", http.MethodGet, "", url.Values{"RoleSessionName": {"viaget"}}, 200, "<AssumeRoleResult><Credentials>"},
		{"missing RoleSessionName", http.MethodPost, "", nil, 400, "Value null at &#39;roleSessionName&#39; failed to satisfy constraint: Member must not be null"},
		{"unknown parameters ignored", http.MethodPost, "", url.Values{"RoleSessionName": {"x1"}, "FutureParam": {"1"}}, 200, "<AssumedRoleUser>"},
		{"JSON mirror", http.MethodPost, "application/json", url.Values{"RoleSessionName": {"json"}}, 200, `{"AssumeRoleResponse":{"AssumeRoleResult":{"Credentials":`},
		{"JSON error", http.MethodPost, "application/json", url.Values{"RoleSessionName": {"a"}}, 400, `"Code":"ValidationError"`},
		{"GetAccessKeyInfo GET", http.MethodGet, "", url.Values{"Action": {"GetAccessKeyInfo"}, "AccessKeyId": {"ASIAAAAAAAAAAAAAAAAA"}}, 200, "<Account>" + testAccount + "</Account>"},
		{"GetSessionToken GET", http.MethodGet, "", url.Values{"Action": {"GetSessionToken"}}, 403, "Cannot call GetSessionToken with session credentials"},
		{"GetFederationToken missing Name", http.MethodPost, "", url.Values{"Action": {"GetFederationToken"}}, 400, "Value null at &#39;name&#39;"},
		{"DecodeAuthorizationMessage not allowed", http.MethodPost, "", url.Values{"Action": {"DecodeAuthorizationMessage"}, "EncodedMessage": {"abc"}}, 403, "sts:DecodeAuthorizationMessage"},
		{"tags member without Value", http.MethodPost, "", url.Values{"RoleSessionName": {"t1"}, "Tags.member.1.Key": {"k"}}, 400, "Value null at &#39;tags.1.member.value&#39;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := url.Values{}
			for k, v := range base {
				p[k] = v
			}
			for k, v := range tc.params {
				p[k] = v
			}
			rr := e.signedRaw(t, tc.method, p, creds, tc.accept)
			if rr.status != tc.status || !strings.Contains(rr.body, tc.want) {
				t.Errorf("status %d body %s; want %d ~%s", rr.status, rr.body, tc.status, tc.want)
			}
			if strings.Contains(rr.body, "\n") {
				t.Error("body has a newline (not compact)")
			}
			if rr.header.Get("x-amzn-RequestId") == "" || (!strings.Contains(rr.body, "RequestId")) {
				t.Error("no RequestId")
			}
		})
	}
}

func TestAssumeRoleExpiredAndChainedPermissions(t *testing.T) {
	e := newChainEnv(t)
	out := e.assume(t, "exp")
	c := out.Credentials
	caller := e.client(staticProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken))
	hop, err := caller.AssumeRole(context.Background(), &awssts.AssumeRoleInput{RoleArn: aws.String(hopRole), RoleSessionName: aws.String("h1"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	sess := e.authenticate(t, *hop.Credentials.AccessKeyId, *hop.Credentials.SecretAccessKey, *hop.Credentials.SessionToken)
	// STS-12: a session policy allowing everything cannot widen the role.
	for action, want := range map[string]policy.Decision{"s3:PutObject": policy.Allow, "iam:CreateUser": policy.ImplicitDeny} {
		if res, err := e.svc.Authorize(sess, action, "*", map[string][]string{"aws:SourceIp": {"10.0.0.1"}}); err != nil || res.Decision != want {
			t.Errorf("%s: %v %v", action, res.Decision, err)
		}
	}
	e.clk.Advance(2 * time.Hour)
	rr := e.signedRaw(t, http.MethodPost, url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {hopRole}, "RoleSessionName": {"h2"}},
		aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, "")
	if rr.code != "ExpiredToken" || rr.status != 403 || rr.message != "The security token included in the request is expired" {
		t.Errorf("expired caller: %d %s", rr.status, rr.body)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	e := newChainEnv(t)
	if _, err := e.svc.Authorize(nil, "s3:GetObject", "*", nil); err == nil {
		t.Error("nil session accepted")
	}
	gone := &sts.Session{RoleARN: "arn:aws:iam::" + testAccount + ":role/removed", Account: testAccount}
	if res, err := e.svc.Authorize(gone, "s3:GetObject", "*", nil); err == nil || res.Decision == policy.Allow {
		t.Errorf("removed role: %v %v", res.Decision, err)
	}
	bad := &sts.Session{RoleARN: hopRole, Account: testAccount, PolicyARNs: []string{"arn:aws:iam::" + testAccount + ":policy/missing"}}
	if res, err := e.svc.Authorize(bad, "s3:GetObject", "*", nil); err == nil || res.Decision == policy.Allow {
		t.Errorf("missing session policy: %v %v", res.Decision, err)
	}
}
