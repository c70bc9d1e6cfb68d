package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/metrics"
	"github.com/idbroker/idbroker/internal/ratelimit"
	"github.com/idbroker/idbroker/internal/reports"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/sts"
)

// The operator's side of serve: the issuance limits and the metrics (their
// own listener, server.metrics_listen; on the public one only with
// server.metrics_on_public).

// newLimiter builds the limits block's limiter over st (nil when no limit
// is set), counting its refusals in m.
func newLimiter(cfg *fileConfig, st store.Store, m *metrics.Metrics) (*ratelimit.Limiter, error) {
	var opts ratelimit.Options
	if m != nil {
		opts.OnThrottle = m.Throttled
	}
	return ratelimit.New(cfg.Limits.limits(), st, opts)
}

// brokerLimiter is l as the broker takes it: no interface value for a nil
// limiter, so that the broker skips the limits altogether.
func brokerLimiter(l *ratelimit.Limiter) broker.IssueLimiter {
	if l == nil {
		return nil
	}
	return l
}

// brokerObserver is m as the broker takes it (none for nil).
func brokerObserver(m *metrics.Metrics) broker.Observer {
	if m == nil {
		return nil
	}
	return m
}

// observeApp points m at an assembled app: the configured providers and
// roles bound its labels, the app's store counts active sessions, its
// STS the credentials minted and its report recorder (nil: none) the
// events it lost.
func observeApp(m *metrics.Metrics, cfg *fileConfig, st store.Store, svc *sts.Service, rec *reports.Recorder) {
	if m == nil {
		return
	}
	providers := make([]string, 0, len(cfg.Providers))
	for _, p := range cfg.Providers {
		providers = append(providers, p.Name)
	}
	roles := make(map[string]string, len(cfg.Roles))
	for _, r := range cfg.Roles {
		roles[cfg.roleARN(r)] = r.Name
	}
	m.Configure(providers, roles)
	m.CountSessionsWith(st.CountSessions)
	m.IssuedFrom(svc.Issued)
	if rec != nil {
		m.ReportsFrom(rec.Dropped, rec.Unwritten)
	}
}

// metricsListener serves m's GET /metrics alone on addr until ctx ends.
// It returns the bound address (addr may have port 0) and a stop function
// that waits for the server to end.
func metricsListener(ctx context.Context, addr string, m *metrics.Metrics, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("server.metrics_listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "err", err)
		}
	}()
	bound := ln.Addr().String()
	log.Info("metrics listening", "addr", bound)
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}
	return bound, stop, nil
}
