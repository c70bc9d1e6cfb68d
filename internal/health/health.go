// Package health runs a broker's readiness checks in the background and
// answers /readyz from their last results, so that a probe costs no I/O
// and answers in microseconds whatever state the upstreams are in.
//
// Each Check runs on its own ticker with its own timeout; the Checker keeps
// its last result (ok or not, when, how long it took, since when it is in
// that state). A failing critical check (the state store, the revocation
// set) makes the replica not ready: 503, so a load balancer stops sending
// it traffic. A failing provider check only makes it degraded: 200, since
// the replica still serves every other provider, and every replica shares
// the same upstreams (taking them all out would turn one provider's outage
// into a full one).
//
// What a probe sees never holds an upstream's own error text, which may
// name hosts, DNs or URLs: only the check's name, kind, state and a short
// public reason ("unreachable", "timed out", …). The full error is logged,
// once each time a check changes state.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for a Check's Interval and Timeout.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 5 * time.Second
)

// Check is one dependency to watch.
type Check struct {
	// Name is what probes and logs call it: "store", "provider corp".
	Name string
	// Kind is the dependency's type: "redis", "memory", "ldap", "oidc", ….
	Kind string
	// Critical checks make the replica not ready when they fail.
	Critical bool
	// Interval between runs (DefaultInterval when 0) and Timeout of each
	// run (DefaultTimeout when 0).
	Interval, Timeout time.Duration
	// Run checks the dependency once. Its detail (optional) is shown to
	// probes as is: it must hold nothing secret nor any upstream's text
	// (ages, counts). Its error is logged; probes see Reason(err).
	Run func(ctx context.Context) (detail map[string]any, err error)
}

// Failure is an error with the short public reason probes are shown.
type Failure struct {
	// Reason is shown to probes: "unreachable", "timed out", ….
	Reason string
	Err    error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Reason
	}
	return f.Reason + ": " + f.Err.Error()
}

func (f *Failure) Unwrap() error { return f.Err }

// Fail wraps err with a public reason.
func Fail(reason string, err error) error { return &Failure{Reason: reason, Err: err} }

// Reason is the public reason of a check's error: a Failure's, "timed out"
// for a deadline, else "failed".
func Reason(err error) string {
	var f *Failure
	switch {
	case err == nil:
		return ""
	case errors.As(err, &f):
		return f.Reason
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return "failed"
}

// The states of a check, and the status of the replica.
const (
	StatePending   = "pending" // not run yet
	StateOK        = "ok"
	StateFailing   = "failing"
	StatusReady    = "ready"
	StatusDegraded = "degraded"
	StatusNotReady = "not ready"
)

// Result is a check's last run, as probes see it.
type Result struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Critical bool   `json:"critical"`
	State    string `json:"state"`
	// Reason is the public reason of a failure ("" when ok).
	Reason string `json:"reason,omitempty"`
	// CheckedAt is when the last run ended; Since when the check has been
	// in State; TookMS how long the last run took.
	CheckedAt *time.Time     `json:"checked_at,omitempty"`
	Since     *time.Time     `json:"since,omitempty"`
	TookMS    float64        `json:"took_ms"`
	Detail    map[string]any `json:"detail,omitempty"`
}

// Report is the replica's state: what /readyz?verbose answers.
type Report struct {
	Status string   `json:"status"`
	Checks []Result `json:"checks"`
}

// Checker runs checks and holds their last results. Create it with New,
// start it with Start, stop it with the function Start returns.
type Checker struct {
	checks []Check
	log    *slog.Logger
	now    func() time.Time

	mu      sync.RWMutex
	results []Result
}

// New returns a Checker for checks (not started). log may be nil.
func New(checks []Check, log *slog.Logger) *Checker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{checks: slices.Clone(checks), log: log, now: time.Now, results: make([]Result, len(checks))}
	for i, ch := range c.checks {
		if c.checks[i].Interval <= 0 {
			c.checks[i].Interval = DefaultInterval
		}
		if c.checks[i].Timeout <= 0 {
			c.checks[i].Timeout = DefaultTimeout
		}
		c.results[i] = Result{Name: ch.Name, Kind: ch.Kind, Critical: ch.Critical, State: StatePending}
	}
	return c
}

