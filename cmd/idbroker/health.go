package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/health"
	"github.com/idbroker/idbroker/internal/revocation"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
)

// /readyz answers from checks run in the background (internal/health):
// the state store and the revocation set, whose failure makes the replica
// not ready, and each provider that can check its upstream (an LDAP
// directory's service bind, an OIDC issuer's discovery and JWKS, a SAML
// IdP's metadata age), whose failure only makes it degraded.

// Intervals of the checks: the store and the revocation set are looked at
// often (a replica whose store is gone must leave the load balancer
// quickly), the upstreams less (each run costs the upstream a request).
const (
	storeCheckInterval    = 2 * time.Second
	upstreamCheckInterval = 10 * time.Second
	healthCheckTimeout    = 3 * time.Second
)

// upstreamHealth is a provider that can check its upstream for /readyz
// (providers/ldap, providers/oidc, providers/saml). The detail is safe to
// show to anyone (ages, counts); the error is logged, never shown.
type upstreamHealth interface {
	Health(ctx context.Context) (map[string]any, error)
}

// newHealth is the checker of one app: its store, its revocation set, its
// providers. It is started with the app (startHealth) and stopped with it.
func newHealth(cfg *fileConfig, st store.Store, revs *revocation.Set, bps []broker.Provider, log *slog.Logger) *health.Checker {
	kind := cfg.Store.Type
	if kind == "" {
		kind = store.TypeMemory
	}
	checks := []health.Check{
		{Name: "store", Kind: kind, Critical: true, Interval: storeCheckInterval, Timeout: healthCheckTimeout,
			Run: func(ctx context.Context) (map[string]any, error) { return nil, publicReason(st.Ping(ctx)) }},
		{Name: "revocations", Kind: "revocation set", Critical: true, Interval: storeCheckInterval, Timeout: healthCheckTimeout,
			Run: func(context.Context) (map[string]any, error) { return revocationHealth(revs) }},
	}
	for _, p := range bps {
		h, ok := p.Impl.(upstreamHealth)
		if !ok {
			continue // static users: nothing upstream
		}
		checks = append(checks, health.Check{Name: "provider " + p.Name, Kind: p.Type, Interval: upstreamCheckInterval, Timeout: healthCheckTimeout,
			Run: func(ctx context.Context) (map[string]any, error) {
				detail, err := h.Health(ctx)
				return detail, publicReason(err)
			}})
	}
	return health.New(checks, log)
}

// revocationHealth: the set has synced with the store, recently.
func revocationHealth(revs *revocation.Set) (map[string]any, error) {
	last := revs.LastSync()
	if last.IsZero() {
		return nil, health.Fail("not synced", errors.New("the revocation set has not synced with the store yet"))
	}
	age := time.Since(last)
	detail := map[string]any{"synced_seconds_ago": int64(age / time.Second)}
	if age > revocationStaleAfter {
		return detail, health.Fail("stale", errors.New("the revocation set last synced with the store at "+last.UTC().Format(time.RFC3339)))
	}
	return detail, nil
}

// publicReason gives err the short reason a probe may see.
func publicReason(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return health.Fail("timed out", err)
	case errors.Is(err, providers.ErrConfiguration):
		return health.Fail("misconfigured", err)
	case errors.Is(err, providers.ErrUnavailable), errors.Is(err, store.ErrUnavailable):
		return health.Fail("unreachable", err)
	}
	return health.Fail("failed", err)
}

// startHealth starts the app's checks (the critical ones run once before
// it returns); the app's close stops them.
func (a *app) startHealth(ctx context.Context) {
	a.stopHealth = a.health.Start(ctx)
}
