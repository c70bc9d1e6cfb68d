package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the explain tests")

// demoConfigFile writes the embedded demo configuration (plus extra YAML)
// to a temporary file for the commands that take --config.
func demoConfigFile(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo.yaml")
	if err := os.WriteFile(path, append(append([]byte(nil), configs.Demo...), extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkGolden compares got with testdata/explain/<name>, or rewrites it
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "explain", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestExplainGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it after review)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestExplainGolden pins `idbroker explain` text and --json output for
// identities of the demo configuration: alice (one grant), bob (a choice of
// two roles) and eve (no rule matches).
func TestExplainGolden(t *testing.T) {
	cfg := demoConfigFile(t, "")
	cases := []struct {
		name         string
		wantDecision string
		wantRoles    []string
	}{
		{"alice", "grant", []string{"arn:aws:iam::123456789012:role/Developer"}},
		{"bob", "choose", []string{"arn:aws:iam::123456789012:role/Developer", "arn:aws:iam::123456789012:role/Admin"}},
		{"eve", "deny", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idFile := filepath.Join("testdata", "explain", tc.name+".identity.json")
			var text, js, stderr bytes.Buffer
			if code := run(context.Background(), []string{"explain", "--config", cfg, "--identity", idFile}, nil, &text, &stderr); code != 0 {
				t.Fatalf("explain exit %d: %s", code, stderr.String())
			}
			if code := run(context.Background(), []string{"explain", "--config", cfg, "--identity", idFile, "--json"}, nil, &js, &stderr); code != 0 {
				t.Fatalf("explain --json exit %d: %s", code, stderr.String())
			}
			// Independent of the golden files: the JSON says what the
			// rules decide, and the text says the same.
			var ex struct {
				Decision string `json:"decision"`
				Grants   []struct {
					RoleARN string `json:"role_arn"`
				} `json:"grants"`
				Rules []struct {
					Name    string `json:"name"`
					Matched bool   `json:"matched"`
				} `json:"rules"`
			}
			if err := json.Unmarshal(js.Bytes(), &ex); err != nil {
				t.Fatalf("--json output is not JSON: %v\n%s", err, js.String())
			}
			var roles []string
			for _, g := range ex.Grants {
				roles = append(roles, g.RoleARN)
			}
			if ex.Decision != tc.wantDecision || strings.Join(roles, ",") != strings.Join(tc.wantRoles, ",") || len(ex.Rules) != 2 {
				t.Fatalf("decision %q roles %v rules %d, want %q %v 2", ex.Decision, roles, len(ex.Rules), tc.wantDecision, tc.wantRoles)
			}
			if !strings.HasPrefix(text.String(), "decision: "+tc.wantDecision) {
				t.Errorf("text output does not start with the decision:\n%s", text.String())
			}
			for _, r := range ex.Rules {
				if !strings.Contains(text.String(), r.Name) {
					t.Errorf("text output does not mention rule %q", r.Name)
				}
			}
			checkGolden(t, tc.name+".txt.golden", text.Bytes())
			checkGolden(t, tc.name+".json.golden", js.Bytes())
		})
	}
}

// TestExplainCommandRefusals: bad invocations exit non-zero with a message.
func TestExplainCommandRefusals(t *testing.T) {
	cfg := demoConfigFile(t, "")
	dir := t.TempDir()
	unknownField := filepath.Join(dir, "unknown.json")
	if err := os.WriteFile(unknownField, []byte(`{"provider":"demo","username":"eve","admin":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no identity", []string{"explain", "--config", cfg}, 2, "usage"},
		{"missing identity file", []string{"explain", "--config", cfg, "--identity", filepath.Join(dir, "nope.json")}, 1, "read identity"},
		{"unknown identity field", []string{"explain", "--config", cfg, "--identity", unknownField}, 1, "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, nil, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.msg) {
				t.Fatalf("exit %d stderr %q, want %d containing %q", code, errb.String(), tc.code, tc.msg)
			}
		})
	}
}
