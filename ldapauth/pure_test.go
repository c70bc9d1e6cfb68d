package ldapauth

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeDN(t *testing.T) {
	tests := []struct {
		in      string
		fold    bool
		want    string
		wantErr bool
	}{
		{"CN=Admins, OU=Groups ,DC=Example,DC=org", true, "cn=admins,ou=groups,dc=example,dc=org", false},
		{"CN=Admins,OU=Groups,DC=Example,DC=org", false, "cn=Admins,ou=Groups,dc=Example,dc=org", false},
		{`cn=a\,b,dc=x`, true, `cn=a\,b,dc=x`, false},
		{`cn=a\2cb,dc=x`, true, `cn=a\,b,dc=x`, false},
		{`cn=Jürgen,dc=x`, true, `cn=j\c3\bcrgen,dc=x`, false},
		{`cn=ÜBER,dc=x`, true, `cn=\c3\9cber,dc=x`, false},  // non-ASCII kept as is
		{"uid=a+cn=B,dc=x", true, "cn=b+uid=a,dc=x", false}, // multi-valued RDN sorted
		{"not a dn", true, "", true},
		{"cn=a,,dc=x", true, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeDN(tc.in, tc.fold)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if got != tc.want {
				t.Errorf("NormalizeDN(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestFoldASCIIKeepsLookalikesApart(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Admins", "admins"},
		{"adminſ", "adminſ"},           // U+017F LATIN SMALL LETTER LONG S
		{"ADMIN\u212a", "admin\u212a"}, // KELVIN SIGN stays
		{"ÄÖÜ", "ÄÖÜ"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := FoldASCII(tc.in); got != tc.want {
			t.Errorf("FoldASCII(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if FoldASCII("adminſ") == FoldASCII("admins") {
		t.Error("adminſ folds onto admins")
	}
}

func TestRenderFilter(t *testing.T) {
	tests := []struct{ tmpl, user, dn, want string }{
		{"(uid={username})", "alice", "", "(uid=alice)"},
		{"(uid={username})", "*", "", `(uid=\2a)`},
		{"(uid={username})", ")(uid=*", "", `(uid=\29\28uid=\2a)`},
		{"(uid={username})", `\2a`, "", `(uid=\5c2a)`},
		{"(uid={username})", "a\x00", "", `(uid=a\00)`},
		{"(uid={username})", "jürgen", "", `(uid=j\c3\bcrgen)`},
		{"(uid={username})", "{dn}", "cn=x", `(uid={dn})`}, // no second substitution
		{"(member={dn})", "", `cn=a\,b (x)*,dc=x`, `(member=cn=a\5c,b \28x\29\2a,dc=x)`},
		{InChainFilter, "", "cn=u,dc=x", "(member:1.2.840.113556.1.4.1941:=cn=u,dc=x)"},
		{DefaultGroupFilter, "bob*", "uid=bob,dc=x", `(|(member=uid=bob,dc=x)(uniqueMember=uid=bob,dc=x)(memberUid=bob\2a))`},
	}
	for _, tc := range tests {
		if got := RenderFilter(tc.tmpl, tc.user, tc.dn); got != tc.want {
			t.Errorf("RenderFilter(%q, %q, %q) = %q, want %q", tc.tmpl, tc.user, tc.dn, got, tc.want)
		}
	}
}

func TestValidatePlainLoopback(t *testing.T) {
	tests := []struct {
		url      string
		startTLS bool
		ok       bool
	}{
		{"ldap://127.0.0.1:389", false, true},
		{"ldap://127.5.6.7", false, true},
		{"ldap://[::1]:389", false, true},
		{"ldap://localhost", false, true},
		{"ldap://LOCALHOST:1389", false, true},
		{"ldap://10.0.0.1", false, false},
		{"ldap://ldap.example.org", false, false},
		{"ldap://127.0.0.1.evil.example", false, false},
		{"ldap://ldap.example.org", true, true},
		{"ldaps://ldap.example.org", false, true},
		{"ldap.example.org:636", false, true}, // no scheme = ldaps
	}
	for _, tc := range tests {
		errs := ValidatePlainLoopback([]string{tc.url}, tc.startTLS)
		if (len(errs) == 0) != tc.ok {
			t.Errorf("%s (start_tls=%v): errs %v, want ok=%v", tc.url, tc.startTLS, errs, tc.ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{URLs: []string{"ldaps://a"}, BindDN: "cn=r,dc=x", BindPassword: "p", UserSearch: UserSearch{BaseDN: "dc=x"}}
	tests := []struct {
		name   string
		mod    func(*Config)
		fields []string
	}{
		{"good", func(c *Config) {}, nil},
		{"no urls", func(c *Config) { c.URLs = nil }, []string{"url"}},
		{"two urls one bad", func(c *Config) { c.URLs = []string{"ldaps://a", "ftp://b"} }, []string{"urls[1]"}},
		{"plain", func(c *Config) { c.URLs = []string{"ldap://a"} }, []string{"url"}},
		{"both tls modes", func(c *Config) { c.URLs = []string{"ldap://a"}; c.StartTLS = true; c.InsecureNoTLS = true }, []string{"insecure_no_tls"}},
		{"bind dn not a DN", func(c *Config) { c.BindDN = "reader" }, []string{"bind_dn"}},
		{"in_chain without base", func(c *Config) { c.GroupSearch.InChain = true }, []string{"group_search.in_chain"}},
		{"nested filter with username", func(c *Config) {
			c.GroupSearch = GroupSearch{BaseDN: "ou=g", Nested: true, NestedFilter: "(memberUid={username})"}
		}, []string{"group_search.nested_filter"}},
		{"user filter with dn", func(c *Config) { c.UserSearch.Filter = "(&(uid={username})(x={dn}))" }, []string{"user_search.filter"}},
		{"max depth", func(c *Config) { c.GroupSearch = GroupSearch{BaseDN: "ou=g", MaxDepth: 1000} }, []string{"group_search.max_depth"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			errs := c.Validate()
			if len(errs) != len(tc.fields) {
				t.Fatalf("errors %v, want fields %v", errs, tc.fields)
			}
			for i, err := range errs {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.fields[i] || !errors.Is(err, ErrConfiguration) {
					t.Errorf("error %d = %v, want field %q", i, err, tc.fields[i])
				}
			}
			_, err := New(c)
			if (err != nil) != (len(tc.fields) > 0) {
				t.Errorf("New: %v", err)
			}
		})
	}
}

func TestFormatGUID(t *testing.T) {
	// AD objectGUID bytes for {01020304-0506-0708-090a-0b0c0d0e0f10}.
	b := []byte{4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16}
	if got := formatGUID(b); got != "01020304-0506-0708-090a-0b0c0d0e0f10" {
		t.Errorf("got %s", got)
	}
}

func TestValidUsername(t *testing.T) {
	for _, tc := range []struct {
		u  string
		ok bool
	}{
		{"alice", true}, {"jürgen", true}, {`o*(x)\y,z`, true}, {strings.Repeat("a", 256), true},
		{strings.Repeat("a", 257), false}, {"", false}, {"a\x00", false}, {"a\nb", false}, {"a\x7f", false}, {"\xff", false},
	} {
		if got := ValidUsername(tc.u); got != tc.ok {
			t.Errorf("ValidUsername(%q) = %v", tc.u, got)
		}
	}
}

func TestFilterAttributes(t *testing.T) {
	tests := []struct {
		filter string
		want   []string
	}{
		{"(uid=alice)", []string{"uid"}},
		{"(&(objectClass=inetOrgPerson)(uid=a*)(!(mail=*))(cn~=x)(uidNumber>=5)(gidNumber<=9))", []string{"objectClass", "uid", "mail", "cn", "uidNumber", "gidNumber"}},
		{"(|(member=cn=a,dc=x)(uniqueMember=cn=a,dc=x)(memberUid=a)(MEMBER=b))", []string{"member", "uniqueMember", "memberUid"}},
		{"(member:1.2.840.113556.1.4.1941:=cn=a,dc=x)", []string{"member"}},
		{"(:dn:2.5.13.5:=x)", nil},
		{"(2.5.4.3=x)", nil},
		{"(userCertificate;binary=*)", []string{"userCertificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			got, err := filterAttributes(tc.filter)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("filterAttributes(%q) = %q, %v; want %q", tc.filter, got, err, tc.want)
			}
		})
	}
	if _, err := filterAttributes("(uid=a"); err == nil {
		t.Error("unbalanced filter accepted")
	}
}

func TestParseAttributeTypeNames(t *testing.T) {
	got := parseAttributeTypeNames([]string{
		"( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s)' SUP name )",
		"( 0.9.2342.19200300.100.1.1 NAME 'uid' EQUALITY caseIgnoreMatch )",
		"( 1.2.3 DESC 'no name' )",
	})
	for _, want := range []string{"cn", "commonname", "uid"} {
		if !got[want] {
			t.Errorf("%s missing from %v", want, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("got %v", got)
	}
}
