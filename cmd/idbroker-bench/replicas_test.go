package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// idbrokerBin builds the idbroker binary once per test run.
func idbrokerBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "idbroker-bench-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "idbroker")
		out, err := exec.Command("go", "build", "-o", builtBin, "../idbroker").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("build idbroker: %v", buildErr)
	}
	return builtBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// needRedis skips the test without redis-server (fails in CI).
func needRedis(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("REDIS NOT AVAILABLE in CI: %v", err)
		}
		t.Skipf("REDIS NOT AVAILABLE: %v — install redis-server to run this test", err)
	}
}

// TestOpsConfigChecks has the real binary's `config check` accept the
// generated configuration with --ops, alone and as a replica of three.
func TestOpsConfigChecks(t *testing.T) {
	bin := idbrokerBin(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if out, err := exec.Command(bin, "keys", "init", keys).CombinedOutput(); err != nil {
		t.Fatalf("keys init: %v\n%s", err, out)
	}
	hash := "$2a$04$abcdefghijklmnopqrstuuWFEZMEsWOBBa0M8VXGVDt8tdnEc2WG6"
	tests := []struct {
		name string
		d    deployment
		want []string
	}{
		{"ops", deployment{ops: true}, []string{"metrics_listen: 127.0.0.1:0", "per_user: {rate: 1000000, per: 1s}", "per_role: {rate: 1000000, per: 1s}", "per_source: {rate: 1000000, per: 1s}", "store: {type: memory}"}},
		{"ops, replica of three", deployment{ops: true, keysDir: keys, redisURL: "redis://127.0.0.1:6399/0", replicas: 3, publicURL: "http://127.0.0.1:8080"},
			[]string{"public_url: http://127.0.0.1:8080", `store: {type: redis, url: "redis://127.0.0.1:6399/0", replicas: 3}`, "limits:"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := benchConfig("127.0.0.1:8080", "http://127.0.0.1:18081", hash, nil, nil, tt.d)
			for _, w := range tt.want {
				if !strings.Contains(cfg, w) {
					t.Errorf("config lacks %q:\n%s", w, cfg)
				}
			}
			path := filepath.Join(dir, "config"+string(rune('0'+i))+".yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "config", "check", "--config", path).CombinedOutput()
			if err != nil || !strings.Contains(string(out), ": OK") {
				t.Fatalf("config check: %v\n%s\n%s", err, out, cfg)
			}
		})
	}
	if cfg := benchConfig("127.0.0.1:8080", "http://127.0.0.1:18081", hash, nil, nil, deployment{}); strings.Contains(cfg, "limits:") || strings.Contains(cfg, "metrics_listen") {
		t.Errorf("without ops the config has limits or metrics:\n%s", cfg)
	}
}

// TestThreeReplicasRun drives three replicas with ops on for a moment:
// every flow the replicas must carry succeeds on each of them, nothing
// is throttled, the servers' metrics count what was issued, and the
// floor is not run.
func TestThreeReplicasRun(t *testing.T) {
	needRedis(t)
	bin := idbrokerBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := options{server: bin, issuerListen: "127.0.0.1:0", flows: "web-identity,caller-identity,api-login", conns: "6",
		duration: 500 * time.Millisecond, warmup: 200 * time.Millisecond, maxRequests: 1_000_000, samlPool: 10,
		ops: true, replicas: 3}
	rep, err := benchmark(ctx, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Ops || rep.Replicas != 3 || rep.Store != "redis" || rep.FloorSkipped == "" {
		t.Errorf("report: ops %v replicas %d store %q floor %q", rep.Ops, rep.Replicas, rep.Store, rep.FloorSkipped)
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(rep.Rows), rep.Rows)
	}
	for _, r := range rep.Rows {
		if r.Skipped != "" || r.Target != "idbroker" || r.OK == 0 || r.OK != r.Requests || len(r.Errors) != 0 {
			t.Errorf("%s: target %s skipped %q requests %d ok %d errors %v", r.Flow, r.Target, r.Skipped, r.Requests, r.OK, r.Errors)
		}
		if len(r.OKPerReplica) != 3 || r.OKPerReplica[0] == 0 || r.OKPerReplica[1] == 0 || r.OKPerReplica[2] == 0 {
			t.Errorf("%s: successes per replica %v, want every one of 3 used", r.Flow, r.OKPerReplica)
		}
		if len(r.PeakRSSPerReplicaMiB) != 3 || r.PeakRSSMiB <= 0 {
			t.Errorf("%s: peak RSS %v per replica %v", r.Flow, r.PeakRSSMiB, r.PeakRSSPerReplicaMiB)
		}
		if r.Metrics == nil || r.Metrics.Throttles != 0 || (r.Flow != "caller-identity" && r.Metrics.Issued < float64(r.OK)) {
			t.Errorf("%s: server metrics %+v (ok %d)", r.Flow, r.Metrics, r.OK)
		}
	}
}

func TestCounterSum(t *testing.T) {
	const page = `# HELP idbroker_throttles_total x
# TYPE idbroker_throttles_total counter
idbroker_throttles_total{limit="user",surface="sts"} 3
idbroker_throttles_total{limit="role",surface="api"} 4
idbroker_throttles_total_extra 100
idbroker_sts_credentials_issued_total 12
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, page) }))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().(*net.TCPAddr).String()
	for family, want := range map[string]float64{"idbroker_throttles_total": 14, "idbroker_sts_credentials_issued_total": 24, "idbroker_absent_total": 0} {
		got, err := counterSum(context.Background(), []string{addr, addr}, family)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", family, got, err, want)
		}
	}
}
