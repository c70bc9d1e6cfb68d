package main

import (
	"strings"
	"testing"

	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// TestRevokeSAMLSession: credentials of a SAML login come from
// AssumeRoleWithSAML on the broker's own assertion, which names the broker
// session in its SessionIndex: a revocation of the user's sessions refuses
// them (the broker's SAML provider is one whose session ids count), and an
// administrator signed in with another IdP keeps working.
func TestRevokeSAMLSession(t *testing.T) {
	t.Parallel()
	env := startSAMLBrokerWith(t, func(cfg string) string {
		admin := `  - name: Admin
    policies:
      - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["idbroker:Revoke", "idbroker:ListSessions"], Resource: "*"}]}
admin:
  roles: [Admin]
`
		if !strings.HasSuffix(cfg, "  - name: Admin\n") {
			t.Fatal("samlBrokerConfig changed shape; update this test")
		}
		return strings.TrimSuffix(cfg, "  - name: Admin\n") + admin
	})
	base := env.ts.URL
	signIn := func(idp, role string) minted {
		t.Helper()
		client := samltest.NewBrowser(t)
		page, err := samltest.Login(t, client, base+"/login/"+idp)
		if err != nil {
			t.Fatal(err)
		}
		_, got, _ := (&browser{t: t, c: client, base: base}).choose(string(page.Body), "arn:aws:iam::123456789012:role/"+role)
		c := samlPageCreds(t, got)[0]
		return minted{c.id, c.secret, c.token}
	}
	alice := signIn("okta", "Developer")
	admin := signIn("corp", "Admin")
	wantAlive(t, base, "before", alice, admin)
	r := revokeVia(t, adminAPI(t, base, admin), map[string]string{"user": "alice@corp.example", "provider": "okta"})
	if len(r.SessionsEnded) != 1 {
		t.Fatalf("answer %+v", r)
	}
	wantRevoked(t, base, "alice's SAML credentials", alice)
	wantAlive(t, base, "the administrator's", admin)
}
