// Package metrics is idbroker's Prometheus instrumentation: the families
// an operator watches (logins, sessions, issuances, STS requests and their
// latency, upstream errors, lock-outs, throttles, revocations, store
// errors, reloads, build info), fed by the broker's Observer, the STS's
// Observer, the issuance limiter, the store and the reload loop. One
// Metrics lives as long as the process; a reload re-Configures the label
// bounds.
//
// Every label value is bounded: providers and roles not configured now
// are counted as "other", never by the name a request carried; no label
// holds a user name.
//
// It imports nothing of idbroker's.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values for what is absent or not configured.
const (
	labelNone  = "none"
	labelOther = "other"
	codeOK     = "OK"
)

// latencyBuckets cover an STS answer in process (sub-millisecond) to an
// upstream login that times out (10s).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// sessionsCacheFor is how long a counted number of active sessions is
// served before the store is asked again, so that several scrapers cost
// one count.
const sessionsCacheFor = 5 * time.Second

// Metrics holds the families. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	logins         *prometheus.CounterVec
	loginDuration  *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	issuances      *prometheus.CounterVec
	stsRequests    *prometheus.CounterVec
	stsDuration    *prometheus.HistogramVec
	httpDuration   *prometheus.HistogramVec
	lockouts       *prometheus.CounterVec
	throttles      *prometheus.CounterVec
	revocations    *prometheus.CounterVec
	storeErrors    *prometheus.CounterVec
	reloads        *prometheus.CounterVec

	bounds atomic.Pointer[bounds]

	sessionsMu    sync.Mutex
	countSessions func(context.Context) (int, error)
	sessionsAt    time.Time
	sessions      float64

	// issued is the STS's own count of minted credentials; reportsDropped
	// and reportsUnwritten the report recorder's losses (all three belong
	// to the running configuration and carry over a reload).
	issued, reportsDropped, reportsUnwritten carried
}

// carried is a counter read from a component that a reload replaces: the
// replaced one's count is kept, so the counter never goes back.
type carried struct {
	mu    sync.Mutex
	count func() uint64
	base  uint64
}

func (c *carried) from(count func() uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.count != nil {
		c.base += c.count()
	}
	c.count = count
}

func (c *carried) total() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.base
	if c.count != nil {
		n += c.count()
	}
	return float64(n)
}

// bounds are the configured providers and roles (role ARN → name).
type bounds struct {
	providers map[string]bool
	roles     map[string]string
}

// New registers every family (with Go's and the process's collectors) in
// a registry of its own. version is the build's, for idbroker_build_info.
func New(version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.bounds.Store(&bounds{})
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
		m.reg.MustRegister(h)
		return h
	}
	m.logins = counter("idbroker_logins_total", "Logins at the broker by provider and result (success, invalid_credentials, locked, unavailable, misconfigured, refused).", "provider", "result")
	m.loginDuration = histogram("idbroker_login_duration_seconds", "Time from a login request's arrival to its outcome, upstream round trips included, by provider.", "provider")
	m.upstreamErrors = counter("idbroker_upstream_errors_total", "Failures of an upstream provider: unavailable or misconfigured at login, or a failed re-check.", "provider", "kind")
	m.issuances = counter("idbroker_issuances_total", "Credentials issued or refused, by surface (api, portal, oauth2, sts) and configured role.", "surface", "role", "result")
	m.stsRequests = counter("idbroker_sts_requests_total", "STS Query API requests by action and answer code (OK or the AWS error code).", "action", "code")
	m.stsDuration = histogram("idbroker_sts_request_duration_seconds", "STS Query API request latency by action.", "action")
	m.httpDuration = histogram("idbroker_http_request_duration_seconds", "HTTP request latency by route (ServeMux pattern).", "route")
	m.lockouts = counter("idbroker_lockouts_total", "Password logins refused because the name, account or address is locked, by provider.", "provider")
	m.throttles = counter("idbroker_throttles_total", "Issuances refused by a rate limit, by surface and limit (user, role, source).", "surface", "limit")
	m.revocations = counter("idbroker_revocations_total", "Revocations recorded by administrators (admin) and sessions revoked because their person is gone upstream (account_gone).", "kind")
	m.storeErrors = counter("idbroker_store_errors_total", "State store calls that failed (the store unreachable or too slow), by operation.", "op")
	m.reloads = counter("idbroker_config_reloads_total", "Configuration reloads by result (success, failure).", "result")
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "idbroker_build_info", Help: "The running build: always 1, labelled with its version and Go version."}, []string{"version", "go_version"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m.reg.MustRegister(build)
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "idbroker_sessions_active",
		Help: "Broker sessions live in the state store (shared by every replica on one store), counted at most every 5s.",
	}, m.activeSessions))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "idbroker_sts_credentials_issued_total",
		Help: "Credentials minted by the STS, every surface included (kept across reloads).",
	}, m.issued.total))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "idbroker_report_events_dropped_total",
		Help: "Events the credential report and access advisor did not record because their queue was full (kept across reloads).",
	}, m.reportsDropped.total))
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "idbroker_report_events_unwritten_total",
		Help: "Events the credential report and access advisor lost because the state store refused their batch (kept across reloads).",
	}, m.reportsUnwritten.total))
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series whose label values are known start at zero, so that a rate
	// (and an alert) sees the first event.
	for _, kind := range []string{"admin", "account_gone"} {
		m.revocations.WithLabelValues(kind)
	}
	for _, result := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(result)
	}
	for _, op := range storeOps {
		m.storeErrors.WithLabelValues(op)
	}
	for _, surface := range []string{"api", "portal", "oauth2", "sts"} {
		for _, limit := range []string{"user", "role", "source"} {
			m.throttles.WithLabelValues(surface, limit)
		}
	}
	return m
}

