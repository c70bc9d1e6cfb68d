package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The configuration reference (docs/configuration.md) names every key the
// configuration file accepts, in the first column of its tables. This test
// keeps it in step with the structs the file decodes into: a key added to
// the code and not to the reference fails, and so does a key the reference
// documents that the code no longer accepts.

// configKeyPaths lists every key path of fileConfig: "server.listen",
// "roles[].name", and for provider settings "providers[type=ldap].url".
// A type with its own YAML decoder (durations, policy documents) is a leaf.
func configKeyPaths() []string {
	var out []string
	open := map[reflect.Type]bool{} // the structs being walked: a matcher's "not" is a matcher
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case open[t]:
			out = append(out, path)
			return
		case t == reflect.TypeOf(providerConfig{}):
			walk(reflect.TypeOf(providerHeader{}), path)
			// The header's keys (name, type, display_name) never reach a
			// kind's settings (providerConfig.UnmarshalYAML takes them
			// out), even where the settings struct has a field of that
			// name (oidc.Config.Name, filled from the header).
			header := map[string]reflect.Type{}
			collectFields(reflect.TypeOf(providerHeader{}), header)
			for name, k := range providerKinds() {
				prefix := strings.TrimSuffix(path, "[]") + "[type=" + name + "]"
				walk(k.settings, prefix)
				out = slices.DeleteFunc(out, func(p string) bool {
					key, ok := strings.CutPrefix(p, prefix+".")
					_, taken := header[key]
					return ok && taken
				})
			}
			return
		case t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType):
			out = append(out, path)
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			fields := map[string]reflect.Type{}
			collectFields(t, fields)
			if len(fields) == 0 {
				out = append(out, path)
				return
			}
			open[t] = true
			for name, ft := range fields {
				walk(ft, joinPath(path, name))
			}
			delete(open, t)
		case reflect.Slice, reflect.Array:
			if e := t.Elem(); e.Kind() == reflect.Struct || e.Kind() == reflect.Pointer {
				walk(e, path+"[]")
				return
			}
			out = append(out, path)
		case reflect.Map:
			walk(t.Elem(), path+".*")
		default:
			out = append(out, path)
		}
	}
	walk(reflect.TypeOf(fileConfig{}), "")
	slices.Sort(out)
	return slices.Compact(out)
}

// referenceKey is a table row's first cell: | `key.path` | …
var referenceKey = regexp.MustCompile("(?m)^\\| `([a-z0-9_.\\[\\]=*]+)` \\|")

func TestConfigReferenceNamesEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("the configuration reference: %v", err)
	}
	documented := map[string]bool{}
	for _, m := range referenceKey.FindAllStringSubmatch(string(doc), -1) {
		if documented[m[1]] {
			t.Errorf("docs/configuration.md documents %s twice", m[1])
		}
		documented[m[1]] = true
	}
	keys := configKeyPaths()
	if len(keys) < 50 {
		t.Fatalf("only %d keys found: the walk is broken", len(keys))
	}
	for _, k := range keys {
		if !documented[k] {
			t.Errorf("docs/configuration.md: key %s is accepted by the code but not documented", k)
		}
		delete(documented, k)
	}
	for k := range documented {
		t.Errorf("docs/configuration.md: key %s is documented but the code accepts no such key", k)
	}
}

// TestConfigReferenceExampleLoads checks that the reference's complete
// example is a configuration the broker accepts: the file's own check
// (parseConfig), then everything else `idbroker config check` does offline
// (the STS's roles and policies, the rules, each provider's build), and
// the example's rule tests pass.
func TestConfigReferenceExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- example: checked by TestConfigReferenceExampleLoads -->\n```yaml\n")
	if !ok {
		t.Fatal("docs/configuration.md: the checked example is missing")
	}
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("docs/configuration.md: the checked example is not closed")
	}
	env := map[string]string{"LDAP_BIND_PASSWORD": "not-a-real-secret", "OIDC_CLIENT_SECRET": "not-a-real-secret"}
	if _, err := parseConfig([]byte(example), func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatalf("the reference's example does not load:\n%v", err)
	}

	for k, v := range env {
		t.Setenv(k, v)
	}
	path := filepath.Join(t.TempDir(), "idbroker.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, problems, a, _ := checkConfigFile(path)
	if len(problems) > 0 {
		t.Fatalf("config check refuses the reference's example:\n%v", &configError{errs: problems})
	}
	defer a.close()
	if len(cfg.Mapping.Tests) == 0 {
		t.Error("the reference's example has no rule tests")
	}
	for _, r := range a.mapper.RunTests(cfg.Mapping.Tests) {
		if !r.Passed {
			t.Errorf("the example's rule test %q fails: %s", r.Name, strings.Join(r.Failures, "; "))
		}
	}
}

// TestConfigReferenceRowsHaveFourCells checks the shape of every key's row:
// | `key` | default | example | meaning |, none of them empty (a | inside
// a cell is written \|).
func TestConfigReferenceRowsHaveFourCells(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if !referenceKey.MatchString(line) {
			continue
		}
		rows++
		parts := strings.Split(strings.ReplaceAll(strings.TrimSpace(line), `\|`, "/"), "|")
		if len(parts) < 3 || strings.TrimSpace(parts[len(parts)-1]) != "" {
			t.Errorf("docs/configuration.md: the row does not end with |: %s", line)
			continue
		}
		cells := parts[1 : len(parts)-1] // the row starts and ends with |
		if len(cells) != 4 {
			t.Errorf("docs/configuration.md: %d cells, want 4 (key, default, example, meaning): %s", len(cells), line)
			continue
		}
		for i, c := range cells {
			if strings.TrimSpace(c) == "" {
				t.Errorf("docs/configuration.md: cell %d is empty: %s", i+1, line)
			}
		}
	}
	if rows == 0 {
		t.Error("docs/configuration.md: no key rows")
	}
}
