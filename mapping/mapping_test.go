package mapping

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/providers"
)

const testAccount = "123456789012"

func testEnv() Env {
	return Env{
		AccountID: testAccount,
		Roles: map[string]RoleInfo{
			"Admin":     {MaxDuration: 4 * time.Hour},
			"Developer": {MaxDuration: 2 * time.Hour},
			"ReadOnly":  {},
			"Auditor":   {ARN: "arn:aws:iam::123456789012:role/audit/Auditor", MaxDuration: 8 * time.Hour},
		},
		Providers: []string{"corp", "okta", "google"},
	}
}

func arn(name string) string { return "arn:aws:iam::" + testAccount + ":role/" + name }

// loadConfig decodes YAML the way the integrator does (unknown keys refused).
func loadConfig(t testing.TB, src string) Config {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode config: %v", err)
	}
	return cfg
}

func mustCompile(t testing.TB, src string) *Mapper {
	t.Helper()
	m, err := Compile(loadConfig(t, src), testEnv())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return m
}

func grantARNs(d Decision) []string {
	var out []string
	for _, g := range d.Grants {
		out = append(out, g.RoleARN)
	}
	return out
}

func TestFirstCut(t *testing.T) {
	m := mustCompile(t, `
rules:
  - name: developers
    when: {provider: corp, groups_any: [developers]}
    roles: [Developer]
    continue: true
  - name: readers
    when: {provider: [corp, okta]}
    roles: [ReadOnly]
on_ambiguous: choose
`)
	d := m.Map(providers.Identity{Provider: "corp", Username: "alice", Groups: []string{"Developers"}})
	if d.Outcome != OutcomeChoose || len(d.Grants) != 2 {
		t.Fatalf("got %s %v", d.Outcome, grantARNs(d))
	}
	if d.Grants[0].RoleARN != arn("Developer") || d.Grants[0].SessionName != "alice" || d.Grants[0].MaxDuration != 2*time.Hour {
		t.Fatalf("grant %+v", d.Grants[0])
	}
	d = m.Map(providers.Identity{Provider: "okta", Username: "bob"})
	if d.Outcome != OutcomeGrant || d.Grants[0].RoleARN != arn("ReadOnly") {
		t.Fatalf("got %s %v", d.Outcome, grantARNs(d))
	}
	d = m.Map(providers.Identity{Provider: "google", Username: "eve"})
	if d.Outcome != OutcomeDeny || len(d.Grants) != 0 {
		t.Fatalf("got %s %v", d.Outcome, grantARNs(d))
	}
}

func newStrictDecoder(src string) *yaml.Decoder {
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	return dec
}

// TestInlineEmbedding shows how the broker's root config embeds Config.
func TestInlineEmbedding(t *testing.T) {
	type root struct {
		AccountID string `yaml:"account_id"`
		Config    `yaml:",inline"`
	}
	src := "account_id: \"123456789012\"\nrules:\n  - {name: r, roles: [Admin]}\non_ambiguous: deny\ntests:\n  - {name: t, identity: {username: al, email_verified: true, attributes: {dept: eng, multi: [a, b]}}, expect: {decision: grant}}\n"
	var r root
	if err := newStrictDecoder(src).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.AccountID != testAccount || len(r.Rules) != 1 || r.OnAmbiguous != "deny" || len(r.Tests) != 1 {
		t.Fatalf("%+v", r)
	}
	id := r.Tests[0].Identity.Identity()
	if !id.EmailVerified || id.Attributes["dept"][0] != "eng" || len(id.Attributes["multi"]) != 2 {
		t.Fatalf("%+v", id)
	}
	if err := newStrictDecoder(src + "bogus: 1\n").Decode(&r); err == nil {
		t.Fatal("unknown root key accepted")
	}
}
