package health

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// switchable is a check whose outcome the test sets.
type switchable struct {
	mu   sync.Mutex
	err  error
	runs atomic.Int64
}

func (s *switchable) set(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *switchable) run(context.Context) (map[string]any, error) {
	s.runs.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{"n": 1}, s.err
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func get(t *testing.T, h http.Handler, target string) (int, string, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w.Code, w.Header().Get("Content-Type"), w.Body.String()
}

func waitRuns(t *testing.T, s *switchable, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.runs.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the check ran %d times, want %d", s.runs.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChecker: the answer follows the last results — ready, degraded (200,
// naming the failing provider), not ready (503, naming the critical check)
// — with the public reason only; ?verbose is the JSON report; each change
// of state is logged once with the full error.
func TestChecker(t *testing.T) {
	st, prov := &switchable{}, &switchable{}
	logs := &syncBuf{}
	c := New([]Check{
		{Name: "store", Kind: "redis", Critical: true, Interval: 20 * time.Millisecond, Run: st.run},
		{Name: "provider corp", Kind: "ldap", Interval: 20 * time.Millisecond, Run: prov.run},
	}, slog.New(slog.NewTextHandler(logs, nil)))

	// Before Start: nothing checked, not ready.
	if code, _, body := get(t, c, "/readyz"); code != 503 || body != "not ready: store (not checked yet)\n" {
		t.Errorf("before start: %d %q", code, body)
	}
	stop := c.Start(context.Background())
	defer stop()
	// Start ran the critical check before returning.
	if st.runs.Load() == 0 {
		t.Error("Start returned before the critical check ran")
	}
	waitRuns(t, prov, 1)
	if code, ctype, body := get(t, c, "/readyz"); code != 200 || body != "ready\n" || !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("all ok: %d %s %q", code, ctype, body)
	}

	const secret = "dial tcp 10.1.2.3:636: bind as cn=reader failed"
	prov.set(Fail("unreachable", errors.New(secret)))
	waitRuns(t, prov, prov.runs.Load()+2)
	code, _, body := get(t, c, "/readyz")
	if code != 200 || body != "ready, degraded: provider corp (unreachable)\n" {
		t.Errorf("provider failing: %d %q", code, body)
	}
	st.set(errors.New(secret))
	waitRuns(t, st, st.runs.Load()+2)
	code, _, body = get(t, c, "/readyz")
	if code != 503 || body != "not ready: store (failed)\n" {
		t.Errorf("store failing: %d %q", code, body)
	}
	code, ctype, verbose := get(t, c, "/readyz?verbose")
	var rep Report
	if err := json.Unmarshal([]byte(verbose), &rep); err != nil || code != 503 || ctype != "application/json" {
		t.Fatalf("verbose: %d %s %v\n%s", code, ctype, err, verbose)
	}
	if rep.Status != StatusNotReady || len(rep.Checks) != 2 || rep.Checks[0].State != StateFailing || rep.Checks[1].Reason != "unreachable" ||
		rep.Checks[1].Kind != "ldap" || rep.Checks[1].Detail["n"] != float64(1) || rep.Checks[1].Since == nil || rep.Checks[1].CheckedAt == nil {
		t.Errorf("verbose report: %+v", rep)
	}
	if strings.Contains(verbose, "10.1.2.3") || strings.Contains(body, "10.1.2.3") {
		t.Errorf("an upstream's error reached the probe:\n%s", verbose)
	}
	if n := strings.Count(logs.String(), "health check failing"); n != 2 || !strings.Contains(logs.String(), "10.1.2.3") {
		t.Errorf("want each failure logged once with its error:\n%s", logs.String())
	}

	st.set(nil)
	prov.set(nil)
	waitRuns(t, prov, prov.runs.Load()+2)
	waitRuns(t, st, st.runs.Load()+2)
	if code, _, body := get(t, c, "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("recovered: %d %q", code, body)
	}
	if n := strings.Count(logs.String(), "health check recovered"); n != 2 {
		t.Errorf("want each recovery logged once:\n%s", logs.String())
	}
}

// TestCheckerTimeoutAndPanic: a check that hangs is ended by its timeout
// ("timed out"); one that panics is a failure, not a crash; stop waits for
// the runs to end.
func TestCheckerTimeoutAndPanic(t *testing.T) {
	c := New([]Check{
		{Name: "hang", Kind: "x", Critical: true, Timeout: 50 * time.Millisecond, Interval: time.Hour,
			Run: func(ctx context.Context) (map[string]any, error) { <-ctx.Done(); return nil, ctx.Err() }},
		{Name: "boom", Kind: "y", Critical: true, Interval: time.Hour,
			Run: func(context.Context) (map[string]any, error) { panic("boom") }},
	}, nil)
	stop := c.Start(context.Background())
	rep := c.Report()
	stop()
	if rep.Status != StatusNotReady || rep.Checks[0].Reason != "timed out" || rep.Checks[1].Reason != "failed" {
		t.Errorf("report: %+v", rep)
	}
	if line := rep.Line(); line != "not ready: hang (timed out), boom (failed)" {
		t.Errorf("line: %q", line)
	}
}
