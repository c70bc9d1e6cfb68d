package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/sts/policy"
)

// runCheck runs `idbroker config check` on yamlText and returns its exit
// code and output.
func runCheck(t *testing.T, yamlText string) (int, string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "idbroker.yaml")
	if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := runConfigCheck(context.Background(), []string{"--config", path}, &out, &errb)
	return code, out.String(), errb.String()
}

// TestConfigCheckReportsEveryStage: a file broken at the YAML stage, in its
// policies (validation), and in its rules (mapping compilation) is reported
// whole, in one run, each problem naming its key path.
func TestConfigCheckReportsEveryStage(t *testing.T) {
	code, _, stderr := runCheck(t, `
account_id: "123456789012"
colour: blue
providers:
  - {name: demo, type: static, users: [{username: a, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G"}]}
policies:
  - name: Broken
    document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject"}]}
roles:
  - name: Developer
    max_session_duration: soon
  - name: Inline
    policies:
      - {Version: "2012-10-17", Statement: {Effect: Maybe, Action: "s3:*", Resource: "*"}}
  - name: Trusting
    trust_policy: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/x"},"Action":"s3:GetObject"}]}'
rules:
  - {name: one, when: {provider: demo}, roles: [Developer]}
  - {name: two, when: {provider: demo}, roles: [Developer]}
  - {name: three, when: {provider: demo}, roles: [Ghost]}
  - {name: four, when: {provider: nowhere}, roles: [Developer]}
on_ambiguous: sometimes
`)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"colour: unknown key",
		`roles[0].max_session_duration: invalid duration "soon"`,
		"policies[0].document: MalformedPolicyDocument: Policy statement must contain resources.",
		"roles[1].policies[0]: MalformedPolicyDocument: Invalid effect.",
		"roles[2].trust_policy: MalformedPolicyDocument: AssumeRole policy may only specify STS AssumeRole actions.",
		`rules[2] (three): roles: unknown role "Ghost"`,
		`on_ambiguous: "sometimes" is not one of`,
		`rules[3] (four): when.provider: unknown provider "nowhere"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("config check does not report %q:\n%s", want, stderr)
		}
	}
	// Each problem once, without the doubled prefix of a wrapped STS error.
	if strings.Contains(stderr, "sts: sts:") {
		t.Errorf("doubled prefix:\n%s", stderr)
	}
	if n := strings.Count(stderr, "roles[2].trust_policy"); n != 1 {
		t.Errorf("the trust policy problem is reported %d times:\n%s", n, stderr)
	}
	if strings.Contains(stderr, "sts: Roles[") {
		t.Errorf("the STS repeats problems the file check named:\n%s", stderr)
	}
}

// TestConfigCheckNamesPolicyQuotas: IAM's size quotas (sts.New's check) are
// reported with their key path alongside the file's own problems.
func TestConfigCheckNamesPolicyQuotas(t *testing.T) {
	big := func(n int) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("a", n) + `"}]}`
	}
	code, _, stderr := runCheck(t, `
account_id: "123456789012"
colour: blue
providers:
  - {name: demo, type: static, users: [{username: a, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G"}]}
policies:
  - name: Huge
    document: '`+big(6200)+`'
roles:
  - name: Developer
    policies:
      - '`+big(5200)+`'
      - '`+big(5200)+`'
rules:
  - {name: one, roles: [Developer]}
`)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"colour: unknown key",
		"policies[0].document: policy exceeds its IAM size quota: managed policy",
		"roles[0].policies: policy exceeds its IAM size quota: role inline policies",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("config check does not report %q:\n%s", want, stderr)
		}
	}
}

// TestConfigCheckPassesExamples: the shipped examples still pass.
func TestConfigCheckPassesExamples(t *testing.T) {
	t.Setenv("LDAP_BIND_PASSWORD", "x")
	for _, name := range []string{"demo.yaml", "ldap-example.yaml"} {
		var out, errb bytes.Buffer
		code := runConfigCheck(context.Background(), []string{"--config", filepath.Join("..", "..", "configs", name)}, &out, &errb)
		if code != 0 {
			t.Errorf("%s: exit %d:\n%s%s", name, code, out.String(), errb.String())
		}
	}
}

