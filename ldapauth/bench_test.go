package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// benchConfig: ldaps, flat groups (alice: member + memberUid), so that a
// login is the same LDAP work as the raw loop below.
func benchConfig(b *testing.B) Config {
	cfg := baseConfig(b)
	cfg.GroupSearch.Nested = false
	return cfg
}

// BenchmarkLogin: ldapauth.Authenticate (service search, user bind, group
// search) against slapd over ldaps://, pooled connections.
func BenchmarkLogin(b *testing.B) {
	c, _ := newClient(b, benchConfig(b))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Authenticate(ctx, ldaptest.Alice.UID, ldaptest.Alice.Password)
		if err != nil || len(res.Groups) != 2 {
			b.Fatalf("%v %v", err, res)
		}
	}
}

// BenchmarkLoginParallel: the same with GOMAXPROCS×4 concurrent logins.
func BenchmarkLoginParallel(b *testing.B) {
	c, _ := newClient(b, benchConfig(b))
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Authenticate(context.Background(), ldaptest.Alice.UID, ldaptest.Alice.Password); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRawBindSearch: the same protocol work with go-ldap directly on
// one reused ldaps connection: search the user as the service account, bind
// as the user, bind back as the service account, search the groups.
func BenchmarkRawBindSearch(b *testing.B) {
	s := ldaptest.Get(b, srv)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	l, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
		b.Fatal(err)
	}
	userFilter := "(&(objectClass=inetOrgPerson)(uid=" + ldap.EscapeFilter(ldaptest.Alice.UID) + "))"
	b.ReportAllocs()
	for b.Loop() {
		res, err := l.Search(ldap.NewSearchRequest(ldaptest.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
			userFilter, []string{"uid", "mail", "displayName", "cn", "entryUUID", "uidNumber"}, nil))
		if err != nil || len(res.Entries) != 1 {
			b.Fatal(err)
		}
		dn := res.Entries[0].DN
		if err := l.Bind(dn, ldaptest.Alice.Password); err != nil {
			b.Fatal(err)
		}
		if err := l.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
			b.Fatal(err)
		}
		gres, err := l.Search(ldap.NewSearchRequest(ldaptest.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			RenderFilter(DefaultGroupFilter, "alice", dn), []string{"cn"}, nil))
		if err != nil || len(gres.Entries) != 2 {
			b.Fatal(err)
		}
	}
}
