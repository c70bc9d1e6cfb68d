package sts_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

// fixedSAML is a SAMLAssertionVerifier double: it returns a fixed assertion
// (or error) so that the STS's attribute, duration, trust and replay logic
// can be tested without XML. Real verification is tested in cmd/idbroker.
type fixedSAML struct {
	mu        sync.Mutex
	assertion *sts.SAMLAssertion
	err       error
	lastRole  string
}

func (f *fixedSAML) set(a *sts.SAMLAssertion, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assertion, f.err = a, err
}

func (f *fixedSAML) VerifySAMLAssertion(_ context.Context, _ string, role string) (*sts.SAMLAssertion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastRole = role
	if f.err != nil {
		return nil, f.err
	}
	cp := *f.assertion
	return &cp, nil
}

// memClaims is an in-memory ReplayCache; failing makes Claim fail (fault).
type memClaims struct {
	mu      sync.Mutex
	seen    map[string]time.Time
	failing bool
}

func (m *memClaims) Claim(_ context.Context, key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failing {
		return false, errors.New("store down")
	}
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	if _, ok := m.seen[key]; ok {
		return false, nil
	}
	m.seen[key] = until
	return true, nil
}

const (
	samlProv    = "arn:aws:iam::" + testAccount + ":saml-provider/corp"
	samlRole    = "arn:aws:iam::" + testAccount + ":role/saml-role"
	samlRole2   = "arn:aws:iam::" + testAccount + ":role/saml-edu"
	chainRole   = "arn:aws:iam::" + testAccount + ":role/chained"
	samlIssuer  = "https://idp.example.com/saml"
	attrRole    = "https://aws.amazon.com/SAML/Attributes/Role"
	attrSession = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
	attrDur     = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
	attrTag     = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"
	attrTrans   = "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys"
	attrSrc     = "https://aws.amazon.com/SAML/Attributes/SourceIdentity"
)

type samlEnv struct {
	*env
	ver    *fixedSAML
	claims *memClaims
}

func newSAMLEnv(t *testing.T) *samlEnv {
	t.Helper()
	return newSAMLEnvWith(t, nil)
}

