package mapping

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/ldapdn"
	"github.com/idbroker/idbroker/providers"
)

const fuzzRules = `
rules:
  - name: admins
    priority: 100
    when:
      provider: corp
      groups_any: ["cn=*-admins,ou=groups,dc=example,dc=org"]
      groups_none: ["cn=contractors,ou=groups,dc=example,dc=org", contractors]
      attributes: {employeeType: {not: {equals: contractor}}}
    roles: [Admin]
    duration: 1h
    session_tags: {department: '{{ index .Attributes "department" }}', group: "{{ .GroupName }}"}
    transitive_tag_keys: [department]
    source_identity: "{{ .Username }}"
    continue: true
  - name: templated
    when: {groups_any: ["*dev*"], attributes: {department: {regex: "[a-z]+.*"}}, email_domain: "*.example.org"}
    roles: [Developer]
    session_name: '{{ .Username }}+{{ index .Attributes "department" }}'
    session_tags: {mail: "{{ .Email }}", g: "{{ .Group }}", all: '{{ join "," .Groups }}'}
    continue: true
  - name: everyone
    when: {mfa: true}
    roles: [ReadOnly]
on_ambiguous: choose
on_ambiguous_by_provider: {okta: first, google: deny}
`

// FuzzMap evaluates hostile identities against a fixed rule set and checks
// that nothing panics and that every grant respects the AWS limits and the
// rules' promises. Seeds live in testdata/fuzz/FuzzMap.
func FuzzMap(f *testing.F) {
	m := mustCompile(f, fuzzRules)
	f.Add("corp", "alice", "cn=web-admins,ou=groups,dc=example,dc=org", "developers", "eng", "staff", "a@x.example.org", true, true)
	f.Fuzz(func(t *testing.T, provider, username, g1, g2, dept, etype, email string, verified, mfa bool) {
		id := providers.Identity{
			Provider: provider, Subject: "s", Username: username, Email: email, EmailVerified: verified,
			Groups:     []string{g1, g2},
			Attributes: map[string][]string{"department": {dept}, "employeeType": {etype}},
			MFA:        mfa,
		}
		d := m.Map(id)
		switch d.Outcome {
		case OutcomeGrant:
			if len(d.Grants) != 1 {
				t.Fatalf("grant with %d grants", len(d.Grants))
			}
		case OutcomeChoose:
			if len(d.Grants) < 2 {
				t.Fatalf("choose with %d grants", len(d.Grants))
			}
		case OutcomeDeny:
			if len(d.Grants) != 0 {
				t.Fatalf("deny with %d grants", len(d.Grants))
			}
		default:
			t.Fatalf("outcome %q", d.Outcome)
		}
		if len(d.Rules) != 3 {
			t.Fatalf("%d rule traces", len(d.Rules))
		}
		for _, g := range d.Grants {
			if err := ValidateSessionName(g.SessionName); err != nil {
				t.Fatalf("grant with bad session name: %v", err)
			}
			if err := ValidateTags(g.SessionTags, g.TransitiveTagKeys); err != nil {
				t.Fatalf("grant with bad tags: %v", err)
			}
			if g.SourceIdentity != "" {
				if err := ValidateSourceIdentity(g.SourceIdentity); err != nil {
					t.Fatalf("grant with bad source identity: %v", err)
				}
			}
			if g.MaxDuration < awsspec.MinSessionDuration || g.MaxDuration > 4*time.Hour {
				t.Fatalf("duration %s", g.MaxDuration)
			}
			if g.RoleARN == arn("Admin") {
				if provider != "corp" || etype == "contractor" || g.MaxDuration > time.Hour {
					t.Fatalf("Admin for provider %q etype %q dur %s", provider, etype, g.MaxDuration)
				}
				for _, grp := range id.Groups {
					if dn, _ := ldapdn.Normalize(grp, casefold.Unicode); casefold.Unicode(grp) == "contractors" || dn == "cn=contractors,ou=groups,dc=example,dc=org" {
						t.Fatalf("Admin for a contractor group %q", grp)
					}
				}
			}
			if g.RoleARN == arn("Developer") && (!verified || !strings.Contains(strings.ToLower(email), ".example.org")) {
				t.Fatalf("Developer without a verified example.org email: %q %v", email, verified)
			}
		}
		e := d.Explanation()
		if _, err := json.Marshal(e); err != nil {
			t.Fatal(err)
		}
		for i, c := range []byte(e.Text()) {
			if c < 0x20 && c != '\n' || c == 0x7f {
				t.Fatalf("raw control byte %#x at %d in the text explanation", c, i)
			}
		}
	})
}

// FuzzGroupPattern checks that a group written as a pattern (without
// wildcard or escape characters) matches itself, and that nothing panics.
// (The canonical DN form is fuzzed in internal/ldapdn.)
func FuzzGroupPattern(f *testing.F) {
	for _, s := range []string{"cn=Admins, OU=x", "cn=a\\,b,ou=x", "developers", "cn=a+uid=b,dc=x", "cn=#x\\ ,o=y", "cn=\\41b"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, cs bool) {
		g := normalizeGroup(s, cs)
		p, err := compileGroupPattern(s, cs)
		if err != nil {
			return
		}
		if !strings.ContainsAny(s, "*?\\") && !p.match(g) {
			t.Fatalf("%q does not match itself (group %q)", s, g.canonical())
		}
	})
}
