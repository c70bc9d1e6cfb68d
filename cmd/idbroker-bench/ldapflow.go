package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// The bench directory is ldaptest's seeded slapd; its user alice is in two
// flat groups (developers by member, posixdev by memberUid).
const (
	ldapProviderName = "corp"
	ldapUserFilter   = "(&(objectClass=inetOrgPerson)(uid={username}))"
	ldapGroupFilter  = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
	ldapPoolSize     = 8 // ldapauth's default max_conns
)

// ldapDir is the slapd the ldap flow runs against.
type ldapDir struct {
	URL    string // ldaps://127.0.0.1:PORT
	CAFile string
}

// startLDAP starts ldaptest's seeded slapd; the caller closes it.
func startLDAP() (*ldaptest.Server, error) {
	s, err := ldaptest.New()
	if err != nil {
		return nil, fmt.Errorf("slapd not available: %w", err)
	}
	return s, nil
}

func ldapIdentityBody() string {
	return "Action=AssumeRoleWithLDAPIdentity&Version=" + stsVersion +
		"&LDAPUsername=" + url.QueryEscape(ldaptest.Alice.UID) +
		"&LDAPPassword=" + url.QueryEscape(ldaptest.Alice.Password) +
		"&RoleArn=" + url.QueryEscape(benchRoleARN)
}

// prepareLDAP is the ldap flow: AssumeRoleWithLDAPIdentity as alice.
func prepareLDAP(ctx context.Context, b *bench, t target, _ int) (*prepared, string, error) {
	if b.ldap == nil {
		return nil, b.ldapSkip, nil
	}
	if t.kind == "idbroker" {
		present, err := probeAction(ctx, t.addr, "AssumeRoleWithLDAPIdentity")
		if err != nil {
			return nil, "", err
		}
		if !present {
			return nil, "AssumeRoleWithLDAPIdentity is not implemented by the server (probe answered InvalidAction)", nil
		}
	}
	req := rawPost(t.addr, "/", "application/x-www-form-urlencoded", ldapIdentityBody())
	return &prepared{
		newGen: func(int) genFunc { return func(buf []byte, _ int) []byte { return append(buf, req...) } },
		check:  okWhen("<SessionToken>"),
	}, "", nil
}

// ldapFloor is the raw go-ldap loop behind HTTP: on a pooled ldaps
// connection bound as the service account, search the user, bind as the
// user, bind back, search the groups; then mint.
type ldapFloor struct {
	pool chan *ldap.Conn
	dial func() (*ldap.Conn, error)
}

func newLDAPFloor(dir ldapDir) (*ldapFloor, error) {
	ca, err := os.ReadFile(dir.CAFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		return nil, errors.New("ldap floor: no certificate in the CA file")
	}
	f := &ldapFloor{pool: make(chan *ldap.Conn, ldapPoolSize)}
	f.dial = func() (*ldap.Conn, error) {
		l, err := ldap.DialURL(dir.URL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
		if err != nil {
			return nil, err
		}
		l.SetTimeout(5 * time.Second)
		if err := l.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
			l.Close()
			return nil, err
		}
		return l, nil
	}
	for range ldapPoolSize {
		f.pool <- nil // dialled on first use
	}
	return f, nil
}

// login returns alice's groups, or an error for bad credentials.
func (f *ldapFloor) login(username, password string) (groups []string, err error) {
	l := <-f.pool
	defer func() {
		if err != nil && l != nil {
			l.Close()
			l = nil
		}
		f.pool <- l
	}()
	if l == nil {
		if l, err = f.dial(); err != nil {
			return nil, err
		}
	}
	res, err := l.Search(ldap.NewSearchRequest(ldaptest.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 5, false,
		render(ldapUserFilter, username, ""), []string{"uid", "mail", "displayName", "cn", "entryUUID"}, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, errFloorToken
	}
	dn := res.Entries[0].DN
	if err := l.Bind(dn, password); err != nil {
		return nil, err
	}
	if err := l.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
		return nil, err
	}
	gres, err := l.Search(ldap.NewSearchRequest(ldaptest.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 5, false,
		render(ldapGroupFilter, username, dn), []string{"cn"}, nil))
	if err != nil {
		return nil, err
	}
	for _, e := range gres.Entries {
		groups = append(groups, e.GetAttributeValue("cn"))
	}
	return groups, nil
}

func render(tmpl, username, dn string) string {
	out := []byte{}
	for i := 0; i < len(tmpl); i++ {
		switch {
		case len(tmpl)-i >= 10 && tmpl[i:i+10] == "{username}":
			out = append(out, ldap.EscapeFilter(username)...)
			i += 9
		case len(tmpl)-i >= 4 && tmpl[i:i+4] == "{dn}":
			out = append(out, ldap.EscapeFilter(dn)...)
			i += 3
		default:
			out = append(out, tmpl[i])
		}
	}
	return string(out)
}

// serveLDAP is the floor's AssumeRoleWithLDAPIdentity.
func (f *floor) serveLDAP(w http.ResponseWriter, form url.Values) {
	if f.ldap == nil {
		stsError(w, http.StatusBadRequest, "InvalidAction")
		return
	}
	groups, err := f.ldap.login(form.Get("LDAPUsername"), form.Get("LDAPPassword"))
	if err != nil || len(groups) == 0 {
		stsError(w, http.StatusForbidden, "AccessDenied")
		return
	}
	f.writeCredentials(w, "AssumeRoleWithLDAPIdentity", form.Get("LDAPUsername"))
}