// Start runs the critical checks once before it returns (so a replica that
// starts serving reports its store at once), then every check on its own
// ticker (the others' first run at once, in the background) until ctx ends
// or stop is called; stop returns once every run has ended.
func (c *Checker) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var first sync.WaitGroup
	for i := range c.checks {
		if c.checks[i].Critical {
			first.Go(func() { c.runOne(ctx, i) })
		}
	}
	first.Wait()
	var wg sync.WaitGroup
	for i := range c.checks {
		wg.Go(func() { c.loop(ctx, i, !c.checks[i].Critical) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

func (c *Checker) loop(ctx context.Context, i int, runNow bool) {
	if runNow {
		c.runOne(ctx, i)
	}
	t := time.NewTicker(c.checks[i].Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.runOne(ctx, i)
		}
	}
}

// runOne runs check i under its timeout and records the result; a change
// of state is logged (a failure with its full error).
func (c *Checker) runOne(ctx context.Context, i int) {
	ch := c.checks[i]
	rctx, cancel := context.WithTimeout(ctx, ch.Timeout)
	start := c.now()
	detail, err := safeRun(rctx, ch.Run)
	cancel()
	if ctx.Err() != nil {
		return // stopping: a cancelled run says nothing about the dependency
	}
	end := c.now()
	state := StateOK
	if err != nil {
		state = StateFailing
	}
	c.mu.Lock()
	prev := c.results[i]
	r := Result{Name: ch.Name, Kind: ch.Kind, Critical: ch.Critical, State: state, Reason: Reason(err),
		CheckedAt: &end, Since: prev.Since, TookMS: float64(end.Sub(start).Microseconds()) / 1000, Detail: detail}
	if prev.State != state {
		r.Since = &end
	}
	c.results[i] = r
	c.mu.Unlock()
	switch {
	case prev.State == state:
	case err != nil:
		c.log.Warn("health check failing", "check", ch.Name, "kind", ch.Kind, "critical", ch.Critical, "err", err)
	case prev.State == StateFailing:
		c.log.Info("health check recovered", "check", ch.Name, "kind", ch.Kind)
	}
}

// safeRun runs fn, turning a panic into an error: a check never takes the
// process down.
func safeRun(ctx context.Context, fn func(context.Context) (map[string]any, error)) (detail map[string]any, err error) {
	defer func() {
		if p := recover(); p != nil {
			detail, err = nil, fmt.Errorf("health check panicked: %v", p)
		}
	}()
	return fn(ctx)
}

// Report returns the last results and the replica's status: not ready when
// a critical check is failing or has not run, degraded when another check
// is failing, else ready.
func (c *Checker) Report() Report {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rep := Report{Status: StatusReady, Checks: make([]Result, len(c.results))}
	for i, r := range c.results {
		rep.Checks[i] = r
		switch {
		case r.Critical && r.State != StateOK:
			rep.Status = StatusNotReady
		case r.State == StateFailing && rep.Status == StatusReady:
			rep.Status = StatusDegraded
		}
	}
	return rep
}

// ServeHTTP answers /readyz from the last results: 200 when ready or
// degraded, 503 when not ready. The body is one line ("ready", "ready,
// degraded: provider corp", "not ready: store"), or with ?verbose the
// Report as JSON. Nothing is checked on the request's path.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := c.Report()
	code := http.StatusOK
	if rep.Status == StatusNotReady {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Has("verbose") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, rep.Line())
}

// Line is the report in one line: the status, and the checks behind it.
func (rep Report) Line() string {
	var critical, other []string
	for _, r := range rep.Checks {
		switch {
		case r.Critical && r.State != StateOK:
			critical = append(critical, r.Name+" ("+orPending(r)+")")
		case r.State == StateFailing:
			other = append(other, r.Name+" ("+r.Reason+")")
		}
	}
	switch rep.Status {
	case StatusNotReady:
		return "not ready: " + strings.Join(critical, ", ")
	case StatusDegraded:
		return "ready, degraded: " + strings.Join(other, ", ")
	}
	return "ready"
}

func orPending(r Result) string {
	if r.State == StatePending {
		return "not checked yet"
	}
	return r.Reason
}
