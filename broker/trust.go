package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

// What the broker's assertions say about the user, and what a role's trust
// policy must accept for the broker to assume it: the subject names the
// role first, and every trust statement the broker adds requires a subject
// that starts with the role's name, so that a token or Response minted for
// one role cannot assume another.

// Subject is the subject of the broker's assertions for a grant of roleName
// to user: the JWT's sub and the SAML Response's NameID. The role name
// comes first and cannot contain "/", so a trust policy condition
// `StringLike {"<issuer>:sub": "<RoleName>/*"}` (subjectPattern) binds an
// assertion to one role. It is cut to 255 bytes.
func Subject(roleName, provider, username string) string {
	s := roleName + "/" + provider + "/" + username
	if len(s) > 255 {
		s = s[:255]
	}
	return s
}

// subjectPattern matches every Subject of roleName (a StringLike pattern).
func subjectPattern(roleName string) string { return roleName + "/*" }

// Trust names the broker as the STS knows it, for the trust statements of
// the roles that trust it (Add).
type Trust struct {
	// Partition and Account are the STS's.
	Partition, Account string
	// PublicURL is the broker's public URL: the issuer of its JWTs, and the
	// base of the Recipient of its SAML Responses (<PublicURL>/saml).
	PublicURL string
}

// SAMLProviderARN is the broker's SAML provider in the STS
// (saml-provider/idbroker).
func (t Trust) SAMLProviderARN() string {
	return awsspec.SAMLProviderARN(t.Partition, t.Account, SAMLIdPProviderName)
}

// Add returns the trust policy trust (JSON; empty for none) with the
// statements appended that let the broker assume roleName for a user. For
// JWTs (OIDC, LDAP and static logins): Federated = the broker's OIDC
// provider, audience = the broker's client id (Audience), and a subject
// that names this role. For SAML logins the same with the broker's SAML
// provider: SAML:aud is the Recipient (<public_url>/saml) and SAML:sub, the
// NameID, starts with the role name. The user's document is checked as the
// STS will check it, and kept as written (its Version, or its absence, and
// its numbers); errors read "MalformedPolicyDocument: …".
func (t Trust) Add(trust []byte, roleName string) ([]byte, error) {
	issuer := awsspec.IssuerHostPath(t.PublicURL)
	stmt := map[string]any{
		"Sid":       "TrustIdbrokerBroker",
		"Effect":    "Allow",
		"Principal": map[string]any{"Federated": awsspec.OIDCProviderARN(t.Partition, t.Account, issuer)},
		"Action":    []string{"sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"},
		"Condition": map[string]any{
			"StringEquals": map[string]any{issuer + ":aud": Audience},
			"StringLike":   map[string]any{issuer + ":sub": subjectPattern(roleName)},
		},
	}
	// The user's document is checked as the STS will check it first: decoding
	// it into a map would silently keep the last of duplicate keys
	// ({"Effect":"Deny","Effect":"Allow"} would pass as Allow).
	var doc map[string]any
	if len(trust) == 0 {
		doc = map[string]any{"Version": policy.Version2012}
	} else {
		if _, err := policy.Parse(trust, policy.Trust); err != nil {
			return nil, fmt.Errorf("MalformedPolicyDocument: %w", err)
		}
		// Numbers are kept as written; a missing Version stays missing
		// (it means 2008-10-17, where ${…} is not a policy variable).
		dec := json.NewDecoder(bytes.NewReader(trust))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("MalformedPolicyDocument: %w", err)
		}
	}
	var stmts []any
	switch s := doc["Statement"].(type) {
	case nil:
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	default:
		return nil, errors.New("MalformedPolicyDocument: Statement must be an object or a list")
	}
	samlStmt := map[string]any{
		"Sid":       "TrustIdbrokerBrokerSAML",
		"Effect":    "Allow",
		"Principal": map[string]any{"Federated": t.SAMLProviderARN()},
		"Action":    []string{"sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity"},
		"Condition": map[string]any{
			"StringEquals": map[string]any{"SAML:aud": samlRecipient(t.PublicURL)},
			"StringLike":   map[string]any{"SAML:sub": subjectPattern(roleName)},
		},
	}
	doc["Statement"] = append(stmts, stmt, samlStmt)
	return json.Marshal(doc)
}
