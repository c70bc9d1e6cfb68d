package ldap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers"
)

var srv *ldaptest.Server

func TestMain(m *testing.M) { os.Exit(ldaptest.RunMain(m, &srv)) }

func decode(t *testing.T, doc string) Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c
}

// blockYAML is the provider block the README shows, pointed at the harness.
func blockYAML(s *ldaptest.Server) string {
	return `
url: ` + s.URL + `
start_tls: true
ca_pem: |
` + indent(string(s.CAPEM), "  ") + `
bind_dn: ` + ldaptest.BindDN + `
bind_password: ` + ldaptest.BindPassword + `
user_search:
  base_dn: ` + ldaptest.PeopleDN + `
  filter: "(&(objectClass=inetOrgPerson)(uid={username}))"
  attributes: [uidNumber]
group_search:
  base_dn: ` + ldaptest.GroupsDN + `
  filter: "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
  name_attribute: cn
  nested: true
  max_depth: 5
request_timeout: 5s
login_timeout: 10s
`
}

func indent(s, pfx string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pfx + lines[i]
	}
	return strings.Join(lines, "\n")
}

func TestLogin(t *testing.T) {
	s := ldaptest.Get(t, srv)
	cfg := decode(t, blockYAML(s))
	var logs bytes.Buffer
	p, err := New("corp", cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	ctx := context.Background()
	id, err := p.Login(ctx, "bob", ldaptest.Bob.Password)
	if err != nil {
		t.Fatal(err)
	}
	if id.Provider != "corp" || id.Username != "bob" || id.Email != ldaptest.Bob.Mail || id.DisplayName != ldaptest.Bob.CN {
		t.Errorf("identity = %+v", id)
	}
	if len(id.Subject) != 36 {
		t.Errorf("subject %q is not an entryUUID", id.Subject)
	}
	wantGroups := []string{"team-a", "dept-x", "org-all",
		"cn=team-a,ou=groups,dc=example,dc=org", "cn=dept-x,ou=groups,dc=example,dc=org", "cn=org-all,ou=groups,dc=example,dc=org"}
	for _, g := range wantGroups {
		if !slices.Contains(id.Groups, g) {
			t.Errorf("group %q missing from %q", g, id.Groups)
		}
	}
	if len(id.Groups) != len(wantGroups) {
		t.Errorf("groups = %q", id.Groups)
	}
	if id.Attributes["uidNumber"] == nil || id.Attributes["dn"][0] != "uid=bob,ou=people,dc=example,dc=org" {
		t.Errorf("attributes = %v", id.Attributes)
	}
	// Stable: same subject when typed in another case.
	id2, err := p.Login(ctx, "BOB", ldaptest.Bob.Password)
	if err != nil || id2.Subject != id.Subject || id2.Username != "bob" {
		t.Errorf("BOB: %v %+v", err, id2)
	}

	for _, tc := range []struct {
		name, user, pass string
		want             error
	}{
		{"wildcard", "*", ldaptest.Bob.Password, providers.ErrInvalidCredentials},
		{"injection", ")(uid=*", ldaptest.Bob.Password, providers.ErrInvalidCredentials},
		{"or injection", "admin)(|(uid=*", ldaptest.Admin.Password, providers.ErrInvalidCredentials},
		{"NUL", "bob\x00", ldaptest.Bob.Password, providers.ErrInvalidCredentials},
		{"300 bytes", strings.Repeat("b", 300), ldaptest.Bob.Password, providers.ErrInvalidCredentials},
		{"empty password", "bob", "", providers.ErrInvalidCredentials},
		{"wrong password", "bob", "nope-CANARY", providers.ErrInvalidCredentials},
		{"unknown user", "nobody", "nope-CANARY", providers.ErrInvalidCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := p.Login(ctx, tc.user, tc.pass)
			if !errors.Is(err, tc.want) || id.Subject != "" || id.Groups != nil {
				t.Fatalf("Login = %+v, %v; want %v", id, err, tc.want)
			}
		})
	}
	if strings.Contains(logs.String(), "CANARY") {
		t.Errorf("secret in logs: %s", logs.String())
	}
}