// TestConfigCheckNamesSTSProblems: what sts.New finds in the roles and
// named policies is reported once each, under the key path of the file.
func TestConfigCheckNamesSTSProblems(t *testing.T) {
	code, _, stderr := runCheck(t, `
account_id: "123456789012"
policies:
  - {name: Broken, document: '{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}'}
  - {name: "bad name!", document: '{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'}
roles:
  - {name: A, trust_broker: false, trust_policy: '{}'}
  - name: B
    max_session_duration: 30h
    policies: ['{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}']
  - name: C
    policy_arns: ["arn:aws:iam::123456789012:policy/Missing", "arn:aws:iam::123456789012:policy/Broken"]
`)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"policies[0].document: MalformedPolicyDocument: Policy statement must contain resources.",
		`policies[1].name: "bad name!" is not a valid policy name`,
		"roles[0].trust_policy: MalformedPolicyDocument: ",
		"roles[1].max_session_duration: 30h0m0s must be whole seconds between 1h0m0s and 12h0m0s",
		"roles[1].policies[0]: MalformedPolicyDocument: Policy statement must contain resources.",
		`roles[2].policy_arns[0]: "arn:aws:iam::123456789012:policy/Missing" is not the ARN of a managed policy`,
	} {
		if n := strings.Count(stderr, want); n != 1 {
			t.Errorf("%q reported %d times:\n%s", want, n, stderr)
		}
	}
	if strings.Contains(stderr, "policy_arns[1]") {
		t.Errorf("a role is blamed for a managed policy reported already:\n%s", stderr)
	}
	if strings.Contains(stderr, "sts:") {
		t.Errorf("a problem is not named by its key path:\n%s", stderr)
	}
}

