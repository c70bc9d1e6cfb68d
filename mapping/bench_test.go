package mapping

import (
	"testing"

	"github.com/idbroker/idbroker/providers"
)

// benchIdentity is a directory user as an LDAP login reports one: group
// names and DNs, a few attributes.
var benchIdentity = providers.Identity{
	Provider: "corp", Subject: "uid=alice,ou=people,dc=example,dc=org", Username: "alice",
	Email: "alice@mail.example.org", EmailVerified: true, MFA: true,
	Groups: []string{
		"developers", "cn=developers,ou=groups,dc=example,dc=org",
		"web-admins", "cn=web-admins,ou=groups,dc=example,dc=org",
		"staff", "cn=staff,ou=groups,dc=example,dc=org",
		"Domain Users", "CN=Domain Users,CN=Users,DC=corp,DC=example,DC=org",
	},
	Attributes: map[string][]string{"department": {"eng"}, "employeeType": {"staff"}},
}

// BenchmarkMap is one login's mapping: groups normalised, every rule
// evaluated, templates rendered.
func BenchmarkMap(b *testing.B) {
	m := mustCompile(b, fuzzRules)
	b.ReportAllocs()
	for b.Loop() {
		if d := m.Map(benchIdentity); len(d.Grants) == 0 {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkCompile compiles the rules (at start and on every reload).
func BenchmarkCompile(b *testing.B) {
	cfg, err := ParseConfig([]byte(fuzzRules))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(cfg, testEnv()); err != nil {
			b.Fatal(err)
		}
	}
}
