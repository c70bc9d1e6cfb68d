package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
)

// TestMetricsAfterAScriptedRun: the real binary with a metrics listener;
// a scripted run (logins good, wrong and locked, issuances and a throttled
// one, STS calls, a reload) and then one scrape: every family is there
// with the counts the run implies, and the public listener has no
// /metrics.
func TestMetricsAfterAScriptedRun(t *testing.T) {
	bin := buildIdbroker(t)
	cfg := withLimits(configs.Demo, "  per_user: {rate: 2, per: 1h}\n")
	cfg = append(cfg, []byte("login_protection: {user_threshold: 2}\n")...)
	path := filepath.Join(t.TempDir(), "idbroker.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBrokerBinary(t, bin, path)

	resp, err := http.Get(b.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics on the public listener: %d, want 404", resp.StatusCode)
	}

	// Logins: alice signs in; bob's two wrong passwords lock his name, so
	// his right one is refused as locked.
	token, _ := newSession(t, b.base, "demo", "alice", "alice")
	for _, password := range []string{"wrong-1", "wrong-2", "bob"} {
		status, out, _ := sessionAPI(t, http.MethodPost, b.base+"/api/v1/sessions", "", "application/json",
			`{"provider":"demo","username":"bob","password":"`+password+`"}`)
		if status != http.StatusUnauthorized {
			t.Fatalf("bob with %s: %d %v", password, status, out)
		}
	}
	// Issuances: two, then one over the limit.
	var creds map[string]any
	for i := range 3 {
		status, out, _ := sessionAPI(t, http.MethodPost, b.base+"/api/v1/credentials", token, "application/json", `{"role":"Developer"}`)
		want := map[bool]int{true: 200, false: http.StatusTooManyRequests}[i < 2]
		if status != want {
			t.Fatalf("issuance %d: %d %v, want %d", i+1, status, out, want)
		}
		if i == 0 {
			creds = out
		}
	}
	// STS: a signed GetCallerIdentity, and an action that does not exist.
	callerARN(t, b.base, creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), creds["SessionToken"].(string))
	resp, err = http.PostForm(b.base+"/", url.Values{"Action": {"NoSuchAction"}, "Version": {"2011-06-15"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("an unknown action: %d", resp.StatusCode)
	}
	// A reload.
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var m string
	deadline := time.Now().Add(15 * time.Second)
	for {
		m = scrape(t, b.metrics)
		if metricValue(t, m, `idbroker_config_reloads_total{result="success"}`) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reload was never counted\n%s", b.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, f := range []string{
		"idbroker_build_info", "idbroker_logins_total", "idbroker_login_duration_seconds", "idbroker_upstream_errors_total",
		"idbroker_sessions_active", "idbroker_issuances_total", "idbroker_sts_requests_total", "idbroker_sts_request_duration_seconds",
		"idbroker_http_request_duration_seconds", "idbroker_lockouts_total", "idbroker_throttles_total", "idbroker_revocations_total",
		"idbroker_store_errors_total", "idbroker_config_reloads_total", "idbroker_sts_credentials_issued_total",
	} {
		if !strings.Contains(m, "\n# TYPE "+f+" ") {
			t.Errorf("family %s missing from the scrape", f)
		}
	}
	for series, want := range map[string]float64{
		`idbroker_logins_total{provider="demo",result="success"}`:                                       1,
		`idbroker_logins_total{provider="demo",result="invalid_credentials"}`:                           2,
		`idbroker_logins_total{provider="demo",result="locked"}`:                                        1,
		`idbroker_lockouts_total{provider="demo"}`:                                                      1,
		`idbroker_login_duration_seconds_count{provider="demo"}`:                                        4,
		`idbroker_upstream_errors_total{kind="unavailable",provider="demo"}`:                            0,
		`idbroker_sessions_active`:                                                                      1,
		`idbroker_issuances_total{result="issued",role="Developer",surface="api"}`:                      2,
		`idbroker_throttles_total{limit="user",surface="api"}`:                                          1,
		`idbroker_sts_credentials_issued_total`:                                                         2,
		`idbroker_sts_requests_total{action="GetCallerIdentity",code="OK"}`:                             1,
		`idbroker_sts_requests_total{action="none",code="InvalidAction"}`:                               1,
		`idbroker_sts_request_duration_seconds_count{action="GetCallerIdentity"}`:                       1,
		`idbroker_http_request_duration_seconds_count{route="POST /api/v1/credentials"}`:                3,
		`idbroker_revocations_total{kind="admin"}`:                                                      0,
		`idbroker_store_errors_total{op="GetSession"}`:                                                  0,
		`idbroker_config_reloads_total{result="failure"}`:                                               0,
		`idbroker_build_info{go_version="` + goVersionOf(t, m) + `",version="` + versionOf(t, m) + `"}`: 1,
	} {
		if got := metricValue(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// No label carries a user name.
	for _, user := range []string{`"alice"`, `"bob"`} {
		if strings.Contains(m, user) {
			t.Errorf("a label value is the user name %s", user)
		}
	}
}

// versionOf and goVersionOf read idbroker_build_info's labels.
func versionOf(t *testing.T, m string) string { return buildLabel(t, m, "version") }

func goVersionOf(t *testing.T, m string) string { return buildLabel(t, m, "go_version") }

func buildLabel(t *testing.T, m, label string) string {
	t.Helper()
	for _, line := range strings.Split(m, "\n") {
		if rest, ok := strings.CutPrefix(line, "idbroker_build_info{"); ok {
			for _, kv := range strings.Split(strings.SplitN(rest, "}", 2)[0], ",") {
				if k, v, _ := strings.Cut(kv, "="); k == label {
					return strings.Trim(v, `"`)
				}
			}
		}
	}
	t.Fatalf("no idbroker_build_info %s label", label)
	return ""
}
