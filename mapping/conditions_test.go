package mapping

import (
	"fmt"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/providers"
)

// canonical is a comparison form of a normalised group, for tests: two
// groups with the same form are the same group to every pattern.
func (g group) canonical() string {
	if !g.dn {
		return g.name
	}
	return fmt.Sprintf("%q", g.rdns)
}

func TestNormalizeGroup(t *testing.T) {
	cases := []struct {
		a, b string
		same bool
		dn   bool // a parses as a DN
	}{
		{"CN=Admins, OU=x", "cn=admins,ou=x", true, true},
		{"cn=admins , ou=x ", "cn=admins,ou=x", true, true},
		{"cn=a\\,b,ou=x", "cn=a\\2Cb,ou=x", true, true},
		{"cn=a\\,b,ou=x", "cn=a,b,ou=x", false, true}, // an escaped comma is not a separator
		{"cn=a+uid=b,ou=x", "UID=b+CN=a,ou=x", true, true},
		{"cn=\\ lead,ou=x", "cn=lead,ou=x", false, true}, // escaped leading space is significant
		{"cn=admins,ou=x", "cn=admins,ou=y", false, true},
		{"cn=admins,ou=x", "admins", false, true},
		{"cn=adminſ,ou=x", "cn=admins,ou=x", false, true},
		{"2.5.4.3=admins,ou=x", "2.5.4.3=ADMINS,OU=x", true, true},
		{"Domain Admins", "domain admins", true, false},
		{"DOMAIN\\Admins", "domain\\admins", true, false},
		{"developers", "developers ", false, false},
		{"cn=,ou=x", "cn=,ou=x", true, true},
		{"=x", "=x", true, false},
		{"cn=a,", "cn=a,", true, false},
		{"cn=a\\", "cn=a\\", true, false},
		{"cn=a\"b", "cn=a\"b", true, false},
		{"cn=#04024869,ou=x", "cn=hi,ou=x", true, true},     // a BER value (RFC 4514 2.4)
		{"cn=a\xff,ou=x", "cn=a\xfe,ou=x", false, false},    // not UTF-8: names, never collapsed to U+FFFD
		{"Domain Admins=x", "domain admins=x", true, false}, // not an attribute type: a name
		{`cn=a\\zz,ou=x`, `cn=a\5czz,ou=x`, true, true},     // an escaped backslash
		{`cn=a\zz,ou=x`, `cn=a\zz,ou=x`, true, false},       // \z is no RFC 4514 escape: a name
	}
	for _, c := range cases {
		ga, gb := normalizeGroup(c.a, false), normalizeGroup(c.b, false)
		if got := ga.canonical() == gb.canonical() && ga.dn == gb.dn; got != c.same {
			t.Errorf("%q vs %q: same=%v want %v (%q vs %q)", c.a, c.b, got, c.same, ga.canonical(), gb.canonical())
		}
		if ga.dn != c.dn {
			t.Errorf("%q: dn=%v want %v", c.a, ga.dn, c.dn)
		}
	}
	// Case-sensitive mode keeps value case but not attribute-type case.
	a, b := normalizeGroup("CN=Admins,OU=x", true), normalizeGroup("cn=Admins,ou=x", true)
	if a.canonical() != b.canonical() {
		t.Errorf("case-sensitive: types must still fold: %q vs %q", a.canonical(), b.canonical())
	}
	if normalizeGroup("cn=admins,ou=x", true).canonical() == a.canonical() {
		t.Error("case-sensitive: values must not fold")
	}
}

