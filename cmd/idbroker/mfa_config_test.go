package main

import (
	"strings"
	"testing"

	"github.com/idbroker/idbroker/providers"
)

// TestMFAConfigKeys: providers[].mfa takes off, optional or required
// (another value is named by its key path); roles[].require_mfa reaches
// the role's grants.
func TestMFAConfigKeys(t *testing.T) {
	bad := strings.Replace(mfaBrowserConfig, "    display_name: Demo users\n", "    display_name: Demo users\n    mfa: sometimes\n", 1)
	if _, err := parseConfig([]byte(bad), noEnv); err == nil || !strings.Contains(err.Error(), `providers[0].mfa: "sometimes" must be off, optional or required`) {
		t.Fatalf("mfa: sometimes: %v", err)
	}
	cfg, err := parseConfig([]byte(strings.Replace(mfaBrowserConfig, "    display_name: Demo users\n", "    display_name: Demo users\n    mfa: required\n", 1)), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Providers[0].MFA != "required" {
		t.Fatalf("providers[0].mfa read as %q", cfg.Providers[0].MFA)
	}
	m, err := compileMapping(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range m.Map(providers.Identity{Provider: "demo", Username: "alice", Groups: []string{"developers"}}).Grants {
		if want := strings.HasSuffix(g.RoleARN, "/Prod"); g.RequireMFA != want {
			t.Errorf("%s: RequireMFA %v, want %v", g.RoleARN, g.RequireMFA, want)
		}
	}
}
