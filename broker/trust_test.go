package broker

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/sts/policy"
)

var testTrust = Trust{Partition: "aws", Account: "123456789012", PublicURL: "https://idbroker.example.com/"}

// The user's trust policy is checked as written, not as a map would
// remember it.
func TestTrustRefusesWhatTheSTSRefuses(t *testing.T) {
	const dup = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`
	_, err := testTrust.Add([]byte(dup), "Dev")
	var me *policy.MalformedError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "MalformedPolicyDocument: Duplicate key") {
		t.Fatalf("duplicate Effect: got %v", err)
	}
}

// The user's Version (or its absence) and numbers are kept as written.
func TestTrustKeepsTheDocument(t *testing.T) {
	for _, tc := range []struct {
		name, trust, wantVersion string
	}{
		{"no trust: the broker's own document", "", policy.Version2012},
		{"no Version stays none", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"StringLike":{"aws:PrincipalTag/x":"${aws:username}"}}}}`, policy.Version2008},
		{"Version kept", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":12345678901234567890}}}}`, policy.Version2012},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := testTrust.Add([]byte(tc.trust), "Dev")
			if err != nil {
				t.Fatal(err)
			}
			p, err := policy.Parse(out, policy.Trust)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if p.Version() != tc.wantVersion {
				t.Fatalf("version %q, want %q: %s", p.Version(), tc.wantVersion, out)
			}
			if strings.Contains(tc.trust, "12345678901234567890") && !strings.Contains(string(out), "12345678901234567890") {
				t.Fatalf("number rewritten: %s", out)
			}
		})
	}
}

// The statements the broker adds name its two providers and bind the
// subject to the role, with the subject and recipient its assertions carry.
func TestTrustStatements(t *testing.T) {
	out, err := testTrust.Add(nil, "Dev")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Sid       string
			Principal struct{ Federated string }
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil || len(doc.Statement) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	jwt, saml := doc.Statement[0], doc.Statement[1]
	if jwt.Principal.Federated != "arn:aws:iam::123456789012:oidc-provider/idbroker.example.com" ||
		jwt.Condition["StringEquals"]["idbroker.example.com:aud"] != Audience ||
		jwt.Condition["StringLike"]["idbroker.example.com:sub"] != "Dev/*" {
		t.Errorf("JWT statement %+v", jwt)
	}
	// The SAML statement accepts what the broker's IdP at that URL signs.
	k, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	idp, err := NewSAMLIdP(SAMLIdPConfig{PublicURL: testTrust.PublicURL, ProviderARN: testTrust.SAMLProviderARN(), Key: k.SAMLKey, Certificate: k.SAMLCert})
	if err != nil {
		t.Fatal(err)
	}
	if saml.Principal.Federated != testProviderARN || saml.Principal.Federated != idp.ProviderARN() ||
		saml.Condition["StringEquals"]["SAML:aud"] != idp.Recipient() || idp.Recipient() != "https://idbroker.example.com/saml" ||
		saml.Condition["StringLike"]["SAML:sub"] != "Dev/*" || !strings.HasPrefix(Subject("Dev", "corp", "alice"), "Dev/") {
		t.Errorf("SAML statement %+v, IdP recipient %q", saml, idp.Recipient())
	}
}
