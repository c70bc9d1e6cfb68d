package sts

import (
	"context"
	"testing"
	"time"

	"github.com/idbroker/idbroker/sts/policy"
)

// TestAuthorizePolicyVariables: the session's own keys reach policy
// variables in a decision: ${aws:userid} (role id and session name),
// ${saml:sub} and ${<issuer>:sub} from the federated login, and
// ${aws:PrincipalTag/...}; a key the session lacks leaves the statement
// unmatched (its default is used where one is given).
func TestAuthorizePolicyVariables(t *testing.T) {
	kr, err := GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	rolePolicy := `{"Version":"2012-10-17","Statement":[
		{"Sid":"OwnPrefix","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:userid}/*"},
		{"Sid":"SAMLHome","Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/saml/${saml:sub}/*"},
		{"Sid":"OIDCHome","Effect":"Allow","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/oidc/${idp.example.com:sub}/*"},
		{"Sid":"Team","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::${aws:PrincipalTag/team, 'shared'}"}]}`
	s, err := New(Config{AccountID: "123456789012", Keys: kr, Roles: []RoleConfig{{Name: "r", TrustPolicy: []byte(trustAnyOIDC),
		Policies: [][]byte{[]byte(rolePolicy)}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := s.roles["arn:aws:iam::123456789012:role/r"]
	session := func(name string, tags map[string]string, fed map[string][]string) *Session {
		t.Helper()
		c, _, err := s.mint(context.Background(), mintParams{role: r, sessionName: name, tags: tags, federated: fed, duration: time.Hour, now: s.now()})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := s.SessionFromToken(c.AccessKeyID, c.SessionToken)
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	saml := session("alice", map[string]string{"team": "red"}, map[string][]string{"saml:sub": {"alice@corp.example"}})
	oidc := session("bob", nil, map[string][]string{"idp.example.com:sub": {"u-42"}})
	cases := []struct {
		name             string
		sess             *Session
		action, resource string
		want             policy.Decision
	}{
		{"userid prefix", saml, "s3:GetObject", "arn:aws:s3:::b/" + r.id + ":alice/k", policy.Allow},
		{"another session's userid prefix", saml, "s3:GetObject", "arn:aws:s3:::b/" + r.id + ":bob/k", policy.ImplicitDeny},
		{"saml:sub home", saml, "s3:PutObject", "arn:aws:s3:::b/saml/alice@corp.example/k", policy.Allow},
		{"saml:sub of someone else", saml, "s3:PutObject", "arn:aws:s3:::b/saml/bob@corp.example/k", policy.ImplicitDeny},
		{"no saml:sub in a web-identity session", oidc, "s3:PutObject", "arn:aws:s3:::b/saml//k", policy.ImplicitDeny},
		{"issuer sub home", oidc, "s3:DeleteObject", "arn:aws:s3:::b/oidc/u-42/k", policy.Allow},
		{"no issuer sub in a SAML session", saml, "s3:DeleteObject", "arn:aws:s3:::b/oidc/u-42/k", policy.ImplicitDeny},
		{"principal tag", saml, "s3:ListBucket", "arn:aws:s3:::red", policy.Allow},
		{"principal tag default", oidc, "s3:ListBucket", "arn:aws:s3:::shared", policy.Allow},
		{"principal tag default not used when tagged", saml, "s3:ListBucket", "arn:aws:s3:::shared", policy.ImplicitDeny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.Authorize(tc.sess, tc.action, tc.resource, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision != tc.want {
				t.Errorf("%s on %s: %v, want %v", tc.action, tc.resource, res.Decision, tc.want)
			}
		})
	}
}
