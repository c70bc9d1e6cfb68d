package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
)

// TestReload: a new file takes effect without a restart, a broken one keeps
// the running configuration, and credentials issued before stay valid.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, configs.Demo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadServeConfig(path, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	trigger := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveReloading(ctx, cfg, log, ready, trigger, func() (*fileConfig, error) { return loadServeConfig(path, "") })
	}()
	base := "http://" + <-ready
	t.Cleanup(func() { cancel(); <-done })

	status, before := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
	if status != 200 || before["RoleArn"] != "arn:aws:iam::123456789012:role/Developer" {
		t.Fatalf("before reload: %d %v", status, before)
	}

	// alice's group now maps to Admin.
	changed := strings.Replace(string(configs.Demo), "    roles: [Developer]\n", "    roles: [Admin]\n", 1)
	if changed == string(configs.Demo) {
		t.Fatal("demo config changed shape; update the test")
	}
	changed = changed[:strings.Index(changed, "\ntests:")] // the demo's tests describe the old rules
	if err := os.WriteFile(path, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	trigger <- os.Interrupt
	waitFor(t, func() bool {
		_, out := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
		return out["RoleArn"] == "arn:aws:iam::123456789012:role/Admin"
	})

	// A broken file is refused and the running configuration stays.
	if err := os.WriteFile(path, []byte("account_id: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	trigger <- os.Interrupt
	waitFor(t, func() bool { return strings.Contains(logs.String(), "configuration reload failed") })
	if _, out := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"}); out["RoleArn"] != "arn:aws:iam::123456789012:role/Admin" {
		t.Fatalf("after a bad reload: %v", out)
	}

	// Keys issued before the reloads still verify (demo keys are kept).
	who, err := stsClient(base, staticCreds(before["AccessKeyId"].(string), before["SecretAccessKey"].(string), before["SessionToken"].(string))).GetCallerIdentity(context.Background(), nil)
	if err != nil || *who.Arn != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
		t.Fatalf("old credentials after reload: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
