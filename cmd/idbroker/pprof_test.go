package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
)

// TestPprofOnlyOnLoopback: the profiler has no authentication, so
// server.pprof is refused on a listener other hosts can reach, whether the
// address comes from the file or from serve --listen.
func TestPprofOnlyOnLoopback(t *testing.T) {
	withPprof := func(listen string) []byte {
		cfg := strings.Replace(string(configs.Demo), "server:\n  listen: 127.0.0.1:8080\n", "server:\n  listen: \""+listen+"\"\n  pprof: true\n", 1)
		if !strings.Contains(cfg, "pprof: true") {
			t.Fatal("configs/demo.yaml changed shape; update this test")
		}
		return []byte(cfg)
	}
	for _, tc := range []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"localhost:8080", true},
		{"0.0.0.0:8080", false},
		{"10.1.2.3:8080", false},
		{":8080", false},
	} {
		_, err := parseConfig(withPprof(tc.listen), noEnv)
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "server.pprof")) {
			t.Errorf("listen %s: %v", tc.listen, err)
		}
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, withPprof("127.0.0.1:8080"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadServeConfig(path, "127.0.0.1:0"); err != nil {
		t.Errorf("loopback --listen: %v", err)
	}
	if _, err := loadServeConfig(path, "0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "server.pprof") {
		t.Errorf("--listen 0.0.0.0:0 with the profiler on: %v", err)
	}
}