func TestGroupPattern(t *testing.T) {
	const admins = "cn=*-admins,ou=groups,dc=x"
	cases := []struct {
		pattern, group string
		cs             bool
		want           bool
	}{
		{admins, "cn=web-admins,ou=groups,dc=x", false, true},
		{admins, "CN=Web-Admins, OU=Groups, DC=X", false, true},
		{admins, "CN=Web-Admins,OU=Groups,DC=X", true, false},
		{admins, "cn=-admins,ou=groups,dc=x", false, true},
		{admins, "cn=admins,ou=groups,dc=x", false, false},
		{admins, "cn=web-admins,ou=other,dc=x", false, false},
		{admins, "cn=web-admins,ou=groups,dc=x,dc=y", false, false},
		{admins, "cn=u,ou=web-admins,ou=groups,dc=x", false, false}, // * never crosses an RDN
		{admins, "cn=a\\,ou=b-admins,ou=groups,dc=x", false, true},  // escaped comma stays inside the value
		{admins, "cn=web-adminſ,ou=groups,dc=x", false, false},
		{admins, "cn=web-admin\u212A,ou=groups,dc=x", false, false},
		{admins, "web-admins", false, false},
		{"cn=team-?,ou=g", "cn=team-é,ou=g", false, true}, // ? is one rune
		{"cn=team-?,ou=g", "cn=team-ab,ou=g", false, false},
		{"cn=a\\*b,ou=g", "cn=a*b,ou=g", false, true}, // escaped star is literal
		{"cn=a\\*b,ou=g", "cn=axb,ou=g", false, false},
		{"cn=a\\2ab,ou=g", "cn=axb,ou=g", false, false}, // hex-escaped star is literal too
		{"cn=team *,ou=g", "cn=team blue,ou=g", false, true},
		{"*-admins", "web-admins", false, true},
		{"*-admins", "Web-ADMINS", false, true},
		{"*-admins", "cn=web-admins,ou=g", false, false}, // a name pattern does not match DNs
		{"admins", "admins", false, true},
		{"admins", "adminſ", false, false},
		{"admins", "admins ", false, false},
		{"adm\\*", "adm*", false, true},
		{"adm\\*", "admx", false, false},
		{"DOMAIN\\Admins", "domain\\admins", false, true},
		{"*", "anything", false, true},
		{"*", "cn=x,ou=y", false, false},
		{"a*b*c", strings.Repeat("ab", 5000) + "c", false, true},
		{"a*b*d", strings.Repeat("ab", 5000) + "c", false, false},
		{"cn=a?b,ou=g", "cn=a\\,b,ou=g", false, true}, // ? is one character of the decoded value
		{"cn=a\\?b,ou=g", "cn=a?b,ou=g", false, true}, // escaped question mark is literal
		{"cn=a\\?b,ou=g", "cn=axb,ou=g", false, false},
		{"cn=a\\3fb,ou=g", "cn=a?b,ou=g", false, true},
		{"cn=a\\\\*,ou=g", "cn=a\\\\xyz,ou=g", false, true}, // escaped backslash, then a wildcard
		{"cn=*,ou=g", "cn=a+uid=b,ou=g", false, false},      // a wildcard stays inside one value
		{"cn=*+uid=*,ou=g", "UID=b+cn=a,ou=g", false, true},
		{"cn=*,ou=g", "cn=#04024869,ou=g", false, true},
		{"c*=x,ou=g", "cn=x,ou=g", false, false}, // a wildcard in a type: a name pattern
	}
	for _, c := range cases {
		p, err := compileGroupPattern(c.pattern, c.cs)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if got := p.match(normalizeGroup(c.group, c.cs)); got != c.want {
			t.Errorf("pattern %q group %q cs=%v: got %v want %v", c.pattern, c.group, c.cs, got, c.want)
		}
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"", "a", false}, {"*", "", true}, {"?", "", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*.example.org", "mail.example.org", true},
		{"*.example.org", "example.org", false}, {"*.example.org", "evil.org", false},
		{"a*", "a", true}, {"*a", "ba", true}, {"*a", "ab", false}, {"**", "x", true},
		{"a\\?", "a?", true}, {"a\\?", "ab", false}, {"a\\\\", "a\\", true},
	}
	for _, c := range cases {
		if got := compileNameGlob(c.p).match(c.s); got != c.want {
			t.Errorf("glob %q on %q: got %v want %v", c.p, c.s, got, c.want)
		}
	}
}

