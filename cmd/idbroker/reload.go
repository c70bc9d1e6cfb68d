package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
)

// swapHandler serves the current app; a reload replaces it atomically, so
// requests in flight finish on the configuration they started with, and
// the previous app is closed once they have (applife.go).
type swapHandler struct {
	a atomic.Pointer[app]

	mu      sync.Mutex
	retired []<-chan struct{}
	// shut: closeAll ran; an app set afterwards (a reload racing the
	// shutdown) is closed at once.
	shut bool
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for {
		a := s.a.Load()
		if a.requests.enter() {
			defer a.requests.leave()
			a.handler.ServeHTTP(w, r)
			return
		}
		// a was retired between the load and the entry: the next load
		// finds its successor.
	}
}

// set makes a the app served; the one it replaces (if any) is handed what
// a reuses and retired.
func (s *swapHandler) set(a *app) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		a.close()
		return
	}
	prev := s.a.Swap(a)
	if prev == nil {
		return
	}
	prev.handOver(a)
	s.retired = append(s.retired, prev.retire())
}

// closeAll, at shutdown (the server has stopped serving), closes the
// current app and waits for the retired ones to be closed.
func (s *swapHandler) closeAll() {
	s.mu.Lock()
	s.shut = true
	cur, retired := s.a.Load(), s.retired
	s.retired = nil
	s.mu.Unlock()
	if cur != nil {
		cur.close()
	}
	for _, done := range retired {
		<-done
	}
}

// restartOnly lists the settings a reload cannot apply: they are read once,
// when the process starts. A reload that changes one keeps the running
// value and says so in the log.
var restartOnly = []struct {
	key string
	get func(*fileConfig) any
	// keep puts the running value back into the next configuration.
	keep func(next, running *fileConfig)
}{
	{"server.tls", func(c *fileConfig) any { return c.Server.TLS }, func(n, r *fileConfig) { n.Server.TLS = r.Server.TLS }},
	{"store", func(c *fileConfig) any { return c.Store }, func(n, r *fileConfig) { n.Store = r.Store }},
	{"logging", func(c *fileConfig) any { return c.Logging }, func(n, r *fileConfig) { n.Logging = r.Logging }},
	{"server.metrics_listen", func(c *fileConfig) any { return c.Server.MetricsListen }, func(n, r *fileConfig) { n.Server.MetricsListen = r.Server.MetricsListen }},
	{"server.metrics_on_public", func(c *fileConfig) any { return c.Server.MetricsOnPublic }, func(n, r *fileConfig) { n.Server.MetricsOnPublic = r.Server.MetricsOnPublic }},
}

// keepRestartOnly puts the running values of the restart-only settings into
// next, and returns the keys whose value in the file differs from them.
// server.listen is one: the running value is the address bound, which
// listenFrom (the address configured at start, port 0 perhaps) asked for.
func keepRestartOnly(next, running *fileConfig, listenFrom string) []string {
	var changed []string
	if l := next.Server.Listen; l != "" && l != listenFrom && l != running.Server.Listen {
		changed = append(changed, "server.listen")
	}
	next.Server.Listen = running.Server.Listen
	for _, s := range restartOnly {
		if !reflect.DeepEqual(s.get(next), s.get(running)) {
			changed = append(changed, s.key)
		}
		s.keep(next, running)
	}
	return changed
}

// reloadLoop re-reads the configuration on every trigger. The settings of
// restartOnly stay as they are (the log names those that changed); keys
// are re-read from keys.dir (so a retired key stops verifying), and
// in-memory demo keys are kept (so issued credentials stay valid). The new
// configuration's checks have run once before it serves; the previous one
// is closed once its requests have ended.
func reloadLoop(ctx context.Context, trigger <-chan os.Signal, reload func() (*fileConfig, error), running *fileConfig, listenFrom string, sec *secrets, log *slog.Logger, current *swapHandler, keys *keyFollower) {
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
		if changed := keepRestartOnly(next, running, listenFrom); len(changed) > 0 {
			log.Warn("configuration reload: these settings change only on restart; their running values are kept", "settings", fmt.Sprint(changed))
		}
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
		cur := current.a.Load()
		nextSec.store, nextSec.revocations, nextSec.revocationsFor = cur.store, cur.revocations, cur.revocationsFor
		nextSec.metrics = sec.metrics
		a, err := assemble(next, &nextSec, log)
		if err != nil {
			log.Error("configuration reload failed; keeping the running configuration", "err", err)
			reloaded(sec, false)
			continue
		}
		a.startRevocations(ctx, log)
		a.startHealth(ctx)
		current.set(a)
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
