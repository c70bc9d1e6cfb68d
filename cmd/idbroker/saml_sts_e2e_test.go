package main

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

const (
	samlAcct        = "123456789012"
	samlProviderARN = "arn:aws:iam::123456789012:saml-provider/corp"
	samlAdminARN    = "arn:aws:iam::123456789012:role/SAMLAdmin"
	samlNoTagsARN   = "arn:aws:iam::123456789012:role/SAMLNoTags"
	samlStrictARN   = "arn:aws:iam::123456789012:role/SAMLStrictAud"
	chainTargetARN  = "arn:aws:iam::123456789012:role/ChainTarget"
	chainSecondARN  = "arn:aws:iam::123456789012:role/ChainSecond"
	acctTargetARN   = "arn:aws:iam::123456789012:role/AccountTrust"
	samlPublicURL   = "http://localhost:1"
	attrRole        = "https://aws.amazon.com/SAML/Attributes/Role"
	attrSession     = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
	attrDuration    = "https://aws.amazon.com/SAML/Attributes/SessionDuration"
	attrSourceID    = "https://aws.amazon.com/SAML/Attributes/SourceIdentity"
	attrTagPrefix   = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:"
	attrTransitive  = "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys"
)

// samlSTSConfig: one SAML provider "corp" (metadata file of a samltest IdP),
// roles trusting it, and roles for AssumeRole chaining.
func samlSTSConfig(metadataFile string, allowSHA1 bool) []byte {
	return []byte(fmt.Sprintf(`
account_id: "%[1]s"
server:
  public_url: %[4]s
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: devs, when: {groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
  - name: SAMLAdmin
    max_session_duration: 2h
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "%[2]s"}
          Action: [sts:AssumeRoleWithSAML, sts:TagSession, sts:SetSourceIdentity]
    policies:
      - Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: "s3:GetObject", Resource: "*"}
  - name: SAMLNoTags
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {Federated: "%[2]s"}, Action: sts:AssumeRoleWithSAML}
  - name: SAMLStrictAud
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {Federated: "%[2]s"}
          Action: sts:AssumeRoleWithSAML
          Condition:
            StringEquals: {"SAML:aud": "https://signin.aws.amazon.com/saml", "saml:sub_type": "persistent"}
  - name: ChainTarget
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {AWS: "arn:aws:iam::%[1]s:role/SAMLAdmin"}
          Action: [sts:AssumeRole, sts:TagSession, sts:SetSourceIdentity]
          Condition:
            StringEquals: {"aws:PrincipalTag/team": "blue"}
  - name: ChainSecond
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {AWS: "arn:aws:iam::%[1]s:role/ChainTarget"}
          Action: [sts:AssumeRole, sts:TagSession, sts:SetSourceIdentity]
          Condition:
            StringEquals: {"aws:PrincipalTag/team": "blue", "aws:SourceIdentity": "alice", "saml:sub": "alice@corp.example"}
  - name: AccountTrust
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {AWS: "%[1]s"}, Action: sts:AssumeRole}
sts:
  saml_providers:
    - name: corp
      metadata_file: %[3]s
      allow_sha1: %[5]t
`, samlAcct, samlProviderARN, metadataFile, samlPublicURL, allowSHA1))
}

// stsSAMLEnv is the real server with a SAML provider backed by a samltest IdP.
type stsSAMLEnv struct {
	ts  *testServer
	idp *samltest.IdP
}

func newSTSSAMLEnv(t *testing.T, allowSHA1 bool) *stsSAMLEnv {
	t.Helper()
	idp := samltest.NewIdP(t)
	return &stsSAMLEnv{ts: startServer(t, samlSTSConfig(idp.MetadataFile(t), allowSHA1)), idp: idp}
}

// issued reads the minted-credential counter from /metrics.
func (e *stsSAMLEnv) issued(t *testing.T) int {
	t.Helper()
	return e.ts.issued(t)
}

