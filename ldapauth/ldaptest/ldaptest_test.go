package ldaptest

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestServerSeeded(t *testing.T) {
	srv := Start(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM) {
		t.Fatal("bad CA PEM")
	}
	tests := []struct {
		name, url string
		startTLS  bool
	}{
		{"plain", srv.URL, false},
		{"starttls", srv.URL, true},
		{"ldaps", srv.LDAPSURL, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ldap.DialURL(tc.url, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tc.startTLS {
				if err := c.StartTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}); err != nil {
					t.Fatal(err)
				}
			}
			// Anonymous reads nothing.
			res, err := c.Search(ldap.NewSearchRequest(PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=alice)", nil, nil))
			if err == nil && len(res.Entries) > 0 {
				t.Fatalf("anonymous read %d entries", len(res.Entries))
			}
			if err := c.Bind(BindDN, BindPassword); err != nil {
				t.Fatal(err)
			}
			res, err = c.Search(ldap.NewSearchRequest(PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=alice)", []string{"memberOf", "entryUUID", "cn"}, nil))
			if err != nil || len(res.Entries) != 1 {
				t.Fatalf("search alice: %v %v", err, res)
			}
			if got := res.Entries[0].GetAttributeValues("memberOf"); len(got) != 1 {
				t.Errorf("alice memberOf = %v", got)
			}
			if res.Entries[0].GetAttributeValue("entryUUID") == "" {
				t.Error("no entryUUID")
			}
			for _, u := range Users {
				if err := c.Bind(u.DN(), u.Password); err != nil {
					t.Errorf("bind %q: %v", u.DN(), err)
				}
			}
			if err := c.Bind(Alice.DN(), "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
}