func TestLoginCaseFoldOffAndDNSubject(t *testing.T) {
	s := ldaptest.Get(t, srv)
	cfg := decode(t, blockYAML(s)+"case_fold: false\n")
	p, err := New("corp", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	id, err := p.Login(context.Background(), ldaptest.Special.UID, ldaptest.Special.Password)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(id.Groups, ldaptest.GroupSpecial) {
		t.Errorf("case-preserved group missing: %q", id.Groups)
	}
}

func TestUnavailable(t *testing.T) {
	cfg := decode(t, `
url: ldap://127.0.0.1:1
insecure_no_tls: true
bind_dn: cn=reader,dc=example,dc=org
bind_password: x
user_search: {base_dn: "dc=example,dc=org"}
dial_timeout: 300ms
`)
	p, err := New("down", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	_, err = p.Login(context.Background(), "alice", "pw")
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestValidate(t *testing.T) {
	base := `
bind_dn: cn=reader,dc=example,dc=org
bind_password: x
user_search: {base_dn: "dc=example,dc=org"}
`
	tests := []struct {
		name, doc string
		wantKeys  []string // each must start some error
	}{
		{"ldaps ok", "url: ldaps://ldap.example.org\n" + base, nil},
		{"starttls ok", "url: ldap://ldap.example.org\nstart_tls: true\n" + base, nil},
		{"list of urls ok", "url: [ldaps://a.example.org, ldaps://b.example.org]\n" + base, nil},
		{"urls ok", "urls: [ldaps://a.example.org]\n" + base, nil},
		{"plain loopback ok", "url: ldap://127.0.0.1:389\ninsecure_no_tls: true\n" + base, nil},
		{"plain localhost ok", "url: ldap://localhost:389\ninsecure_no_tls: true\n" + base, nil},
		{"plain without flag", "url: ldap://127.0.0.1:389\n" + base, []string{"url"}},
		{"plain remote", "url: ldap://ldap.example.org\ninsecure_no_tls: true\n" + base, []string{"insecure_no_tls"}},
		{"no url", base, []string{"url"}},
		{"url and urls", "url: ldaps://a\nurls: [ldaps://b]\n" + base, []string{"urls"}},
		{"bad scheme", "url: http://a\n" + base, []string{"url"}},
		{"ldaps with starttls", "url: ldaps://a\nstart_tls: true\n" + base, []string{"start_tls"}},
		{"no bind dn", "url: ldaps://a\nuser_search: {base_dn: \"dc=x\"}\n", []string{"bind_dn"}},
		{"anonymous ok", "url: ldaps://a\nanonymous_search: true\nuser_search: {base_dn: \"dc=x\"}\n", nil},
		{"bind dn without password", "url: ldaps://a\nbind_dn: cn=r,dc=x\nuser_search: {base_dn: \"dc=x\"}\n", []string{"bind_password"}},
		{"no user base", "url: ldaps://a\nbind_dn: cn=r,dc=x\nbind_password: p\n", []string{"user_search.base_dn"}},
		{"filter without placeholder", "url: ldaps://a\n" + strings.Replace(base, `user_search: {base_dn: "dc=example,dc=org"}`, `user_search: {base_dn: "dc=x", filter: "(uid=bob)"}`, 1), []string{"user_search.filter"}},
		{"bad filter", "url: ldaps://a\n" + strings.Replace(base, `user_search: {base_dn: "dc=example,dc=org"}`, `user_search: {base_dn: "dc=x", filter: "(uid={username}"}`, 1), []string{"user_search.filter"}},
		{"nested without base", "url: ldaps://a\ngroup_search: {nested: true}\n" + base, []string{"group_search.nested"}},
		{"bad group filter", "url: ldaps://a\ngroup_search: {base_dn: \"ou=g\", filter: \"(member={dn}\"}\n" + base, []string{"group_search.filter"}},
		{"missing ca file", "url: ldaps://a\nca_file: /nonexistent/ca.pem\n" + base, []string{"ca_file"}},
		{"bad ca pem", "url: ldaps://a\nca_pem: nonsense\n" + base, []string{"ca_pem"}},
		{"cert without key", "url: ldaps://a\nclient_cert_file: /x.pem\n" + base, []string{"client_cert_file"}},
		{"several at once", "url: ldap://10.0.0.1\ninsecure_no_tls: true\nuser_search: {filter: \"(uid=x)\"}\n",
			[]string{"insecure_no_tls", "bind_dn", "user_search.base_dn", "user_search.filter"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := decode(t, tc.doc).Validate()
			if len(tc.wantKeys) == 0 && len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if len(tc.wantKeys) > 0 && len(errs) == 0 {
				t.Fatalf("no error, want %v", tc.wantKeys)
			}
			for _, k := range tc.wantKeys {
				if !slices.ContainsFunc(errs, func(e error) bool { return strings.HasPrefix(e.Error(), k+":") }) {
					t.Errorf("no error for key %q in %v", k, errs)
				}
			}
			_, err := New("x", decode(t, tc.doc), nil)
			if (err != nil) != (len(tc.wantKeys) > 0) {
				t.Errorf("New err = %v", err)
			}
			if err != nil && !errors.Is(err, providers.ErrConfiguration) {
				t.Errorf("New err %v does not wrap ErrConfiguration", err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, doc := range []string{
		"request_timeout: 5\n",       // not a duration string
		"request_timeout: fast\n",    // not a duration
		"request_timeout: -1s\n",     // negative
		"url: {a: b}\n",              // not a string or list
		"user_search: {basedn: x}\n", // unknown key
		"bind_pasword: x\n",          // typo
	} {
		var c Config
		dec := yaml.NewDecoder(strings.NewReader(doc))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err == nil {
			t.Errorf("%q decoded without error", doc)
		}
	}
}
