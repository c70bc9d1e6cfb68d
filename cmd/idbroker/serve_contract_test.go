package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
)

// The serve contract of the spine, as a user meets it: the process stops
// gracefully on SIGTERM, server.public_url in the file wins over --listen,
// a key directory from `keys init` keeps credentials valid across restarts,
// and the API takes the role as a name or an ARN.

// TestMain lets TestServeSIGTERM run this test binary as the idbroker
// command: with IDBROKER_TEST_MAIN=1 it runs main's code with the given
// arguments instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("IDBROKER_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, strings.Fields(os.Getenv("IDBROKER_TEST_ARGS")), os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy", base)
}

// TestServeSIGTERM: `idbroker serve` on the demo answers, and SIGTERM stops
// it gracefully with exit code 0.
func TestServeSIGTERM(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IDBROKER_TEST_MAIN=1", "IDBROKER_TEST_ARGS=serve --listen "+addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	waitHealthy(t, "http://"+addr)
	status, out := apiLogin(t, "http://"+addr, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
	if status != 200 || out["AccessKeyId"] == nil {
		t.Fatalf("login: %d %v", status, out)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after SIGTERM\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("no graceful shutdown in the log:\n%s", stderr.String())
	}
}

// serveFile runs serve on a configuration file with --listen until the
// test ends; it returns the base URL.
func serveFile(t *testing.T, path, listen string) (base string, stop func()) {
	t.Helper()
	cfg, err := loadServeConfig(path, listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, nil2discard(), ready) }()
	select {
	case a := <-ready:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return base, stop
}

// TestPublicURLFromFileWinsOverListen: the file's server.public_url names
// the broker as issuer whatever --listen says; without it, the issuer
// follows the address bound.
func TestPublicURLFromFileWinsOverListen(t *testing.T) {
	issuer := func(t *testing.T, base string) string {
		t.Helper()
		resp, err := http.Get(base + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct{ Issuer string }
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.Issuer
	}
	dir := t.TempDir()
	withURL := filepath.Join(dir, "with-url.yaml")
	cfg := strings.Replace(string(configs.Demo), "server:\n", "server:\n  public_url: https://idbroker.example.org\n", 1)
	if err := os.WriteFile(withURL, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := serveFile(t, withURL, "127.0.0.1:0")
	if got := issuer(t, base); got != "https://idbroker.example.org" {
		t.Errorf("issuer %q with public_url in the file", got)
	}
	without := filepath.Join(dir, "without.yaml")
	if err := os.WriteFile(without, configs.Demo, 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ = serveFile(t, without, "127.0.0.1:0")
	if got := issuer(t, base); got != base {
		t.Errorf("issuer %q, want the bound address %q", got, base)
	}
}

// TestKeysInitSurvivesRestart: with keys.dir from `idbroker keys init`,
// credentials minted before a restart still authenticate after it (with
// keys generated in memory they would not).
func TestKeysInitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"keys", "init", keys}, nil, &out, &errOut); code != 0 {
		t.Fatalf("keys init: exit %d: %s", code, errOut.String())
	}
	path := filepath.Join(dir, "config.yaml")
	cfg := strings.Replace(string(configs.Demo), `keys: {dir: ""}`, fmt.Sprintf("keys: {dir: %q}", keys), 1)
	if cfg == string(configs.Demo) {
		t.Fatal("configs/demo.yaml no longer has keys: {dir: \"\"}; update this test")
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stop := serveFile(t, path, "127.0.0.1:0")
	status, creds := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
	if status != 200 {
		t.Fatalf("login: %d %v", status, creds)
	}
	stop()
	base, _ = serveFile(t, path, "127.0.0.1:0")
	if got := callerARN(t, base, creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), creds["SessionToken"].(string)); got != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
		t.Errorf("after restart: caller %q", got)
	}
}

// TestAPIRoleByARN: "role" may be the role's ARN as well as its name.
func TestAPIRoleByARN(t *testing.T) {
	ts := startServer(t, configs.Demo)
	for _, role := range []string{"Admin", "arn:aws:iam::123456789012:role/Admin"} {
		status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "bob", "password": "bob", "role": role})
		if status != 200 || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Admin/bob" {
			t.Errorf("role %q: %d %v", role, status, out)
		}
	}
	status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice", "role": "arn:aws:iam::123456789012:role/Admin"})
	if status != 403 || out["AccessKeyId"] != nil {
		t.Errorf("alice asking for Admin by ARN: %d %v", status, out)
	}
}