// storeOps are the store calls counted in idbroker_store_errors_total.
var storeOps = []string{
	"Claim", "Incr", "Get", "SetTTL", "TTL", "Delete", "TakeRate", "CountSessions",
	"PutSession", "GetSession", "DeleteSession", "ListSessions", "ListSessionsPage",
	"AddRevocation", "Revocations", "Ping",
}

// loginResults are the results of idbroker_logins_total (broker.Login*).
var loginResults = []string{"success", "invalid_credentials", "locked", "unavailable", "misconfigured", "refused"}

// IssuedFrom sets the STS whose minted credentials the issued counter
// reads (replaced on reload; the replaced one's count is kept).
func (m *Metrics) IssuedFrom(count func() uint64) { m.issued.from(count) }

// ReportsFrom sets the report recorder whose lost events the two report
// counters read (replaced on reload, as IssuedFrom).
func (m *Metrics) ReportsFrom(dropped, unwritten func() uint64) {
	m.reportsDropped.from(dropped)
	m.reportsUnwritten.from(unwritten)
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Configure sets the label bounds: the configured providers' names and
// roles' ARNs and names (roleNames[arn]). Called at start and on reload.
func (m *Metrics) Configure(providers []string, roleNames map[string]string) {
	b := &bounds{providers: make(map[string]bool, len(providers)), roles: make(map[string]string, len(roleNames))}
	for _, p := range providers {
		b.providers[p] = true
	}
	for arn, name := range roleNames {
		b.roles[arn] = name
	}
	m.bounds.Store(b)
	for _, p := range providers {
		m.lockouts.WithLabelValues(p)
		for _, r := range loginResults {
			m.logins.WithLabelValues(p, r)
		}
		for _, kind := range []string{"unavailable", "misconfigured", "recheck"} {
			m.upstreamErrors.WithLabelValues(p, kind)
		}
	}
}

// CountSessionsWith sets how active sessions are counted (the store's
// CountSessions; replaced on reload).
func (m *Metrics) CountSessionsWith(count func(context.Context) (int, error)) {
	m.sessionsMu.Lock()
	defer m.sessionsMu.Unlock()
	m.countSessions, m.sessionsAt = count, time.Time{}
}

// activeSessions is the gauge's value: the store's count, cached for
// sessionsCacheFor; the last value when the store cannot answer (the
// failure is counted in idbroker_store_errors_total).
func (m *Metrics) activeSessions() float64 {
	m.sessionsMu.Lock()
	defer m.sessionsMu.Unlock()
	if m.countSessions == nil || time.Since(m.sessionsAt) < sessionsCacheFor {
		return m.sessions
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if n, err := m.countSessions(ctx); err == nil {
		m.sessions, m.sessionsAt = float64(n), time.Now()
	}
	return m.sessions
}

func (m *Metrics) provider(p string) string {
	switch {
	case p == "":
		return labelNone
	case m.bounds.Load().providers[p]:
		return p
	}
	return labelOther
}

func (m *Metrics) role(arn string) string {
	if arn == "" {
		return labelNone
	}
	if name, ok := m.bounds.Load().roles[arn]; ok {
		return name
	}
	return labelOther
}

func orNone(s string) string {
	if s == "" {
		return labelNone
	}
	return s
}

// Login implements broker.Observer.
func (m *Metrics) Login(provider, result string, took time.Duration) {
	p := m.provider(provider)
	m.logins.WithLabelValues(p, result).Inc()
	if took > 0 {
		m.loginDuration.WithLabelValues(p).Observe(took.Seconds())
	}
}

// UpstreamError implements broker.Observer.
func (m *Metrics) UpstreamError(provider, kind string) {
	m.upstreamErrors.WithLabelValues(m.provider(provider), kind).Inc()
}

// Issue implements broker.Observer.
func (m *Metrics) Issue(surface, roleARN, result string) {
	m.issuances.WithLabelValues(surface, m.role(roleARN), result).Inc()
}

// LockedOut implements broker.Observer.
func (m *Metrics) LockedOut(provider string) { m.lockouts.WithLabelValues(m.provider(provider)).Inc() }

// Revoked implements broker.Observer.
func (m *Metrics) Revoked(kind string) { m.revocations.WithLabelValues(kind).Inc() }

// Route implements broker.Observer.
func (m *Metrics) Route(pattern string, took time.Duration) {
	if pattern == "" {
		pattern = "unmatched"
	}
	m.httpDuration.WithLabelValues(pattern).Observe(took.Seconds())
}

// ObserveRequest implements sts.Observer.
func (m *Metrics) ObserveRequest(action, code string, took time.Duration) {
	if code == "" {
		code = codeOK
	}
	action = orNone(action)
	m.stsRequests.WithLabelValues(action, code).Inc()
	m.stsDuration.WithLabelValues(action).Observe(took.Seconds())
}

// ObserveIssued implements sts.Observer: credentials issued on a request
// made to the STS directly.
func (m *Metrics) ObserveIssued(_, roleARN string) {
	m.issuances.WithLabelValues("sts", m.role(roleARN), "issued").Inc()
}

// Throttled counts a refusal by the issuance limits.
func (m *Metrics) Throttled(surface, limit string) { m.throttles.WithLabelValues(surface, limit).Inc() }

// StoreError counts a failed store call.
func (m *Metrics) StoreError(op string) { m.storeErrors.WithLabelValues(op).Inc() }

// Reloaded counts a configuration reload.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
	} else {
		m.reloads.WithLabelValues("failure").Inc()
	}
}
