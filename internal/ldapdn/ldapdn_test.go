package ldapdn

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	lower := strings.ToLower
	tests := []struct {
		in   string
		fold func(string) string
		want string
	}{
		{"CN=Admins, OU=Groups ,DC=Example,DC=org", lower, "cn=admins,ou=groups,dc=example,dc=org"},
		{"CN=Admins,OU=Groups,DC=Example,DC=org", nil, "cn=Admins,ou=Groups,dc=Example,dc=org"},
		{`cn=a\,b,dc=x`, nil, `cn=a\,b,dc=x`},
		{`cn=a\2cb,dc=x`, nil, `cn=a\,b,dc=x`},
		{`cn=a\2Cb;dc=x`, nil, `cn=a\,b,dc=x`}, // ; separates RDNs too
		{`cn=Jürgen,dc=x`, nil, `cn=J\c3\bcrgen,dc=x`},
		{`cn=\ lead,dc=x`, nil, `cn=\ lead,dc=x`}, // an escaped leading space is significant
		{`cn=trail\ ,dc=x`, nil, `cn=trail\ ,dc=x`},
		{`cn=#04024869,dc=x`, nil, `cn=Hi,dc=x`},    // a BER value
		{"uid=a+cn=B,dc=x", nil, "cn=B+uid=a,dc=x"}, // multi-valued RDN sorted
		{"2.5.4.3=x,dc=y", nil, "2.5.4.3=x,dc=y"},
	}
	for _, tc := range tests {
		got, err := Normalize(tc.in, tc.fold)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{
		"", "   ", "not a dn", "Domain Admins=x", "=x", "cn=a,", "cn=a,,dc=x", "cn=a+", `cn=a\`,
		`cn=a"b`, "cn=a<b", "cn=a\x00b", "cn=a\xffb", "1.=x", "1..2=x", "-cn=x", "c*=x", `cn=a\zz`,
		"cn=#zz",
	} {
		if dn, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", s, dn)
		} else if !errors.Is(err, ErrNotDN) {
			t.Errorf("Parse(%q): %v does not wrap ErrNotDN", s, err)
		}
	}
	for _, s := range []string{"cn=,ou=x", "a=b", "cn-x=1;x=2", "x=a=b", "cn=a*b?"} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
}

func TestValidType(t *testing.T) {
	for typ, want := range map[string]bool{
		"cn": true, "CN": true, "userPassword": true, "x-y2": true, "2.5.4.3": true, "0": true,
		"": false, "-x": false, "2x": false, "2.": false, ".2": false, "2..5": false, "c n": false, "cé": false,
	} {
		if got := ValidType(typ); got != want {
			t.Errorf("ValidType(%q) = %v, want %v", typ, got, want)
		}
	}
}

// FuzzNormalize checks that the canonical form is one: normalising it again
// changes nothing, and Parse never panics on hostile input.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"cn=Admins, OU=x", `cn=a\,b,ou=x`, "developers", "cn=a+uid=b,dc=x", `cn=#x\ ,o=y`, `cn=\41b`, "cn=#04024869"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, fold := range []func(string) string{nil, strings.ToLower} {
			n, err := Normalize(s, fold)
			if err != nil {
				continue
			}
			again, err := Normalize(n, fold)
			if err != nil || again != n {
				t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, n, again, err)
			}
		}
	})
}