// TestConditions evaluates each condition of when: on identities.
func TestConditions(t *testing.T) {
	base := providers.Identity{
		Provider: "corp", Subject: "s1", Username: "alice",
		Email: "alice@Example.ORG", EmailVerified: true,
		Groups: []string{"developers", "CN=Web-Admins,OU=Groups,DC=example,DC=org", "ops"},
		Attributes: map[string][]string{
			"department": {"eng", "platform"},
			"level":      {"L5"},
			"empty":      {},
		},
		MFA: true,
	}
	unverified := base
	unverified.EmailVerified = false
	noMFA := base
	noMFA.MFA = false
	caseKey := base
	caseKey.Attributes = map[string][]string{"Department": {"eng"}}

	cases := []struct {
		name   string
		when   string
		id     providers.Identity
		want   bool
		reason string // substring of the trace reason
	}{
		{"empty when", `{}`, base, true, "no conditions"},
		{"provider one", `{provider: corp}`, base, true, `provider "corp" is in`},
		{"provider list", `{provider: [okta, corp]}`, base, true, ""},
		{"provider other", `{provider: okta}`, base, false, `provider "corp" is not in ["okta"]`},
		{"groups_any name", `{groups_any: [ops]}`, base, true, `group "ops" matches "ops"`},
		{"groups_any folded", `{groups_any: [DEVELOPERS]}`, base, true, ""},
		{"groups_any DN", `{groups_any: ["cn=web-admins,ou=groups,dc=example,dc=org"]}`, base, true, ""},
		{"groups_any DN glob", `{groups_any: ["cn=*-admins,ou=groups,dc=example,dc=org"]}`, base, true, ""},
		{"groups_any none", `{groups_any: [admins, sre]}`, base, false, `no group of ["developers", "CN=Web-Admins,OU=Groups,DC=example,DC=org", "ops"] matches any of ["admins", "sre"]`},
		{"groups_all ok", `{groups_all: [ops, developers]}`, base, true, ""},
		{"groups_all missing", `{groups_all: [ops, sre]}`, base, false, `matches ["sre"]`},
		{"groups_none ok", `{groups_none: [contractors]}`, base, true, ""},
		{"groups_none hit", `{groups_none: ["cn=web-*,ou=groups,dc=example,dc=org"]}`, base, false, `group "CN=Web-Admins,OU=Groups,DC=example,DC=org" matches the excluded`},
		{"equals", `{attributes: {department: {equals: platform}}}`, base, true, `a value equals "platform"`},
		{"equals is case-sensitive", `{attributes: {department: {equals: ENG}}}`, base, false, `no value of ["eng", "platform"] equals "ENG"`},
		{"claims alias", `{claims: {level: {equals: L5}}}`, base, true, ""},
		{"attribute key exact", `{attributes: {department: {exists: true}}}`, caseKey, false, "absent"},
		{"in", `{attributes: {level: {in: [L4, L5]}}}`, base, true, `value "L5" is in`},
		{"in miss", `{attributes: {level: {in: [L6]}}}`, base, false, ""},
		{"glob", `{attributes: {department: {glob: "plat*"}}}`, base, true, `matches glob "plat*"`},
		{"glob miss", `{attributes: {department: {glob: "x*"}}}`, base, false, ""},
		{"regex anchored", `{attributes: {level: {regex: "L[0-9]"}}}`, base, true, `matches regex`},
		{"regex is anchored", `{attributes: {level: {regex: "5"}}}`, base, false, ""},
		{"regex alternation anchored", `{attributes: {level: {regex: "x|L5"}}}`, base, true, ""},
		{"exists", `{attributes: {level: {exists: true}}}`, base, true, "present with 1 value"},
		{"exists empty list", `{attributes: {empty: {exists: true}}}`, base, false, "absent"},
		{"exists false", `{attributes: {missing: {exists: false}}}`, base, true, ""},
		{"exists false present", `{attributes: {level: {exists: false}}}`, base, false, ""},
		{"not", `{attributes: {department: {not: {equals: sales}}}}`, base, true, `not (no value`},
		{"not hit", `{attributes: {department: {not: {in: [eng]}}}}`, base, false, `not (value "eng" is in`},
		{"not not", `{attributes: {department: {not: {not: {equals: eng}}}}}`, base, true, ""},
		{"operators combine", `{attributes: {department: {exists: true, equals: eng, glob: "p*"}}}`, base, true, ""},
		{"operators all must hold", `{attributes: {department: {equals: eng, glob: "x*"}}}`, base, false, ""},
		{"email_domain", `{email_domain: example.org}`, base, true, `verified email domain "example.org"`},
		{"email_domain @ form", `{email_domain: "@example.org"}`, base, true, ""},
		{"email_domain glob", `{email_domain: ["*.example.org", other.org]}`, base, false, ""},
		{"email_domain unverified", `{email_domain: example.org}`, unverified, false, "is not verified"},
		{"email_domain suffix is not a match", `{email_domain: ample.org}`, base, false, ""},
		{"mfa", `{mfa: true}`, base, true, "mfa is true"},
		{"mfa missing", `{mfa: true}`, noMFA, false, "mfa is false, the rule needs true"},
		{"all must hold", `{provider: corp, groups_any: [ops], mfa: true, email_domain: other.org}`, base, false, "email_domain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustCompile(t, "rules:\n  - name: r\n    when: "+c.when+"\n    roles: [ReadOnly]\n")
			d := m.Map(c.id)
			tr := d.Rules[0]
			if tr.Matched != c.want {
				t.Fatalf("matched=%v want %v: %s", tr.Matched, c.want, tr.Reason)
			}
			if (d.Outcome == OutcomeGrant) != c.want {
				t.Fatalf("outcome %s", d.Outcome)
			}
			if !strings.Contains(tr.Reason, c.reason) {
				t.Fatalf("reason %q lacks %q", tr.Reason, c.reason)
			}
			if !c.want && !strings.HasPrefix(tr.Reason, "not matched: ") {
				t.Fatalf("reason %q", tr.Reason)
			}
		})
	}
}

func TestEmailSubdomainGlob(t *testing.T) {
	m := mustCompile(t, "rules:\n  - name: r\n    when: {email_domain: \"*.example.org\"}\n    roles: [ReadOnly]\n")
	for email, want := range map[string]bool{
		"a@mail.example.org": true, "a@MAIL.Example.org": true, "a@example.org": false,
		"a@evil.org": false, "a@x.example.org@evil.org": false, "mail.example.org": false, "@mail.example.org": false,
	} {
		d := m.Map(providers.Identity{Username: "al", Email: email, EmailVerified: true})
		if got := d.Outcome == OutcomeGrant; got != want {
			t.Errorf("%q: %v want %v (%s)", email, got, want, d.Rules[0].Reason)
		}
	}
}

func TestEmailDomainLookalike(t *testing.T) {
	m := mustCompile(t, "rules:\n  - name: r\n    when: {email_domain: korp.org}\n    roles: [ReadOnly]\n")
	for email, want := range map[string]bool{"a@KORP.org": true, "a@\u212Aorp.org": false, "a@korp.orgſ": false} {
		d := m.Map(providers.Identity{Username: "al", Email: email, EmailVerified: true})
		if got := d.Outcome == OutcomeGrant; got != want {
			t.Errorf("%q: %v want %v", email, got, want)
		}
	}
}