// stsSAMLSpec is a ResponseSpec addressed to AWS with the usual attributes.
func stsSAMLSpec(session string, extra ...samltest.Attribute) samltest.ResponseSpec {
	attrs := []samltest.Attribute{
		{Name: attrRole, Values: []string{samlAdminARN + "," + samlProviderARN}},
		{Name: attrSession, Values: []string{session}},
	}
	return samltest.ResponseSpec{
		Recipient:    awsspec.SAMLRecipient,
		Audiences:    []string{awsspec.SAMLAudience},
		NameID:       "alice@corp.example",
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		Attributes:   append(attrs, extra...),
	}
}

func (e *stsSAMLEnv) encode(t *testing.T, spec samltest.ResponseSpec) string {
	t.Helper()
	return samltest.Encode(samltest.XML(t, e.idp.BuildResponse(t, spec)))
}

func (e *stsSAMLEnv) assume(ctx context.Context, roleARN, assertion string, duration *int32) (*awssts.AssumeRoleWithSAMLOutput, error) {
	return stsClient(e.ts.URL, nil).AssumeRoleWithSAML(ctx, &awssts.AssumeRoleWithSAMLInput{
		RoleArn: aws.String(roleARN), PrincipalArn: aws.String(samlProviderARN),
		SAMLAssertion: aws.String(assertion), DurationSeconds: duration,
	})
}

