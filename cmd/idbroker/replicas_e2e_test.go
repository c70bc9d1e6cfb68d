package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/store/redistest"
)

// Two replicas: two `idbroker serve` processes sharing one real Redis and
// one key directory, and the administrator's commands run as the built
// binary with credentials the broker minted in the environment.

// replicaConfig is the demo with a key directory and a Redis store for two
// replicas, which share one public URL (as behind a load balancer: it names
// the broker as the issuer its credentials come from).
func replicaConfig(t *testing.T, redisURL, publicURL string) string {
	t.Helper()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"keys", "init", keys}, nil, &out, &errOut); code != 0 {
		t.Fatalf("keys init: exit %d: %s", code, errOut.String())
	}
	cfg := strings.Replace(string(configs.Demo), `keys: {dir: ""}`, fmt.Sprintf("keys: {dir: %q}", keys), 1)
	cfg = strings.Replace(cfg, "store: {type: memory}", fmt.Sprintf("store: {type: redis, url: %q, replicas: 2}", redisURL), 1)
	cfg = strings.Replace(cfg, "server:\n", fmt.Sprintf("server:\n  public_url: %s\n", publicURL), 1)
	if !strings.Contains(cfg, "type: redis") || !strings.Contains(cfg, keys) || !strings.Contains(cfg, publicURL) {
		t.Fatal("configs/demo.yaml changed shape; update this test")
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitReady polls /readyz (the store answers, the revocation set synced).
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", base)
}

// adminCmd runs the idbroker binary as an administrator does: the AWS
// credentials of the environment are c (none when c is zero), nothing else
// of the caller's AWS environment leaks in.
func adminCmd(t *testing.T, bin string, c minted, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if c.id != "" {
		cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID="+c.id, "AWS_SECRET_ACCESS_KEY="+c.secret, "AWS_SESSION_TOKEN="+c.token, "AWS_REGION=us-east-1")
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	case err != nil:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return 0, out.String(), errOut.String()
}

// TestReplicasShareSessionsAndRevocations: a session created on one
// replica works on the other; an administrator's revocation made on one
// (idbroker revoke, the real binary) refuses the credentials at the other
// within 2 seconds; a sign-out on one ends the session on both; idbroker
// sessions lists what either replica made.
func TestReplicasShareSessionsAndRevocations(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	addr1, addr2 := freeAddr(t), freeAddr(t)
	base1, base2 := "http://"+addr1, "http://"+addr2
	path := replicaConfig(t, rs.URL, base1)
	p1 := startBrokerProcess(t, "serve", "--config", path, "--listen", addr1)
	p2 := startBrokerProcess(t, "serve", "--config", path, "--listen", addr2)
	bin := buildIdbroker(t)
	waitReady(t, base1)
	waitReady(t, base2)

	// A session made on one replica issues on the other.
	token, sid := newSession(t, base1, "demo", "alice", "alice")
	if status, cur, _ := sessionAPI(t, http.MethodGet, base2+"/api/v1/sessions/current", token, "", ""); status != 200 || cur["session_id"] != sid {
		t.Fatalf("the session on the other replica: %d %v", status, cur)
	}
	alice := fromSession(t, base2, token, "Developer")
	wantAlive(t, base1, "alice's keys from replica 2 at replica 1", alice)

	// The administrator: bob as Admin, keys in the environment.
	admin := oneShot(t, base1, "bob", "bob", "Admin")
	status, out, errOut := adminCmd(t, bin, admin, "sessions", "--url", base1, "--user", "alice")
	if status != 0 || !strings.Contains(out, sid) || !strings.Contains(out, "live") {
		t.Fatalf("idbroker sessions: %d\n%s%s", status, out, errOut)
	}
	status, out, errOut = adminCmd(t, bin, admin, "revoke", "--url", base1, "--user", "alice", "--provider", "demo")
	revoked := time.Now()
	if status != 0 || !strings.Contains(out, "Revoked user alice at provider demo") || !strings.Contains(out, sid) {
		t.Fatalf("idbroker revoke: %d\n%s%s", status, out, errOut)
	}
	// Replica 2 refuses alice's keys within 2 seconds.
	for whoCode(t, base2, alice) != "InvalidClientTokenId" {
		if time.Since(revoked) > 2*time.Second {
			t.Fatalf("replica 2 still accepts the revoked credentials 2 s after the revocation on replica 1\n%s", p2.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, _, _ := sessionAPI(t, http.MethodPost, base2+"/api/v1/credentials", token, "application/json", `{}`); status != 401 {
		t.Errorf("the revoked session issues at replica 2: %d", status)
	}
	status, out, _ = adminCmd(t, bin, admin, "sessions", "--url", base2, "--user", "alice", "--json")
	if status != 0 || !strings.Contains(out, `"ended": true`) || !strings.Contains(out, "revoked by arn:aws:sts::123456789012:assumed-role/Admin/bob") {
		t.Errorf("idbroker sessions --json after the revocation: %d\n%s", status, out)
	}

	// A sign-out on one replica ends the session on both.
	bobToken, _ := newSession(t, base2, "demo", "bob", "bob")
	if status, _, _ := sessionAPI(t, http.MethodDelete, base1+"/api/v1/sessions/current", bobToken, "", ""); status != 204 {
		t.Fatalf("sign-out at replica 1: %d", status)
	}
	if status, _, _ := sessionAPI(t, http.MethodGet, base2+"/api/v1/sessions/current", bobToken, "", ""); status != 401 {
		t.Errorf("the session signed out at replica 1 lives at replica 2: %d", status)
	}

	// What an administrator is told when the command cannot work.
	for _, tc := range []struct {
		name  string
		creds minted
		args  []string
		code  int
		say   []string
	}{
		{"no credentials", minted{}, []string{"revoke", "--url", base1, "--user", "bob"}, 1, []string{"no AWS credentials in the environment", "AWS_SESSION_TOKEN"}},
		{"not an administrator", oneShot(t, base1, "bob", "bob", "Developer"), []string{"revoke", "--url", base1, "--user", "bob"}, 1, []string{"AccessDenied", "admin.roles", "idbroker:Revoke"}},
		{"revoked credentials", alice, []string{"sessions", "--url", base1}, 1, []string{"InvalidClientTokenId", "Get new ones"}},
		{"two selectors", admin, []string{"revoke", "--url", base1, "--user", "bob", "--role", "Admin"}, 2, []string{"exactly one of"}},
		{"plain http elsewhere", admin, []string{"sessions", "--url", "http://idbroker.example.org"}, 2, []string{"use https"}},
	} {
		status, out, errOut := adminCmd(t, bin, tc.creds, tc.args...)
		if status != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.name, status, tc.code, out, errOut)
		}
		for _, s := range tc.say {
			if !strings.Contains(errOut, s) {
				t.Errorf("%s: %q not in:\n%s", tc.name, s, errOut)
			}
		}
	}
	if status, out, errOut := adminCmd(t, bin, minted{}, "revoke", "--help"); status != 0 || !strings.Contains(out+errOut, "examples:") {
		t.Errorf("revoke --help: %d", status)
	}
	for _, p := range []*brokerProcess{p1, p2} {
		for _, secret := range []string{admin.secret, admin.token, alice.secret, alice.token, strings.SplitN(token, ".", 2)[1]} {
			if strings.Contains(p.stderr.String(), secret) {
				t.Errorf("a secret (%.6s…) appears in a replica's log", secret)
			}
		}
	}
}
