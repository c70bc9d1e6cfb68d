package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesExampleConfig: configs/rules-example.yaml (the README's mapping
// walkthrough) passes config check with all its rule tests, and the same
// file without the contractor exclusions fails them, so the tests guard
// what the README promises.
func TestRulesExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "rules-example.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, file string) (int, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := runConfigCheck(context.Background(), []string{"--config", file}, &out, &errb)
		return code, out.String() + errb.String()
	}
	t.Run("as shipped", func(t *testing.T) {
		code, out := check(t, path)
		if code != 0 || !strings.Contains(out, "5/5 tests passed") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("without the contractor exclusions", func(t *testing.T) {
		broken := strings.Replace(string(data), `      groups_none: ["cn=contractors,ou=groups,dc=example,dc=org"]
      attributes: {employeeType: {exists: true, not: {equals: contractor}}}
`, "", 1)
		if broken == string(data) {
			t.Fatal("the exclusions are no longer in the example; update this test")
		}
		file := filepath.Join(t.TempDir(), "broken.yaml")
		if err := os.WriteFile(file, []byte(broken), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := check(t, file)
		if code == 0 || !strings.Contains(out, "FAIL a contractor by group never gets Admin") ||
			!strings.Contains(out, "FAIL a contractor by attribute never gets Admin") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}
