package sts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

const (
	tkAccount     = "123456789012"
	tkOIDCARN     = "arn:aws:iam::" + tkAccount + ":oidc-provider/idp.example.com"
	tkSAMLARN     = "arn:aws:iam::" + tkAccount + ":saml-provider/idp"
	tkWebRole     = "arn:aws:iam::" + tkAccount + ":role/web-tls"
	tkSAMLRole    = "arn:aws:iam::" + tkAccount + ":role/saml-tls"
	tkHopRole     = "arn:aws:iam::" + tkAccount + ":role/hop-tls"
	tkTLSRegionEU = `"Condition":{"Bool":{"aws:SecureTransport":"true"},"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}`
)

// samlDouble returns a fresh assertion (new ID) naming saml-tls on every call.
type samlDouble struct{ n atomic.Int64 }

func (d *samlDouble) VerifySAMLAssertion(context.Context, string, string) (*SAMLAssertion, error) {
	now := time.Now()
	return &SAMLAssertion{
		ID: "_a" + strconv.FormatInt(d.n.Add(1), 10), Issuer: "https://idp.example.com/saml", NameID: "alice",
		Recipient: "https://signin.aws.amazon.com/saml", IssueInstant: now, NotOnOrAfter: now.Add(5 * time.Minute),
		Attributes: []SAMLAttribute{
			{Name: awsspec.SAMLAttrRole, Values: []string{tkSAMLRole + "," + tkSAMLARN}},
			{Name: awsspec.SAMLAttrRoleSessionName, Values: []string{"alice"}},
		},
	}, nil
}

type freshClaims struct{}

func (freshClaims) Claim(context.Context, string, time.Time) (bool, error) { return true, nil }