// TestPolicyYAMLToJSON: a policy written in YAML becomes the JSON of what
// was written, not of what YAML 1.1 would make of it.
func TestPolicyYAMLToJSON(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unquoted date stays a string", "Version: 2012-10-17", `{"Version":"2012-10-17"}`},
		{"leading zeros kept", "Account: 012345678901", `{"Account":"012345678901"}`},
		{"hex kept", "N: 0x1F", `{"N":"0x1F"}`},
		{"octal kept", "N: 0o17", `{"N":"0o17"}`},
		{"old octal kept", "N: 012", `{"N":"012"}`},
		{"infinity kept", "N: .inf", `{"N":".inf"}`},
		{"plus sign kept", "N: +1", `{"N":"+1"}`},
		{"JSON integer", "N: 3600", `{"N":3600}`},
		{"negative integer", "N: -1", `{"N":-1}`},
		{"JSON float", "N: 1.5", `{"N":1.5}`},
		{"quoted number is a string", `N: "3600"`, `{"N":"3600"}`},
		{"booleans", "T: true\nF: false", `{"T":true,"F":false}`},
		{"quoted boolean is a string", `T: "true"`, `{"T":"true"}`},
		{"YAML 1.1 yes is a string", "T: yes", `{"T":"yes"}`},
		{"null", "A: null\nB: ~\nC:", `{"A":null,"B":null,"C":null}`},
		{"document order", "Z: 1\nA: 2\nM: 3", `{"Z":1,"A":2,"M":3}`},
		{"duplicate keys kept", "Statement:\n  Effect: Deny\n  Effect: Allow", `{"Statement":{"Effect":"Deny","Effect":"Allow"}}`},
		{"sequence", "Action: [s3:GetObject, 's3:List*']", `{"Action":["s3:GetObject","s3:List*"]}`},
		{"alias", "A: &x [1, b]\nB: *x", `{"A":[1,"b"],"B":[1,"b"]}`},
		{"special characters", `S: "a\"b\\c <&>"`, `{"S":"a\"b\\c \u003c\u0026\u003e"}`},
		{"block scalar", "S: |\n  line\n", `{"S":"line\n"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			var p policyDoc
			if err := p.UnmarshalYAML(doc.Content[0]); err != nil {
				t.Fatal(err)
			}
			if string(p.JSON) != tc.want {
				t.Fatalf("got %s, want %s", p.JSON, tc.want)
			}
			if !json.Valid(p.JSON) {
				t.Fatalf("not JSON: %s", p.JSON)
			}
		})
	}
}

// TestPolicyYAMLRefusals: what JSON cannot say is an error, not a panic.
func TestPolicyYAMLRefusals(t *testing.T) {
	for _, tc := range []struct{ name, yaml string }{
		{"merge key", "a: &a {X: 1}\nb: {<<: *a}"},
		{"complex key", "? [a, b]\n: c"},
		{"alias bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			var p policyDoc
			if err := p.UnmarshalYAML(doc.Content[0]); err == nil {
				t.Fatalf("accepted: %.200s", p.JSON)
			}
		})
	}
}

// TestYAMLPolicyUnquotedVersionLoads: `Version: 2012-10-17` unquoted is the
// version string, in permission policies and trust policies alike.
func TestYAMLPolicyUnquotedVersionLoads(t *testing.T) {
	cfg, err := parseConfig([]byte(`
account_id: "123456789012"
policies:
  - name: Read
    document:
      Version: 2012-10-17
      Statement:
        - {Effect: Allow, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/${aws:username}"}
roles:
  - name: Reader
    policies:
      - Version: 2012-10-17
        Statement: {Effect: Allow, Action: "s3:ListBucket", Resource: "*"}
    trust_policy:
      Version: 2012-10-17
      Statement:
        - Effect: Allow
          Principal: {AWS: "012345678901"}
          Action: sts:AssumeRole
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(cfg.Policies[0].Document.JSON, policy.Identity)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version() != policy.Version2012 {
		t.Fatalf("version %q", p.Version())
	}
	if !strings.Contains(string(cfg.Roles[0].TrustPolicy.JSON), `"AWS":"012345678901"`) {
		t.Fatalf("account id rewritten: %s", cfg.Roles[0].TrustPolicy.JSON)
	}
	if _, err := assembleOffline(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestConfigNamesMalformedPolicies: config check parses every policy with
// the kind the STS will and names its key.
func TestConfigNamesMalformedPolicies(t *testing.T) {
	code, _, stderr := runCheck(t, `
account_id: "123456789012"
policies:
  - {name: Dup, document: '{"Statement":{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*"}}'}
roles:
  - name: R
    policies:
      - {Statement: {Effect: Allow, Principal: "*", Action: "s3:*", Resource: "*"}}
    trust_policy: {Statement: {Effect: Allow, Action: "sts:AssumeRole"}}
  - name: Nobody
    trust_broker: false
`)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"policies[0].document: MalformedPolicyDocument: Duplicate key in policy document.",
		"roles[0].policies[0]: MalformedPolicyDocument: Policy document should not specify a principal.",
		"roles[0].trust_policy: MalformedPolicyDocument: Missing required field Principal.",
		"roles[1].trust_policy: missing",
	} {
		if n := strings.Count(stderr, want); n != 1 {
			t.Errorf("%q reported %d times:\n%s", want, n, stderr)
		}
	}
}

// TestAssembleReportsSTSAndMappingTogether: assemble does not stop at the
// STS: the mapping rules are checked too, and its errors are not prefixed twice.
func TestAssembleReportsSTSAndMappingTogether(t *testing.T) {
	cfg, err := parseConfig([]byte(`
account_id: "123456789012"
roles:
  - name: Dev
rules:
  - {name: r, roles: [Ghost]}
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	// What validation would have refused, put past it: the STS refuses it.
	cfg.Roles[0].Policies = []policyDoc{{JSON: []byte(`{"Statement":{"Effect":"Allow","Action":"s3:*"}}`)}}
	_, err = assembleOffline(cfg)
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{`roles[0].policies[0]: MalformedPolicyDocument: Policy statement must contain resources.`, `rules[0] (r): roles: unknown role "Ghost"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q not in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "sts: sts:") {
		t.Errorf("doubled prefix:\n%s", msg)
	}
}
