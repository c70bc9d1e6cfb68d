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

// The change helpers do what they say, and the service account can read
// what they set (pwdAccountLockedTime is operational: asked for by name).
func TestChanges(t *testing.T) {
	srv := StartWith(t, Options{PasswordPolicy: true})
	c, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(BindDN, BindPassword); err != nil {
		t.Fatal(err)
	}
	read := func(dn string, attrs ...string) *ldap.Entry {
		t.Helper()
		res, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", attrs, nil))
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil
		}
		if err != nil || len(res.Entries) != 1 {
			t.Fatalf("read %s: %v", dn, err)
		}
		return res.Entries[0]
	}
	if err := srv.RemoveMember(GroupDN(GroupDevelopers), Alice.DN()); err != nil {
		t.Fatal(err)
	}
	if got := read(Alice.DN(), "memberOf").GetAttributeValues("memberOf"); len(got) != 0 {
		t.Errorf("alice memberOf after RemoveMember = %v", got)
	}
	if err := srv.AddMember(GroupDN(GroupDevelopers), Alice.DN()); err != nil {
		t.Fatal(err)
	}
	if got := read(Alice.DN(), "memberOf").GetAttributeValues("memberOf"); len(got) != 1 {
		t.Errorf("alice memberOf after AddMember = %v", got)
	}
	if err := srv.Lock(Bob.DN()); err != nil {
		t.Fatal(err)
	}
	if got := read(Bob.DN(), "pwdAccountLockedTime").GetAttributeValue("pwdAccountLockedTime"); got != "000001010000Z" {
		t.Errorf("bob pwdAccountLockedTime = %q", got)
	}
	for range 2 { // the second time the entry is an extensibleObject already
		if err := srv.Disable(Carol.DN()); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(Carol.DN(), "userAccountControl").GetAttributeValue("userAccountControl"); got != "514" {
		t.Errorf("carol userAccountControl = %q", got)
	}
	if err := srv.Delete(Jurgen.DN()); err != nil {
		t.Fatal(err)
	}
	if e := read(Jurgen.DN()); e != nil {
		t.Errorf("jürgen still there: %v", e.DN)
	}
	if err := srv.Lock(GroupDN("no such group")); err == nil {
		t.Error("Lock of a missing entry: no error")
	}
}