// transportService has roles whose trust and permission policies require
// aws:SecureTransport true and aws:RequestedRegion eu-west-1.
func transportService(t *testing.T, region string, kr *KeyRing) *Service {
	t.Helper()
	perm := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","sts:DecodeAuthorizationMessage"],"Resource":"*",` + tkTLSRegionEU + `}]}`
	s, err := New(Config{AccountID: tkAccount, Region: region, Keys: kr,
		Roles: []RoleConfig{
			{Name: "web-tls", Policies: [][]byte{[]byte(perm)},
				TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + tkOIDCARN + `"},"Action":"sts:AssumeRoleWithWebIdentity",` + tkTLSRegionEU + `}]}`)},
			{Name: "saml-tls",
				TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + tkSAMLARN + `"},"Action":"sts:AssumeRoleWithSAML",` + tkTLSRegionEU + `}]}`)},
			{Name: "hop-tls",
				TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + tkWebRole + `"},"Action":"sts:AssumeRole",` + tkTLSRegionEU + `}]}`)},
		},
		OIDCProviders:   []OIDCProvider{{Issuer: benchIssuer, Verifier: fixedVerifier{}}},
		SAMLProviders:   []SAMLProvider{{Name: "idp", Verifier: &samlDouble{}}},
		SAMLReplayCache: freshClaims{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeJWT is a JWT-shaped token from benchIssuer (fixedVerifier accepts it).
func fakeJWT(t *testing.T) string {
	t.Helper()
	seg := func(v any) string {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(j)
	}
	now := time.Now().Unix()
	return seg(map[string]any{"alg": "RS256", "kid": "k1"}) + "." +
		seg(map[string]any{"iss": benchIssuer, "sub": "repo:acme/app", "aud": "sts.amazonaws.com", "iat": now, "exp": now + 300}) +
		"." + strings.Repeat("A", 342)
}

// transport is how a test request reaches the STS.
type transport int

const (
	plainHTTP    transport = iota // no TLS anywhere
	directTLS                     // TLS to the STS itself (r.TLS set)
	trustedProxy                  // plain to the STS, marked by the trusted-proxy layer
	spoofedProto                  // plain, with an X-Forwarded-Proto the STS must ignore
)

var codePattern = regexp.MustCompile(`<Code>(.*?)</Code>`)

// serve sends params to s over tr; signed with creds and region when creds is set.
func serve(t *testing.T, s *Service, tr transport, params url.Values, creds *Credentials, region string) (int, string) {
	t.Helper()
	body := params.Encode()
	scheme := "http"
	if tr == directTLS {
		scheme = "https"
	}
	req := httptest.NewRequest(http.MethodPost, scheme+"://sts.test/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	switch tr {
	case trustedProxy:
		req = req.WithContext(WithForwardedTLS(req.Context()))
	case spoofedProto:
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	if creds != nil {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(),
			aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken},
			req, hex.EncodeToString(sum[:]), "sts", region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	code := ""
	if m := codePattern.FindStringSubmatch(w.Body.String()); m != nil {
		code = m[1]
	}
	return w.Code, code
}

// TestTransportContextKeys: aws:SecureTransport and aws:RequestedRegion are
// set on every trust path (web identity, SAML, AssumeRole) and for the
// permission check of DecodeAuthorizationMessage (STS-SPEC §7): TLS only
// when the connection or a trusted proxy says so, the region of the SigV4
// scope for signed requests and the configured region otherwise.
func TestTransportContextKeys(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	eu := transportService(t, "eu-west-1", kr)
	us := transportService(t, "", kr) // configured region us-east-1; same keys
	caller, err := eu.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{
		RoleArn: tkWebRole, RoleSessionName: "caller", WebIdentityToken: fakeJWT(t), SecureTransport: true})
	if err != nil {
		t.Fatalf("caller session: %v", err)
	}
	creds := &caller.Credentials
	web := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {tkWebRole},
		"RoleSessionName": {"w1"}, "WebIdentityToken": {fakeJWT(t)}}
	saml := url.Values{"Action": {"AssumeRoleWithSAML"}, "Version": {"2011-06-15"}, "RoleArn": {tkSAMLRole},
		"PrincipalArn": {tkSAMLARN}, "SAMLAssertion": {"PHNhbWw+"}}
	hop := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {tkHopRole}, "RoleSessionName": {"h1"}}
	decode := url.Values{"Action": {"DecodeAuthorizationMessage"}, "Version": {"2011-06-15"}, "EncodedMessage": {"abc"}}

	cases := []struct {
		name       string
		svc        *Service
		tr         transport
		params     url.Values
		signed     bool
		region     string // SigV4 scope
		wantStatus int
		wantCode   string
	}{
		{"web identity over TLS", eu, directTLS, web, false, "", 200, ""},
		{"web identity via trusted proxy", eu, trustedProxy, web, false, "", 200, ""},
		{"web identity plain", eu, plainHTTP, web, false, "", 403, "AccessDenied"},
		{"web identity spoofed X-Forwarded-Proto", eu, spoofedProto, web, false, "", 403, "AccessDenied"},
		{"web identity, configured region us-east-1", us, directTLS, web, false, "", 403, "AccessDenied"},
		{"SAML over TLS", eu, directTLS, saml, false, "", 200, ""},
		{"SAML via trusted proxy", eu, trustedProxy, saml, false, "", 200, ""},
		{"SAML plain", eu, plainHTTP, saml, false, "", 403, "AccessDenied"},
		{"SAML spoofed X-Forwarded-Proto", eu, spoofedProto, saml, false, "", 403, "AccessDenied"},
		{"SAML, configured region us-east-1", us, directTLS, saml, false, "", 403, "AccessDenied"},
		{"AssumeRole over TLS, scope eu-west-1", eu, directTLS, hop, true, "eu-west-1", 200, ""},
		{"AssumeRole via trusted proxy, scope eu-west-1", eu, trustedProxy, hop, true, "eu-west-1", 200, ""},
		{"AssumeRole over TLS, scope us-east-1", eu, directTLS, hop, true, "us-east-1", 403, "AccessDenied"},
		{"AssumeRole plain, scope eu-west-1", eu, plainHTTP, hop, true, "eu-west-1", 403, "AccessDenied"},
		{"AssumeRole spoofed X-Forwarded-Proto", eu, spoofedProto, hop, true, "eu-west-1", 403, "AccessDenied"},
		{"AssumeRole scope region wins over configured", us, directTLS, hop, true, "eu-west-1", 200, ""},
		{"DecodeAuthorizationMessage allowed over TLS", eu, directTLS, decode, true, "eu-west-1", 400, "InvalidAuthorizationMessageException"},
		{"DecodeAuthorizationMessage plain", eu, plainHTTP, decode, true, "eu-west-1", 403, "AccessDenied"},
		{"DecodeAuthorizationMessage scope us-east-1", eu, directTLS, decode, true, "us-east-1", 403, "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *Credentials
			if tc.signed {
				c = creds
			}
			status, code := serve(t, tc.svc, tc.tr, tc.params, c, tc.region)
			if status != tc.wantStatus || code != tc.wantCode {
				t.Errorf("got %d %q, want %d %q", status, code, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

// TestAuthorizeTransportKeys: Authorize takes aws:SecureTransport and
// aws:RequestedRegion from its ctx — SecureTransport only a literal true,
// the region defaulting to the configured one — like the trust paths.
func TestAuthorizeTransportKeys(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	eu := transportService(t, "eu-west-1", kr)
	out, err := eu.AssumeRoleWithWebIdentity(context.Background(), &AssumeRoleWithWebIdentityInput{
		RoleArn: tkWebRole, RoleSessionName: "authz", WebIdentityToken: fakeJWT(t), SecureTransport: true})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := eu.SessionFromToken(out.Credentials.AccessKeyID, out.Credentials.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ctx  map[string][]string
		want policy.Decision
	}{
		{"no keys: not TLS", nil, policy.ImplicitDeny},
		{"TLS, configured region", map[string][]string{"aws:SecureTransport": {"true"}}, policy.Allow},
		{"TLS, key case-insensitive", map[string][]string{"AWS:securetransport": {"TRUE"}}, policy.Allow},
		{"TLS, requested eu-west-1", map[string][]string{"aws:SecureTransport": {"true"}, "aws:RequestedRegion": {"eu-west-1"}}, policy.Allow},
		{"TLS, requested us-east-1", map[string][]string{"aws:SecureTransport": {"true"}, "aws:RequestedRegion": {"us-east-1"}}, policy.ImplicitDeny},
		{"not TLS", map[string][]string{"aws:SecureTransport": {"false"}}, policy.ImplicitDeny},
		{"junk is not TLS", map[string][]string{"aws:SecureTransport": {"yes"}}, policy.ImplicitDeny},
		{"two values is not TLS", map[string][]string{"aws:SecureTransport": {"true", "false"}}, policy.ImplicitDeny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := eu.Authorize(sess, "s3:GetObject", "arn:aws:s3:::b/k", tc.ctx)
			if err != nil || res.Decision != tc.want {
				t.Errorf("got %v (%v), want %v", res.Decision, err, tc.want)
			}
		})
	}
}

func TestSecureTransport(t *testing.T) {
	cases := []struct {
		name string
		req  func() *http.Request
		want bool
	}{
		{"nil", func() *http.Request { return nil }, false},
		{"plain", func() *http.Request { return httptest.NewRequest(http.MethodPost, "http://sts.test/", nil) }, false},
		{"TLS", func() *http.Request { return httptest.NewRequest(http.MethodPost, "https://sts.test/", nil) }, true},
		{"marked by the trusted proxy layer", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "http://sts.test/", nil)
			return r.WithContext(WithForwardedTLS(r.Context()))
		}, true},
		{"X-Forwarded-Proto alone", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "http://sts.test/", nil)
			r.Header.Set("X-Forwarded-Proto", "https")
			return r
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SecureTransport(tc.req()); got != tc.want {
				t.Errorf("SecureTransport = %v, want %v", got, tc.want)
			}
		})
	}
}