// newSAMLEnvWith is newSAMLEnv with a hook that may change the Config.
func newSAMLEnvWith(t *testing.T, mod func(cfg *sts.Config)) *samlEnv {
	t.Helper()
	ver, claims := &fixedSAML{}, &memClaims{}
	e := newEnvWith(t, func(_ *env, cfg *sts.Config) {
		if mod != nil {
			defer mod(cfg)
		}
		cfg.SAMLProviders = []sts.SAMLProvider{{Name: "corp", Verifier: ver}}
		cfg.SAMLReplayCache = claims
		cfg.Roles = append(cfg.Roles,
			sts.RoleConfig{Name: "saml-role", MaxSessionDuration: 4 * time.Hour, TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
				"Principal":{"Federated":"` + samlProv + `"},"Action":["sts:AssumeRoleWithSAML","sts:TagSession","sts:SetSourceIdentity"],
				"Condition":{"StringEquals":{"SAML:aud":"https://signin.aws.amazon.com/saml","saml:doc":"` + testAccount + `/corp",
				"saml:namequalifier":"` + sts.NameQualifier(samlIssuer, testAccount, "corp") + `"}}}]}`),
				Policies: [][]byte{[]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::${aws:PrincipalTag/team}/*"},
				{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringEquals":{"aws:SourceIdentity":"alice","saml:sub":"alice@corp.example"}}}]}`)}},
			sts.RoleConfig{Name: "saml-edu", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
				"Principal":{"Federated":"` + samlProv + `"},"Action":"sts:AssumeRoleWithSAML",
				"Condition":{"ForAnyValue:StringEquals":{"saml:edupersonaffiliation":"staff"}}}]}`)},
			sts.RoleConfig{Name: "chained", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
				"Principal":{"AWS":"` + samlRole + `"},"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"],
				"Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}}]}`),
				Policies: [][]byte{[]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::${aws:PrincipalTag/team}/*"}]}`)}},
		)
	})
	return &samlEnv{env: e, ver: ver, claims: claims}
}

// baseAssertion is a valid assertion for saml-role.
func (e *samlEnv) baseAssertion(attrs ...sts.SAMLAttribute) *sts.SAMLAssertion {
	now := e.clk.Now()
	return &sts.SAMLAssertion{
		ID: fmt.Sprintf("_a%d", now.UnixNano()), Issuer: samlIssuer, NameID: "alice@corp.example",
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", Recipient: "https://signin.aws.amazon.com/saml",
		Audiences: []string{"urn:amazon:webservices"}, IssueInstant: now, NotOnOrAfter: now.Add(5 * time.Minute),
		Attributes: append([]sts.SAMLAttribute{
			{Name: attrRole, Values: []string{samlRole + "," + samlProv}},
			{Name: attrSession, Values: []string{"alice"}},
		}, attrs...),
	}
}

func (e *samlEnv) call(t *testing.T, role string, duration *int32) (*awssts.AssumeRoleWithSAMLOutput, error) {
	t.Helper()
	return e.client(nil).AssumeRoleWithSAML(context.Background(), &awssts.AssumeRoleWithSAMLInput{
		RoleArn: aws.String(role), PrincipalArn: aws.String(samlProv), SAMLAssertion: aws.String("PHNhbWxwOlJlc3BvbnNlLz4="), DurationSeconds: duration,
	})
}

func TestNameQualifierWorkedExample(t *testing.T) {
	// STS-SPEC §5.6 worked value.
	if got := sts.NameQualifier("https://idp.example.com/saml", "123456789012", "ExampleIdP"); got != "gVMfPykcwyJvL8k2pmXetypU/dY=" {
		t.Errorf("NameQualifier = %q", got)
	}
	for in, want := range map[string]string{
		"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent":   "persistent",
		"urn:oasis:names:tc:SAML:2.0:nameid-format:transient":    "transient",
		"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		"": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
	} {
		if got := sts.SubjectType(in); got != want {
			t.Errorf("SubjectType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSAMLSessionShape(t *testing.T) {
	e := newSAMLEnv(t)
	e.ver.set(e.baseAssertion(
		sts.SAMLAttribute{Name: attrTag + "team", Values: []string{"blue"}},
		sts.SAMLAttribute{Name: attrTrans, Values: []string{"team"}},
		sts.SAMLAttribute{Name: attrSrc, Values: []string{"alice"}},
	), nil)
	out, err := e.call(t, samlRole, nil)
	if err != nil {
		t.Fatalf("AssumeRoleWithSAML: %v", err)
	}
	if e.ver.lastRole != samlRole {
		t.Errorf("verifier saw role %q", e.ver.lastRole)
	}
	if *out.Subject != "alice@corp.example" || *out.SubjectType != "persistent" || *out.Issuer != samlIssuer ||
		*out.Audience != "https://signin.aws.amazon.com/saml" || *out.NameQualifier != sts.NameQualifier(samlIssuer, testAccount, "corp") ||
		aws.ToString(out.SourceIdentity) != "alice" || *out.AssumedRoleUser.Arn != "arn:aws:sts::"+testAccount+":assumed-role/saml-role/alice" {
		t.Errorf("output %+v", out)
	}
	ev := e.lastEvent(t)
	if ev.Action != "AssumeRoleWithSAML" || ev.Outcome != "issued" || ev.Principal != samlProv+"|alice@corp.example" {
		t.Errorf("audit %+v", ev)
	}

	// The session: tags and SAML keys reach the policy engine.
	sess := e.authenticate(t, *out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)
	if sess.FederatedKeys["saml:sub"][0] != "alice@corp.example" || sess.Provider != samlProv {
		t.Errorf("session %+v", sess)
	}
	cases := []struct {
		action, resource string
		ctx              map[string][]string
		want             policy.Decision
	}{
		{"s3:GetObject", "arn:aws:s3:::blue/key", nil, policy.Allow},
		{"s3:GetObject", "arn:aws:s3:::red/key", nil, policy.ImplicitDeny},
		{"s3:ListBucket", "arn:aws:s3:::any", nil, policy.Allow},
		// Principal keys come from the session, never from the caller.
		{"s3:GetObject", "arn:aws:s3:::red/key", map[string][]string{"aws:PrincipalTag/team": {"red"}}, policy.ImplicitDeny},
		{"s3:ListBucket", "arn:aws:s3:::any", map[string][]string{"aws:SourceIdentity": {"mallory"}, "saml:sub": {"x"}}, policy.Allow},
		{"s3:PutObject", "arn:aws:s3:::blue/key", nil, policy.ImplicitDeny},
	}
	for _, tc := range cases {
		res, err := e.svc.Authorize(sess, tc.action, tc.resource, tc.ctx)
		if err != nil || res.Decision != tc.want {
			t.Errorf("Authorize(%s %s %v) = %v %v, want %v", tc.action, tc.resource, tc.ctx, res.Decision, err, tc.want)
		}
	}

	// Chaining: the transitive tag survives and the source identity follows.
	chained, err := e.client(staticProvider(*out.Credentials.AccessKeyId, *out.Credentials.SecretAccessKey, *out.Credentials.SessionToken)).
		AssumeRole(context.Background(), &awssts.AssumeRoleInput{RoleArn: aws.String(chainRole), RoleSessionName: aws.String("hop")})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	cs := e.authenticate(t, *chained.Credentials.AccessKeyId, *chained.Credentials.SecretAccessKey, *chained.Credentials.SessionToken)
	if cs.Tags["team"] != "blue" || cs.SourceIdentity != "alice" || !cs.Chained || cs.FederatedKeys["saml:sub"][0] != "alice@corp.example" {
		t.Errorf("chained session %+v", cs)
	}
	if res, _ := e.svc.Authorize(cs, "s3:GetObject", "arn:aws:s3:::blue/k", nil); res.Decision != policy.Allow {
		t.Errorf("chained ABAC decision %v", res.Decision)
	}
}

// authenticate signs a request with the credentials and returns the session.
func (e *env) authenticate(t *testing.T, akid, secret, token string) *sts.Session {
	t.Helper()
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	sess, err := e.svc.Authenticate(req, []byte(body))
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return sess
}

func TestSAMLDurations(t *testing.T) {
	e := newSAMLEnv(t)
	cases := []struct {
		name     string
		attrs    []sts.SAMLAttribute
		session  time.Duration // SessionNotOnOrAfter from now (0 = none)
		duration *int32
		want     time.Duration
	}{
		{"default", nil, 0, nil, time.Hour},
		{"SessionDuration shortens", []sts.SAMLAttribute{{Name: attrDur, Values: []string{"900"}}}, 0, nil, 900 * time.Second},
		{"SessionDuration cannot lengthen", []sts.SAMLAttribute{{Name: attrDur, Values: []string{"7200"}}}, 0, nil, time.Hour},
		{"DurationSeconds then SessionDuration", []sts.SAMLAttribute{{Name: attrDur, Values: []string{"1800"}}}, 0, aws.Int32(7200), 1800 * time.Second},
		{"DurationSeconds up to role max", nil, 0, aws.Int32(14400), 4 * time.Hour},
		{"SessionNotOnOrAfter caps", nil, 10 * time.Minute, aws.Int32(7200), 10 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.baseAssertion(tc.attrs...)
			if tc.session != 0 {
				a.SessionNotOnOrAfter = e.clk.Now().Add(tc.session)
			}
			e.ver.set(a, nil)
			start := e.clk.Now().Truncate(time.Second)
			out, err := e.call(t, samlRole, tc.duration)
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Credentials.Expiration.Sub(start); got < tc.want-2*time.Second || got > tc.want+time.Second {
				t.Errorf("duration %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSAMLRefusalsUnit(t *testing.T) {
	e := newSAMLEnv(t)
	mod := func(f func(a *sts.SAMLAssertion)) func() *sts.SAMLAssertion {
		return func() *sts.SAMLAssertion { a := e.baseAssertion(); f(a); return a }
	}
	cases := []struct {
		name       string
		assertion  func() *sts.SAMLAssertion
		verifyErr  error
		role       string
		duration   *int32
		wantCode   string
		wantStatus int
		wantMsg    string
	}{
		{name: "signature", verifyErr: fmt.Errorf("x: %w", awsspec.ErrSAMLSignature), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Response signature invalid"},
		{name: "expired", verifyErr: awsspec.ErrSAMLExpired, wantCode: "ExpiredTokenException", wantStatus: 400, wantMsg: "Response has expired"},
		{name: "too old", verifyErr: awsspec.ErrSAMLIssuedTooLongAgo, wantCode: "ExpiredTokenException", wantStatus: 400, wantMsg: "Token must be redeemed within 5 minutes of issuance"},
		{name: "audience", verifyErr: awsspec.ErrSAMLAudience, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Response does not contain the required audience"},
		{name: "issuer", verifyErr: awsspec.ErrSAMLIssuer, wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Issuer not present in specified provider"},
		{name: "status", verifyErr: awsspec.ErrSAMLStatus, wantCode: "IDPRejectedClaim", wantStatus: 403},
		{name: "metadata down", verifyErr: awsspec.ErrSAMLUnavailable, wantCode: "IDPCommunicationError", wantStatus: 400},
		{name: "unclassified", verifyErr: errors.New("boom"), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "no NameID", assertion: mod(func(a *sts.SAMLAssertion) { a.NameID = "" }), wantCode: "AccessDenied", wantStatus: 403},
		{name: "duplicate RoleSessionName", assertion: mod(func(a *sts.SAMLAssertion) {
			a.Attributes = append(a.Attributes, sts.SAMLAttribute{Name: attrSession, Values: []string{"mallory"}})
		}), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "two RoleSessionName values", assertion: mod(func(a *sts.SAMLAssertion) { a.Attributes[1].Values = []string{"a1", "b2"} }), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "transitive key not a tag", assertion: mod(func(a *sts.SAMLAssertion) {
			a.Attributes = append(a.Attributes, sts.SAMLAttribute{Name: attrTrans, Values: []string{"team"}})
		}), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "51 tags", assertion: mod(func(a *sts.SAMLAssertion) {
			for i := range 51 {
				a.Attributes = append(a.Attributes, sts.SAMLAttribute{Name: fmt.Sprintf("%sk%d", attrTag, i), Values: []string{"v"}})
			}
		}), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "tag key case duplicate", assertion: mod(func(a *sts.SAMLAssertion) {
			a.Attributes = append(a.Attributes, sts.SAMLAttribute{Name: attrTag + "Team", Values: []string{"a"}}, sts.SAMLAttribute{Name: attrTag + "team", Values: []string{"b"}})
		}), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "role pair with spaces", assertion: mod(func(a *sts.SAMLAssertion) { a.Attributes[0].Values = []string{samlRole + ", " + samlProv} }), wantCode: "AccessDenied", wantStatus: 403},
		{name: "role pair with three parts", assertion: mod(func(a *sts.SAMLAssertion) { a.Attributes[0].Values = []string{samlRole + "," + samlProv + ",x"} }), wantCode: "AccessDenied", wantStatus: 403},
		{name: "trust condition SAML:aud", assertion: mod(func(a *sts.SAMLAssertion) { a.Recipient = "https://sts.example/saml" }), wantCode: "AccessDenied", wantStatus: 403},
		{name: "namequalifier condition (other issuer)", assertion: mod(func(a *sts.SAMLAssertion) { a.Issuer = "https://other.example" }), wantCode: "AccessDenied", wantStatus: 403},
		{name: "edu affiliation condition not met", role: samlRole2, assertion: mod(func(a *sts.SAMLAssertion) {
			a.Attributes[0].Values = []string{samlProv + "," + samlRole2}
			a.Attributes = append(a.Attributes, sts.SAMLAttribute{Name: "urn:oid:1.3.6.1.4.1.5923.1.1.1.1", Values: []string{"student"}})
		}), wantCode: "AccessDenied", wantStatus: 403},
		{name: "SessionIndex with a space", assertion: mod(func(a *sts.SAMLAssertion) { a.SessionIndex = "_a b" }), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Invalid SAML response"},
		{name: "SessionIndex of 257 characters", assertion: mod(func(a *sts.SAMLAssertion) { a.SessionIndex = strings.Repeat("i", 257) }), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SessionNotOnOrAfter passed", assertion: mod(func(a *sts.SAMLAssertion) { a.SessionNotOnOrAfter = e.clk.Now().Add(-time.Second) }), wantCode: "ExpiredTokenException", wantStatus: 400},
		{name: "DurationSeconds above role max", duration: aws.Int32(14401), assertion: mod(func(*sts.SAMLAssertion) {}), wantCode: "ValidationError", wantStatus: 400, wantMsg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.verifyErr != nil {
				e.ver.set(nil, tc.verifyErr)
			} else {
				e.ver.set(tc.assertion(), nil)
			}
			role := tc.role
			if role == "" {
				role = samlRole
			}
			before := e.svc.Issued()
			out, err := e.call(t, role, tc.duration)
			if out != nil {
				t.Fatal("credentials came back")
			}
			code, msg, status := apiErr(t, err)
			if code != tc.wantCode || status != tc.wantStatus || (tc.wantMsg != "" && msg != tc.wantMsg) {
				t.Errorf("got %s %d %q, want %s %d %q", code, status, msg, tc.wantCode, tc.wantStatus, tc.wantMsg)
			}
			if e.svc.Issued() != before {
				t.Error("credentials minted")
			}
			if ev := e.lastEvent(t); ev.Outcome != "denied" || ev.Code != tc.wantCode {
				t.Errorf("audit %+v", ev)
			}
		})
	}
	t.Run("edu affiliation condition met", func(t *testing.T) {
		a := e.baseAssertion(sts.SAMLAttribute{Name: "urn:oid:1.3.6.1.4.1.5923.1.1.1.1", Values: []string{"student", "staff"}})
		a.Attributes[0].Values = []string{samlProv + "," + samlRole2}
		e.ver.set(a, nil)
		if _, err := e.call(t, samlRole2, nil); err != nil {
			t.Fatal(err)
		}
	})
	e.assertNoSecrets(t, "PHNhbWxwOlJlc3BvbnNlLz4=")
}

func TestSAMLReplayAndStoreFault(t *testing.T) {
	e := newSAMLEnv(t)
	a := e.baseAssertion()
	a.Attributes[0].Values = append(a.Attributes[0].Values, samlProv+","+samlRole2)
	e.ver.set(a, nil)
	if _, err := e.call(t, samlRole, nil); err != nil {
		t.Fatal(err)
	}
	_, err := e.call(t, samlRole, nil)
	if code, _, status := apiErr(t, err); code != "InvalidIdentityToken" || status != 400 {
		t.Errorf("replay: %s %d", code, status)
	}
	// In-process call, same assertion, other role it names: allowed by the
	// replay scope but refused by that role's trust condition.
	_, err = e.svc.AssumeRoleWithSAML(context.Background(), &sts.AssumeRoleWithSAMLInput{RoleArn: samlRole2, PrincipalArn: samlProv, SAMLAssertion: "abcd"})
	var se *sts.Error
	if !errors.As(err, &se) || se.Code != "AccessDenied" {
		t.Errorf("other role: %v", err)
	}
	e.claims.mu.Lock()
	e.claims.failing = true
	e.claims.mu.Unlock()
	e.ver.set(e.baseAssertion(), nil)
	before := e.svc.Issued()
	_, err = e.call(t, samlRole, nil)
	if code, _, status := apiErr(t, err); code != "ServiceUnavailable" || status != 503 {
		t.Errorf("store down: %s %d", code, status)
	}
	if e.svc.Issued() != before {
		t.Error("minted with the replay store down")
	}
}

func TestSAMLConfigErrors(t *testing.T) {
	keys, err := sts.GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	v := &fixedSAML{}
	cases := []struct {
		name string
		cfg  sts.Config
		want string
	}{
		{"no replay cache", sts.Config{SAMLProviders: []sts.SAMLProvider{{Name: "corp", Verifier: v}}}, "saml_replay_cache: required"},
		{"bad name", sts.Config{SAMLProviders: []sts.SAMLProvider{{Name: "a b", Verifier: v, KeyPath: "sts.saml_providers[2]"}}, SAMLReplayCache: &memClaims{}}, `sts.saml_providers[2].name: "a b" must be`},
		{"no verifier", sts.Config{SAMLProviders: []sts.SAMLProvider{{Name: "corp"}}, SAMLReplayCache: &memClaims{}}, "saml_providers[0].verifier: required"},
		{"duplicate", sts.Config{SAMLProviders: []sts.SAMLProvider{{Name: "corp", Verifier: v}, {Name: "corp", Verifier: v}}, SAMLReplayCache: &memClaims{}}, `saml_providers[1].name: "corp" is already used`},
	}
	for _, tc := range cases {
		tc.cfg.AccountID, tc.cfg.Keys = testAccount, keys
		if _, err := sts.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	svc, err := sts.New(sts.Config{AccountID: testAccount, Keys: keys, SAMLProviders: []sts.SAMLProvider{{Name: "idbroker", Verifier: v}}, SAMLReplayCache: &memClaims{}})
	if err != nil || svc.SAMLProviderARN("idbroker") != "arn:aws:iam::"+testAccount+":saml-provider/idbroker" || svc.SAMLProviderARN("x") != "" {
		t.Errorf("SAMLProviderARN: %v", err)
	}
}

// TestSAMLTooLargeSessionKeepsAssertion: a session whose token would be too
// large to carry (tags that pass the packed-size check by compressing well)
// is PackedPolicyTooLarge, issues nothing, and does not use the assertion
// up: the same assertion then succeeds without the tags' policy burden.
func TestSAMLTooLargeSessionKeepsAssertion(t *testing.T) {
	e := newSAMLEnv(t)
	big := e.baseAssertion()
	for i := range 50 {
		big.Attributes = append(big.Attributes, sts.SAMLAttribute{
			Name: attrTag + fmt.Sprintf("k%02d", i) + strings.Repeat("a", 125), Values: []string{strings.Repeat("v", 256)}})
	}
	e.ver.set(big, nil)
	before := e.svc.Issued()
	_, err := e.call(t, samlRole, nil)
	if code, _, status := apiErr(t, err); code != "PackedPolicyTooLarge" || status != 400 {
		t.Fatalf("too large: %v", err)
	}
	if e.svc.Issued() != before {
		t.Fatal("issued a session too large to carry")
	}
	small := e.baseAssertion()
	small.ID = big.ID
	e.ver.set(small, nil)
	if _, err := e.call(t, samlRole, nil); err != nil {
		t.Fatalf("retry with the same assertion: %v", err)
	}
	if _, err := e.call(t, samlRole, nil); err == nil {
		t.Fatal("replay accepted")
	}
}
