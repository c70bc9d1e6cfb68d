package metrics

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// families are the idbroker families every scrape carries.
var families = []string{
	"idbroker_build_info",
	"idbroker_logins_total",
	"idbroker_login_duration_seconds",
	"idbroker_upstream_errors_total",
	"idbroker_sessions_active",
	"idbroker_issuances_total",
	"idbroker_sts_requests_total",
	"idbroker_sts_request_duration_seconds",
	"idbroker_http_request_duration_seconds",
	"idbroker_lockouts_total",
	"idbroker_throttles_total",
	"idbroker_revocations_total",
	"idbroker_store_errors_total",
	"idbroker_config_reloads_total",
	"idbroker_sts_credentials_issued_total",
	"idbroker_report_events_dropped_total",
	"idbroker_report_events_unwritten_total",
}

// touched is a Metrics with one observation of each kind.
func touched(t *testing.T) *Metrics {
	t.Helper()
	m := New("test")
	m.Configure([]string{"corp"}, map[string]string{"arn:aws:iam::123456789012:role/Dev": "Dev"})
	m.CountSessionsWith(func(context.Context) (int, error) { return 7, nil })
	m.IssuedFrom(func() uint64 { return 3 })
	m.Login("corp", "success", time.Millisecond)
	m.Issue("api", "arn:aws:iam::123456789012:role/Dev", "issued")
	m.ObserveRequest("GetCallerIdentity", "", time.Millisecond)
	m.Route("POST /api/v1/credentials", time.Millisecond)
	m.Throttled("api", "user")
	return m
}

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestEveryFamilyIsServed(t *testing.T) {
	m := touched(t)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, f := range families {
		if !strings.Contains(string(body), "\n# TYPE "+f+" ") {
			t.Errorf("family %s is not served", f)
		}
	}
	for _, want := range []string{
		`idbroker_sessions_active 7`, `idbroker_sts_credentials_issued_total 3`,
		`idbroker_build_info{go_version="go`, `idbroker_lockouts_total{provider="corp"} 0`,
		`idbroker_revocations_total{kind="admin"} 0`, `idbroker_config_reloads_total{result="failure"} 0`,
		`idbroker_store_errors_total{op="GetSession"} 0`, `idbroker_throttles_total{limit="user",surface="api"} 1`,
		`idbroker_sts_requests_total{action="GetCallerIdentity",code="OK"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %s in the scrape", want)
		}
	}
}

// TestLabelsAreBounded: a provider or role that is not configured is
// counted as "other", never under the name a request carried.
func TestLabelsAreBounded(t *testing.T) {
	m := touched(t)
	m.Login("attacker-chosen", "refused", 0)
	m.Issue("api", "arn:aws:iam::123456789012:role/NotConfigured", "refused")
	m.Issue("api", "", "refused")
	fams := gather(t, m)
	var values []string
	for _, name := range []string{"idbroker_logins_total", "idbroker_issuances_total"} {
		for _, mt := range fams[name].GetMetric() {
			for _, l := range mt.GetLabel() {
				values = append(values, l.GetValue())
			}
		}
	}
	for _, bad := range []string{"attacker-chosen", "NotConfigured", "arn:aws:iam::123456789012:role/NotConfigured"} {
		if slices.Contains(values, bad) {
			t.Errorf("label value %q from a request", bad)
		}
	}
	for _, want := range []string{"other", "none", "Dev"} {
		if !slices.Contains(values, want) {
			t.Errorf("no label value %q in %v", want, values)
		}
	}
}

// TestCountersSurviveReload: the STS and the report recorder a reload
// replaced keep their counts in the counters.
func TestCountersSurviveReload(t *testing.T) {
	m := New("test")
	m.IssuedFrom(func() uint64 { return 5 })
	m.IssuedFrom(func() uint64 { return 2 })
	m.ReportsFrom(func() uint64 { return 3 }, func() uint64 { return 1 })
	m.ReportsFrom(func() uint64 { return 4 }, func() uint64 { return 0 })
	for name, c := range map[string]struct {
		got  float64
		want float64
	}{
		"issued": {m.issued.total(), 7}, "reports dropped": {m.reportsDropped.total(), 7}, "reports unwritten": {m.reportsUnwritten.total(), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s after a reload: %v, want %v", name, c.got, c.want)
		}
	}
}

var familyName = regexp.MustCompile(`idbroker_[a-z_]+`)

// familyOf is the family a series name belongs to (histograms' series
// carry suffixes).
func familyOf(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(series, suffix); ok && slices.Contains(families, f) {
			return f
		}
	}
	return series
}

// checkNames fails for every idbroker_ name in expr that is no family.
func checkNames(t *testing.T, where, expr string) int {
	t.Helper()
	names := familyName.FindAllString(expr, -1)
	for _, n := range names {
		if !slices.Contains(families, familyOf(n)) {
			t.Errorf("%s: %s names %s, which is no idbroker family", where, expr, n)
		}
	}
	return len(names)
}

// TestDashboardNamesFamilies: the Grafana dashboard parses, and every
// query names existing families only.
func TestDashboardNamesFamilies(t *testing.T) {
	files, _ := filepath.Glob("../../deploy/grafana/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboard in deploy/grafana")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(raw, &dash); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if dash.Title == "" || len(dash.Panels) == 0 {
			t.Fatalf("%s: no title or no panels", f)
		}
		for _, p := range dash.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, tg := range p.Targets {
				if checkNames(t, f+": "+p.Title, tg.Expr) == 0 {
					t.Errorf("%s: panel %q: %q names no idbroker family", f, p.Title, tg.Expr)
				}
			}
		}
	}
}

const alertsFile = "../../deploy/prometheus/alerts.yaml"

// TestAlertsNameFamilies: every alert's expression names existing
// families only (or Prometheus's own up).
func TestAlertsNameFamilies(t *testing.T) {
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			n++
			if checkNames(t, r.Alert, r.Expr) == 0 && !strings.Contains(r.Expr, "up{") {
				t.Errorf("%s: %q names no family", r.Alert, r.Expr)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerting rules")
	}
}

// TestAlertsPromtool runs Debian's promtool (package prometheus) on the
// rules: skipped without it, failed without it in CI.
func TestAlertsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool missing in CI (apt-get install prometheus)")
		}
		t.Skip("SKIPPED: promtool missing (apt-get install prometheus)")
	}
	out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// BenchmarkObserve: what one issuance through the API costs the metrics
// (a route latency, an issuance, an STS request and its latency).
func BenchmarkObserve(b *testing.B) {
	m := New("bench")
	m.Configure([]string{"corp"}, map[string]string{"arn:aws:iam::123456789012:role/Dev": "Dev"})
	b.ReportAllocs()
	for b.Loop() {
		m.Route("POST /api/v1/credentials", time.Millisecond)
		m.Issue("api", "arn:aws:iam::123456789012:role/Dev", "issued")
		m.ObserveRequest("GetCallerIdentity", "", time.Millisecond)
	}
}
