package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
)

// brokerProcess is `idbroker serve` running as a process of its own (this
// test binary in its main mode, see TestMain).
type brokerProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

// startBrokerProcess starts `idbroker args…`; it is killed (by its pid)
// when the test ends if still running.
func startBrokerProcess(t *testing.T, args ...string) *brokerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IDBROKER_TEST_MAIN=1", "IDBROKER_TEST_ARGS="+strings.Join(args, " "))
	p := &brokerProcess{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *brokerProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM\n%s", p.stderr)
	}
}

// fileStoreConfig is the demo with a key directory (so sealed sessions and
// credentials verify after a restart) and a file store.
func fileStoreConfig(t *testing.T) (path, state string) {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"keys", "init", keys}, nil, &out, &errOut); code != 0 {
		t.Fatalf("keys init: exit %d: %s", code, errOut.String())
	}
	state = filepath.Join(dir, "state.db")
	cfg := strings.Replace(string(configs.Demo), `keys: {dir: ""}`, fmt.Sprintf("keys: {dir: %q}", keys), 1)
	cfg = strings.Replace(cfg, "store: {type: memory}", fmt.Sprintf("store: {type: file, path: %q}", state), 1)
	if !strings.Contains(cfg, "type: file") || !strings.Contains(cfg, keys) {
		t.Fatal("configs/demo.yaml changed shape; update this test")
	}
	path = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, state
}

// TestFileStoreKeepsSessions: with store type file, a session survives a
// restart of the server process (its bearer token still gets keys the AWS
// SDK accepts), and so does its end. A second server on the same file is
// refused at start; config check on it, while the server runs, says the
// file is held and passes.
func TestFileStoreKeepsSessions(t *testing.T) {
	path, state := fileStoreConfig(t)
	addr := freeAddr(t)
	base := "http://" + addr
	first := startBrokerProcess(t, "serve", "--config", path, "--listen", addr)
	waitHealthy(t, base)
	token, sid := newSession(t, base, "demo", "alice", "alice")
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", err, fi)
	}

	second := startBrokerProcess(t, "serve", "--config", path, "--listen", freeAddr(t))
	select {
	case err := <-second.exited:
		if err == nil || !strings.Contains(second.stderr.String(), "in use by another process") {
			t.Errorf("second server on the same file: %v\n%s", err, second.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a second server on the same file is running")
	}
	var out, errb bytes.Buffer
	if code := runConfigCheck(context.Background(), []string{"--config", path}, &out, &errb); code != 0 || !strings.Contains(out.String(), "held by another process") {
		t.Errorf("config check while the server runs: %d\n%s%s", code, out.String(), errb.String())
	}

	first.stop(t)
	restarted := startBrokerProcess(t, "serve", "--config", path, "--listen", addr)
	waitHealthy(t, base)
	status, cur, _ := sessionAPI(t, http.MethodGet, base+"/api/v1/sessions/current", token, "", "")
	if status != 200 || cur["session_id"] != sid {
		t.Fatalf("session after restart: %d %v\n%s", status, cur, restarted.stderr)
	}
	status, creds, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{}`)
	if status != 200 {
		t.Fatalf("credentials after restart: %d %v", status, creds)
	}
	if got := callerARN(t, base, creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), creds["SessionToken"].(string)); got != "arn:aws:sts::123456789012:assumed-role/Developer/alice" {
		t.Errorf("caller %s", got)
	}

	// Its end survives a restart too.
	if status, _, _ := sessionAPI(t, http.MethodDelete, base+"/api/v1/sessions/current", token, "", ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	restarted.stop(t)
	startBrokerProcess(t, "serve", "--config", path, "--listen", addr)
	waitHealthy(t, base)
	if status, out, _ := sessionAPI(t, http.MethodGet, base+"/api/v1/sessions/current", token, "", ""); status != 401 || errCode(out) != "InvalidSession" {
		t.Errorf("ended session after restart: %d %v", status, out)
	}
}

// TestConfigCheckSessionsAndStore: config check refuses what cannot work
// (the sessions bounds, a store block internal/store refuses, a file store
// whose path cannot be opened, several replicas on a store that serves one
// process), each by its key path; a file store it can open passes and is
// created 0600.
func TestConfigCheckSessionsAndStore(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ok.db")
	for _, tc := range []struct {
		name, block string
		want        []string // empty: passes
	}{
		{"defaults", "sessions: {}\n", nil},
		{"bounds", "sessions: {duration: 13h, recheck_interval: 10s}\n", []string{"sessions.duration: 13h0m0s must be between 15m0s and 12h0m0s", "sessions.recheck_interval: 10s must be between 30s and 1h0m0s"}},
		{"a typo", "sessions: {duraton: 1h}\n", []string{"sessions.duraton: unknown key"}},
		{"a bare number", "sessions: {duration: 3600}\n", []string{"sessions.duration"}},
		{"file without a path", "store: {type: file}\n", []string{"store.path: required for type file"}},
		{"file in a missing directory", "store: {type: file, path: " + filepath.Join(dir, "missing", "state.db") + "}\n", []string{"store.path: ", "no such file or directory"}},
		{"file that is a directory", "store: {type: file, path: " + dir + "}\n", []string{"store.path: "}},
		{"replicas on a file store", "store: {type: file, path: " + good + ", replicas: 2}\n", []string{"store.replicas: 2 replicas cannot share a file store"}},
		{"replicas on memory", "store: {type: memory, replicas: 3}\n", []string{"store.replicas: 3 replicas cannot share a memory store"}},
		{"redis without a url", "store: {type: redis}\n", []string{"store.url: required"}},
		{"an unknown type", "store: {type: etcd}\n", []string{`store.type: "etcd" must be memory, redis or file`}},
		{"a file store", "store: {type: file, path: " + good + "}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := strings.Replace(string(configs.Demo), "store: {type: memory}", "", 1)
			cfg = cfg[:strings.Index(cfg, "sessions:\n")] + cfg[strings.Index(cfg, "\nproviders:"):] + tc.block
			code, stdout, stderr := runCheck(t, cfg)
			if len(tc.want) == 0 {
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, stderr)
				}
				return
			}
			if code != 1 {
				t.Fatalf("exit %d, want 1:\n%s%s", code, stdout, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q not in:\n%s", w, stderr)
				}
			}
		})
	}
	if fi, err := os.Stat(good); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the checked file store: %v %v", err, fi)
	}
}