func stsAPIErr(t *testing.T, err error) (code, msg string, status int) {
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

func awsNameQualifier(issuer, account, provider string) string {
	sum := sha1.Sum([]byte(issuer + account + "/" + provider))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestSTSSAMLWithAWSSDK: samltest IdP -> aws-sdk-go-v2 AssumeRoleWithSAML
// (unsigned, no region needed) -> GetCallerIdentity -> AssumeRole chaining
// with transitive tags and source identity.
func TestSTSSAMLWithAWSSDK(t *testing.T) {
	e := newSTSSAMLEnv(t, false)
	ctx := context.Background()
	before := e.issued(t)

	spec := stsSAMLSpec("alice",
		samltest.Attribute{Name: attrDuration, Values: []string{"900"}},
		samltest.Attribute{Name: attrTagPrefix + "team", Values: []string{"blue"}},
		samltest.Attribute{Name: attrTagPrefix + "cost", Values: []string{"42"}},
		samltest.Attribute{Name: attrTransitive, Values: []string{"team"}},
		samltest.Attribute{Name: attrSourceID, Values: []string{"alice"}},
	)
	assertion := e.encode(t, spec)
	out, err := e.assume(ctx, samlAdminARN, assertion, nil)
	if err != nil {
		t.Fatalf("AssumeRoleWithSAML: %v", err)
	}
	c := out.Credentials
	if !regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`).MatchString(*c.AccessKeyId) || len(*c.SecretAccessKey) != 40 || *c.SessionToken == "" {
		t.Fatalf("credentials shape: %q / %d", *c.AccessKeyId, len(*c.SecretAccessKey))
	}
	if got := time.Until(*c.Expiration); got < 880*time.Second || got > 905*time.Second {
		t.Errorf("expiration in %v, want about 900s (SessionDuration attribute)", got)
	}
	wantARN := "arn:aws:sts::123456789012:assumed-role/SAMLAdmin/alice"
	if *out.AssumedRoleUser.Arn != wantARN {
		t.Errorf("Arn %q", *out.AssumedRoleUser.Arn)
	}
	if id := *out.AssumedRoleUser.AssumedRoleId; !regexp.MustCompile(`^AROA[A-Z0-9]{17}:alice$`).MatchString(id) || len(id) != 21+1+len("alice") {
		t.Errorf("AssumedRoleId %q", id)
	}
	checks := map[string][2]string{
		"Subject":        {aws.ToString(out.Subject), "alice@corp.example"},
		"SubjectType":    {aws.ToString(out.SubjectType), "persistent"},
		"Issuer":         {aws.ToString(out.Issuer), e.idp.EntityID},
		"Audience":       {aws.ToString(out.Audience), awsspec.SAMLRecipient},
		"NameQualifier":  {aws.ToString(out.NameQualifier), awsNameQualifier(e.idp.EntityID, samlAcct, "corp")},
		"SourceIdentity": {aws.ToString(out.SourceIdentity), "alice"},
	}
	for field, v := range checks {
		if v[0] != v[1] {
			t.Errorf("%s = %q, want %q", field, v[0], v[1])
		}
	}
	if out.PackedPolicySize == nil || *out.PackedPolicySize <= 0 {
		t.Errorf("PackedPolicySize %v, want > 0 with session tags", out.PackedPolicySize)
	}
	if got := e.issued(t) - before; got != 1 {
		t.Errorf("issued %d credentials, want 1", got)
	}

	samlCreds := staticCreds(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	who, err := stsClient(e.ts.URL, samlCreds).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if *who.Arn != wantARN || *who.UserId != *out.AssumedRoleUser.AssumedRoleId || *who.Account != samlAcct {
		t.Errorf("caller identity %q %q %q", *who.Arn, *who.UserId, *who.Account)
	}

	// Chaining: ChainTarget's trust needs aws:PrincipalTag/team (from SAML);
	// ChainSecond's needs it again (transitive), the immutable source
	// identity and saml:sub kept in the session.
	hop1, err := stsClient(e.ts.URL, samlCreds).AssumeRole(ctx, &awssts.AssumeRoleInput{
		RoleArn: aws.String(chainTargetARN), RoleSessionName: aws.String("hop1"),
	})
	if err != nil {
		t.Fatalf("AssumeRole hop 1: %v", err)
	}
	if aws.ToString(hop1.SourceIdentity) != "alice" {
		t.Errorf("hop 1 SourceIdentity %q, want alice (inherited)", aws.ToString(hop1.SourceIdentity))
	}
	if got := time.Until(*hop1.Credentials.Expiration); got > time.Hour+5*time.Second {
		t.Errorf("chained session lasts %v, want <= 1h", got)
	}
	h1 := hop1.Credentials
	hop1Creds := staticCreds(*h1.AccessKeyId, *h1.SecretAccessKey, *h1.SessionToken)
	hop2, err := stsClient(e.ts.URL, hop1Creds).AssumeRole(ctx, &awssts.AssumeRoleInput{
		RoleArn: aws.String(chainSecondARN), RoleSessionName: aws.String("hop2"),
	})
	if err != nil {
		t.Fatalf("AssumeRole hop 2 (transitive tag, source identity, saml:sub): %v", err)
	}
	who2, err := stsClient(e.ts.URL, staticCreds(*hop2.Credentials.AccessKeyId, *hop2.Credentials.SecretAccessKey, *hop2.Credentials.SessionToken)).
		GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil || *who2.Arn != "arn:aws:sts::123456789012:assumed-role/ChainSecond/hop2" {
		t.Fatalf("hop 2 identity: %v %v", who2, err)
	}
	// Changing the source identity along the chain is refused.
	_, err = stsClient(e.ts.URL, hop1Creds).AssumeRole(ctx, &awssts.AssumeRoleInput{
		RoleArn: aws.String(chainSecondARN), RoleSessionName: aws.String("hop2b"), SourceIdentity: aws.String("mallory"),
	})
	if code, _, status := stsAPIErr(t, err); code != "AccessDenied" || status != 403 {
		t.Errorf("changed source identity: %s %d", code, status)
	}
	// A session tag cannot override an inherited transitive tag (keys are
	// case-insensitive).
	_, err = stsClient(e.ts.URL, hop1Creds).AssumeRole(ctx, &awssts.AssumeRoleInput{
		RoleArn: aws.String(chainSecondARN), RoleSessionName: aws.String("hop2c"),
		Tags: []ststypes.Tag{{Key: aws.String("Team"), Value: aws.String("red")}},
	})
	if code, _, _ := stsAPIErr(t, err); code != "ValidationError" {
		t.Errorf("override of inherited transitive tag: %s", code)
	}

	// An assertion is redeemed once per role.
	_, err = e.assume(ctx, samlAdminARN, assertion, nil)
	if code, _, status := stsAPIErr(t, err); code != "InvalidIdentityToken" || status != 400 {
		t.Errorf("replay: %s %d", code, status)
	}
	e.ts.assertNoSecrets(t, assertion, *c.SecretAccessKey, *c.SessionToken, *h1.SecretAccessKey)
	if strings.Contains(e.ts.Logs.String(), "PHNhbWxw") {
		t.Error("logs contain a base64 SAML response")
	}
}

// TestSTSSAMLVariants: recipient/audience alternatives, attribute order,
// durations, namespaces.
func TestSTSSAMLVariants(t *testing.T) {
	e := newSTSSAMLEnv(t, false)
	ctx := context.Background()
	cases := []struct {
		name     string
		spec     func() samltest.ResponseSpec
		duration *int32
		role     string
		check    func(t *testing.T, out *awssts.AssumeRoleWithSAMLOutput)
	}{
		{name: "no SessionDuration: 3600", spec: func() samltest.ResponseSpec { return stsSAMLSpec("s1") },
			check: func(t *testing.T, out *awssts.AssumeRoleWithSAMLOutput) {
				if d := time.Until(*out.Credentials.Expiration); d < 3590*time.Second || d > 3605*time.Second {
					t.Errorf("duration %v", d)
				}
			}},
		{name: "pair in provider,role order, attributes reversed", spec: func() samltest.ResponseSpec {
			s := stsSAMLSpec("s2")
			s.Attributes = []samltest.Attribute{
				{Name: attrSession, Values: []string{"s2"}},
				{Name: attrRole, Values: []string{"arn:aws:iam::123456789012:role/Other," + samlProviderARN, samlProviderARN + "," + samlAdminARN}},
			}
			return s
		}},
		{name: "DurationSeconds 7200 within role max", spec: func() samltest.ResponseSpec { return stsSAMLSpec("s3") }, duration: aws.Int32(7200),
			check: func(t *testing.T, out *awssts.AssumeRoleWithSAMLOutput) {
				if d := time.Until(*out.Credentials.Expiration); d < 7190*time.Second {
					t.Errorf("duration %v", d)
				}
			}},
		{name: "SessionNotOnOrAfter caps the session", spec: func() samltest.ResponseSpec {
			s := stsSAMLSpec("s4")
			s.SessionNotOnOrAfter = time.Now().Add(20 * time.Minute)
			return s
		}, check: func(t *testing.T, out *awssts.AssumeRoleWithSAMLOutput) {
			if d := time.Until(*out.Credentials.Expiration); d > 20*time.Minute+5*time.Second {
				t.Errorf("duration %v, want <= 20m", d)
			}
		}},
		{name: "recipient and audience of this STS", spec: func() samltest.ResponseSpec {
			s := stsSAMLSpec("s5")
			s.Recipient, s.Audiences = samlPublicURL+"/saml", []string{samlPublicURL}
			return s
		}, check: func(t *testing.T, out *awssts.AssumeRoleWithSAMLOutput) {
			if aws.ToString(out.Audience) != samlPublicURL+"/saml" {
				t.Errorf("Audience %q", aws.ToString(out.Audience))
			}
		}},
		{name: "transient subject type, signed response", spec: func() samltest.ResponseSpec {
			s := stsSAMLSpec("s6")
			s.NameIDFormat = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
			s.Sign, s.Destination = samltest.SignBoth, awsspec.SAMLRecipient
			return s
		}, check: func(t *testing.T, out *awssts.AssumeRoleWithSAMLOutput) {
			if aws.ToString(out.SubjectType) != "transient" {
				t.Errorf("SubjectType %q", aws.ToString(out.SubjectType))
			}
		}},
		{name: "strict trust on SAML:aud and saml:sub_type", role: samlStrictARN, spec: func() samltest.ResponseSpec {
			s := stsSAMLSpec("s7")
			s.Attributes[0].Values = []string{samlStrictARN + "," + samlProviderARN}
			return s
		}},
		{name: "extra xmlns declarations", spec: func() samltest.ResponseSpec {
			s := stsSAMLSpec("s8")
			s.Modify = func(resp, a *etree.Element) {
				for _, el := range a.FindElements(".//Attribute") {
					el.CreateAttr("xmlns:xs", "http://www.w3.org/2001/XMLSchema")
				}
			}
			return s
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			role := tc.role
			if role == "" {
				role = samlAdminARN
			}
			out, err := e.assume(ctx, role, e.encode(t, tc.spec()), tc.duration)
			if err != nil {
				t.Fatalf("AssumeRoleWithSAML: %v", err)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

// TestSTSSAMLRefusals: THREATS.md §1 cases that apply to AssumeRoleWithSAML and
// §9.3 SAML rows, through the real wiring. Each asserts the AWS code and
// status, and that no credentials were minted.
func TestSTSSAMLRefusals(t *testing.T) {
	e := newSTSSAMLEnv(t, false)
	ctx := context.Background()
	evilKey, evilCert := samltest.NewKeyPair(t, "evil")
	now := time.Now()
	withAttrs := func(session string, attrs ...samltest.Attribute) func() samltest.ResponseSpec {
		return func() samltest.ResponseSpec { return stsSAMLSpec(session, attrs...) }
	}
	mod := func(f func(s *samltest.ResponseSpec)) func() samltest.ResponseSpec {
		return func() samltest.ResponseSpec { s := stsSAMLSpec("bob"); f(&s); return s }
	}
	cases := []struct {
		name       string
		spec       func() samltest.ResponseSpec
		raw        string // instead of spec
		role       string
		principal  string
		duration   *int32
		wantCode   string
		wantStatus int
		wantMsg    string
	}{
		{name: "SAML-13 unsigned", spec: mod(func(s *samltest.ResponseSpec) { s.Sign = samltest.SignNone }), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Response signature invalid"},
		{name: "SAML-20 untrusted signer", spec: mod(func(s *samltest.ResponseSpec) { s.SignerKey, s.SignerCert = evilKey, evilCert }), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Response signature invalid"},
		{name: "SHA-1 refused without allow_sha1", spec: mod(func(s *samltest.ResponseSpec) { s.SHA1 = true }), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Response signature invalid"},
		{name: "SAML-03/31 second unsigned assertion", spec: mod(func(s *samltest.ResponseSpec) {
			s.Modify = func(resp, a *etree.Element) {
				evil := a.Copy()
				evil.RemoveAttr("ID")
				evil.CreateAttr("ID", "_evil")
				resp.AddChild(evil)
			}
		}), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-32 expired NotOnOrAfter", spec: mod(func(s *samltest.ResponseSpec) { s.Now, s.Lifetime = now.Add(-4*time.Minute), time.Minute }), wantCode: "ExpiredTokenException", wantStatus: 400, wantMsg: "Response has expired"},
		{name: "issued more than 5 minutes ago", spec: mod(func(s *samltest.ResponseSpec) { s.Now, s.Lifetime = now.Add(-7*time.Minute), time.Hour }), wantCode: "ExpiredTokenException", wantStatus: 400, wantMsg: "Token must be redeemed within 5 minutes of issuance"},
		{name: "SAML-33 issued in the future", spec: mod(func(s *samltest.ResponseSpec) { s.Now = now.Add(10 * time.Minute) }), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-34a other audience", spec: mod(func(s *samltest.ResponseSpec) { s.Audiences = []string{"https://other.example/sp"} }), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Response does not contain the required audience"},
		{name: "SAML-34b no AudienceRestriction", spec: mod(func(s *samltest.ResponseSpec) { s.Audiences = nil }), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Response does not contain the required audience"},
		{name: "SAML-35 wrong recipient", spec: mod(func(s *samltest.ResponseSpec) { s.Recipient = "https://evil.example/saml" }), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-36 no recipient", spec: mod(func(s *samltest.ResponseSpec) { s.Recipient = "" }), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-36 holder-of-key", spec: mod(func(s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				a.FindElement(".//SubjectConfirmation").CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
			}
		}), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-40 issuer not the provider", spec: mod(func(s *samltest.ResponseSpec) { s.Issuer = "https://other-idp.example" }), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-41 non-success status", spec: mod(func(s *samltest.ResponseSpec) {
			s.Modify = func(resp, _ *etree.Element) {
				resp.FindElement(".//StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")
			}
		}), wantCode: "IDPRejectedClaim", wantStatus: 403},
		{name: "SAML-42 DOCTYPE", raw: base64.StdEncoding.EncodeToString([]byte(`<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>`)), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-43 over 100000 characters", raw: strings.Repeat("A", 100004), wantCode: "ValidationError", wantStatus: 400},
		{name: "not base64", raw: "!!!not base64!!!", wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-54 role pair absent", spec: mod(func(s *samltest.ResponseSpec) {
			s.Attributes[0].Values = []string{"arn:aws:iam::123456789012:role/Developer," + samlProviderARN}
		}), wantCode: "AccessDenied", wantStatus: 403, wantMsg: "Not authorized to perform sts:AssumeRoleWithSAML"},
		{name: "SAML-54 role paired with another provider", spec: mod(func(s *samltest.ResponseSpec) {
			s.Attributes[0].Values = []string{samlAdminARN + ",arn:aws:iam::123456789012:saml-provider/other"}
		}), wantCode: "AccessDenied", wantStatus: 403},
		{name: "SAML-54 case variant of the role ARN", spec: mod(func(s *samltest.ResponseSpec) {
			s.Attributes[0].Values = []string{strings.ToLower(samlAdminARN) + "," + samlProviderARN}
		}), wantCode: "AccessDenied", wantStatus: 403},
		{name: "no Role attribute", spec: mod(func(s *samltest.ResponseSpec) { s.Attributes = s.Attributes[1:] }), wantCode: "AccessDenied", wantStatus: 403},
		{name: "no RoleSessionName", spec: mod(func(s *samltest.ResponseSpec) { s.Attributes = s.Attributes[:1] }), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "RoleSessionName is required in AuthnResponse"},
		{name: "SAML-55 RoleSessionName with slash", spec: withAttrs("a/b"), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}"},
		{name: "SAML-55 RoleSessionName 65 chars", spec: withAttrs(strings.Repeat("a", 65)), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-55 RoleSessionName 1 char", spec: withAttrs("a"), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "SAML-55 SessionDuration 899", spec: withAttrs("bob", samltest.Attribute{Name: attrDuration, Values: []string{"899"}}), wantCode: "ValidationError", wantStatus: 400},
		{name: "SAML-55 SessionDuration 3600.5", spec: withAttrs("bob", samltest.Attribute{Name: attrDuration, Values: []string{"3600.5"}}), wantCode: "ValidationError", wantStatus: 400},
		{name: "SAML-55 SessionDuration 43201", spec: withAttrs("bob", samltest.Attribute{Name: attrDuration, Values: []string{"43201"}}), wantCode: "ValidationError", wantStatus: 400},
		{name: "SourceIdentity aws: prefix", spec: withAttrs("bob", samltest.Attribute{Name: attrSourceID, Values: []string{"aws:x"}}), wantCode: "InvalidIdentityToken", wantStatus: 400},
		{name: "tags without sts:TagSession", role: samlNoTagsARN, spec: mod(func(s *samltest.ResponseSpec) {
			s.Attributes[0].Values = []string{samlNoTagsARN + "," + samlProviderARN}
			s.Attributes = append(s.Attributes, samltest.Attribute{Name: attrTagPrefix + "team", Values: []string{"x"}})
		}), wantCode: "AccessDenied", wantStatus: 403},
		{name: "trust condition SAML:aud refuses our own recipient", role: samlStrictARN, spec: mod(func(s *samltest.ResponseSpec) {
			s.Attributes[0].Values = []string{samlStrictARN + "," + samlProviderARN}
			s.Recipient = samlPublicURL + "/saml"
		}), wantCode: "AccessDenied", wantStatus: 403},
		{name: "unknown provider", principal: "arn:aws:iam::123456789012:saml-provider/nope", spec: withAttrs("bob"), wantCode: "InvalidIdentityToken", wantStatus: 400, wantMsg: "Specified provider doesn't exist"},
		{name: "DurationSeconds above role max", role: samlNoTagsARN, duration: aws.Int32(7200), spec: mod(func(s *samltest.ResponseSpec) {
			s.Attributes[0].Values = []string{samlNoTagsARN + "," + samlProviderARN}
		}), wantCode: "ValidationError", wantStatus: 400, wantMsg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
		{name: "DurationSeconds 899", duration: aws.Int32(899), spec: withAttrs("bob"), wantCode: "ValidationError", wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assertion := tc.raw
			if assertion == "" {
				assertion = e.encode(t, tc.spec())
			}
			role, principal := tc.role, tc.principal
			if role == "" {
				role = samlAdminARN
			}
			if principal == "" {
				principal = samlProviderARN
			}
			before := e.issued(t)
			out, err := stsClient(e.ts.URL, nil).AssumeRoleWithSAML(ctx, &awssts.AssumeRoleWithSAMLInput{
				RoleArn: aws.String(role), PrincipalArn: aws.String(principal), SAMLAssertion: aws.String(assertion),
				DurationSeconds: tc.duration,
			})
			if out != nil && out.Credentials != nil {
				t.Fatal("credentials came back")
			}
			code, msg, status := stsAPIErr(t, err)
			if code != tc.wantCode || status != tc.wantStatus {
				t.Errorf("got %s %d (%s), want %s %d", code, status, msg, tc.wantCode, tc.wantStatus)
			}
			if tc.wantMsg != "" && msg != tc.wantMsg {
				t.Errorf("message %q, want %q", msg, tc.wantMsg)
			}
			if got := e.issued(t); got != before {
				t.Errorf("issued changed %d -> %d", before, got)
			}
		})
	}
	e.ts.assertNoSecrets(t)
}

// TestSTSSAMLReplayConcurrent: 30 concurrent redemptions of one assertion for
// one role -> exactly one success (THREATS SAML-39).
func TestSTSSAMLReplayConcurrent(t *testing.T) {
	e := newSTSSAMLEnv(t, false)
	assertion := e.encode(t, stsSAMLSpec("racer"))
	before := e.issued(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, codes := 0, map[string]int{}
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.assume(context.Background(), samlAdminARN, assertion, nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
				return
			}
			var ae smithy.APIError
			if errors.As(err, &ae) {
				codes[ae.ErrorCode()]++
			} else {
				codes[err.Error()]++
			}
		}()
	}
	wg.Wait()
	if ok != 1 || codes["InvalidIdentityToken"] != 29 {
		t.Errorf("successes %d, refusals %v; want 1 and 29 InvalidIdentityToken", ok, codes)
	}
	if got := e.issued(t) - before; got != 1 {
		t.Errorf("issued %d, want 1", got)
	}
}

// TestSTSSAMLAllowSHA1: allow_sha1 lets an RSA-SHA1 signature through.
func TestSTSSAMLAllowSHA1(t *testing.T) {
	e := newSTSSAMLEnv(t, true)
	spec := stsSAMLSpec("legacy")
	spec.SHA1 = true
	if _, err := e.assume(context.Background(), samlAdminARN, e.encode(t, spec), nil); err != nil {
		t.Fatalf("SHA-1 with allow_sha1: %v", err)
	}
}
