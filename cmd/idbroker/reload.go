package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
)

// swapHandler serves the current handler; a reload replaces it atomically,
// so requests in flight finish on the configuration they started with.
type swapHandler struct {
	a      atomic.Pointer[app]
	mu     sync.Mutex
	closes []func()
}

func (s *swapHandler) set(a *app) { s.a.Store(a) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.a.Load().handler.ServeHTTP(w, r)
}

// track remembers a cleanup to run at shutdown.
func (s *swapHandler) track(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes = append(s.closes, f)
}

func (s *swapHandler) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.closes {
		f()
	}
	s.closes = nil
}

// reloadLoop re-reads the configuration on every trigger. The listen address
// stays; keys are re-read from keys.dir (so a retired key stops verifying),
// and in-memory demo keys are kept (so issued credentials stay valid).
func reloadLoop(ctx context.Context, trigger <-chan os.Signal, reload func() (*fileConfig, error), running *fileConfig, sec *secrets, log *slog.Logger, current *swapHandler, keys *keyFollower) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-trigger:
		}
		next, err := reload()
		if err != nil {
			log.Error("configuration reload failed; keeping the running configuration", "err", err)
			reloaded(sec, false)
			continue
		}
		if next.Server.Listen != running.Server.Listen && next.Server.Listen != "" {
			log.Warn("server.listen changes only on restart", "running", running.Server.Listen, "configured", next.Server.Listen)
		}
		next.Server.Listen = running.Server.Listen
		nextSec := *sec
		if next.Keys.Dir != "" {
			loaded, err := loadSecrets(next, log, keys.reuse(next.Keys.Dir))
			if err != nil {
				log.Error("configuration reload failed; keeping the running configuration", "err", err)
				reloaded(sec, false)
				continue
			}
			nextSec = *loaded
		}
		nextSec.store, nextSec.revocations, nextSec.revocationsFor = nil, nil, ""
		nextSec.metrics = sec.metrics
		if cur := current.a.Load(); next.Store == running.Store {
			nextSec.store, nextSec.revocations, nextSec.revocationsFor = cur.store, cur.revocations, cur.revocationsFor
		}
		a, err := assemble(next, &nextSec, log)
		if err != nil {
			log.Error("configuration reload failed; keeping the running configuration", "err", err)
			reloaded(sec, false)
			continue
		}
		a.startRevocations(ctx, log)
		current.set(a)
		current.track(a.close)
		keys.follow(nextSec.ring)
		running, sec = next, &nextSec
		log.Info("configuration reloaded")
		reloaded(sec, true)
	}
}

// reloaded counts a reload in the process's metrics.
func reloaded(sec *secrets, ok bool) {
	if sec.metrics != nil {
		sec.metrics.Reloaded(ok)
	}
}
