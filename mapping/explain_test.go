package mapping

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/providers"
)

var update = flag.Bool("update", false, "rewrite mapping/testdata/*.golden")

func loadFile(t *testing.T, name string) Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return loadConfig(t, string(b))
}

// TestDoneWhen is the acceptance: the YAML in testdata/admins.yaml
// says it, its tests: pass, and the explanation shows why.
func TestDoneWhen(t *testing.T) {
	cfg := loadFile(t, "admins.yaml")
	m, err := Compile(cfg, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tests) < 8 {
		t.Fatalf("want the 8 tests of admins.yaml, got %d", len(cfg.Tests))
	}
	res := m.RunTests(cfg.Tests)
	out, ok := FormatTestResults(res)
	if !ok {
		t.Fatalf("config tests failed:\n%s", out)
	}
	// Independently of tests:, check the properties on a few identities.
	alice := providers.Identity{Provider: "corp", Username: "alice",
		Groups:     []string{"cn=app-admins,ou=groups,dc=example,dc=org"},
		Attributes: map[string][]string{"departmentNumber": {"finance"}}}
	d := m.Map(alice)
	if d.Outcome != OutcomeGrant || len(d.Grants) != 1 {
		t.Fatalf("alice: %s %v", d.Outcome, grantARNs(d))
	}
	g := d.Grants[0]
	if g.RoleARN != arn("Admin") || g.MaxDuration.Hours() != 1 || g.SessionTags["department"] != "finance" ||
		len(g.TransitiveTagKeys) != 1 || g.SourceIdentity != "alice" {
		t.Fatalf("alice grant: %+v", g)
	}
	for _, contractor := range []providers.Identity{
		{Provider: "corp", Username: "c1", Groups: []string{"cn=app-admins,ou=groups,dc=example,dc=org", "cn=Contractors,ou=Groups,dc=example,dc=org"}},
		{Provider: "corp", Username: "c2", Groups: []string{"cn=app-admins,ou=groups,dc=example,dc=org", "contractors"}},
		{Provider: "corp", Username: "c3", Groups: []string{"cn=app-admins,ou=groups,dc=example,dc=org"}, Attributes: map[string][]string{"employeeType": {"staff", "Contractor"}}},
	} {
		d := m.Map(contractor)
		for _, g := range d.Grants {
			if g.RoleARN == arn("Admin") {
				t.Errorf("%s got Admin", contractor.Username)
			}
		}
	}
	// A test that expects the wrong thing must fail, naming what differs.
	bad := cfg.Tests[0]
	bad.Expect.Decision = OutcomeDeny
	bad.Expect.Roles = []string{"Developer"}
	res = m.RunTests([]Test{bad})
	if res[0].Passed || len(res[0].Failures) != 2 ||
		!strings.Contains(res[0].Failures[0], "want deny, got grant") ||
		!strings.Contains(res[0].Failures[1], "Developer") {
		t.Fatalf("failing test not reported: %+v", res[0].Failures)
	}
	if out, ok := FormatTestResults(res); ok || !strings.Contains(out, "FAIL ") || !strings.Contains(out, "MATCHED") {
		t.Fatalf("FormatTestResults: ok=%v\n%s", ok, out)
	}
}

// TestExplainGolden renders explanations (JSON and text) for the identities
// below against testdata/admins.yaml and compares them with
// testdata/<name>.golden. Run with -update to rewrite them.
func TestExplainGolden(t *testing.T) {
	m, err := Compile(loadFile(t, "admins.yaml"), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		id   string // providers.Identity JSON, as the explain API receives it
	}{
		{"explain_admin", `{"provider":"corp","subject":"u1","username":"alice","email_verified":false,
			"groups":["cn=web-admins,ou=groups,dc=example,dc=org"],"attributes":{"departmentNumber":["eng"]},"mfa":true}`},
		{"explain_contractor", `{"provider":"corp","subject":"u2","username":"carol","email_verified":false,
			"groups":["cn=web-admins,ou=groups,dc=example,dc=org","cn=contractors,ou=groups,dc=example,dc=org","developers"],
			"attributes":{"employeeType":["contractor"]},"mfa":false}`},
		{"explain_choose", `{"provider":"corp","subject":"u3","username":"bob","email_verified":false,
			"groups":["developers","cn=net-admins,ou=groups,dc=example,dc=org"],"attributes":{"departmentNumber":["net"]},"mfa":false}`},
		{"explain_nomatch", `{"provider":"google","subject":"u4","username":"eve","email_verified":false,
			"groups":["cn=web-adminſ,ou=groups,dc=example,dc=org","{{ .Username }}"],"mfa":false}`},
		{"explain_bad_tag", `{"provider":"corp","subject":"u5","username":"zed","email_verified":false,
			"groups":["cn=web-admins,ou=groups,dc=example,dc=org"],"attributes":{"departmentNumber":["eng\u001b[31m;rm -rf"]},"mfa":false}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var id providers.Identity
			if err := json.Unmarshal([]byte(c.id), &id); err != nil {
				t.Fatal(err)
			}
			e := m.Explain(id)
			js, err := json.MarshalIndent(e, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got := string(js) + "\n\n" + e.Text()
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./mapping -run TestExplainGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("explanation differs from %s (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

// TestExplainJSONShape checks the field names the API promises.
func TestExplainJSONShape(t *testing.T) {
	m := mustCompile(t, `
rules:
  - name: devs
    when: {groups_any: [dev]}
    roles: [Developer]
    session_tags: {team: x}
    transitive_tag_keys: [team]
`)
	js, err := json.Marshal(m.Explain(providers.Identity{Username: "al", Groups: []string{"dev"}}))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Grants []map[string]any `json:"grants"`
		Rules  []map[string]any `json:"rules"`
		Dec    string           `json:"decision"`
	}
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	if v.Dec != "grant" || len(v.Grants) != 1 || len(v.Rules) != 1 {
		t.Fatalf("%s", js)
	}
	for _, k := range []string{"role_arn", "rule", "rule_index", "session_name", "session_tags", "transitive_tag_keys", "duration_seconds"} {
		if _, ok := v.Grants[0][k]; !ok {
			t.Errorf("grant lacks %q: %s", k, js)
		}
	}
	for _, k := range []string{"name", "matched", "reason"} {
		if _, ok := v.Rules[0][k]; !ok {
			t.Errorf("rule lacks %q: %s", k, js)
		}
	}
	if v.Grants[0]["duration_seconds"].(float64) != 7200 {
		t.Errorf("duration_seconds: %s", js)
	}
}
