package oidc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// gate runs an operation at most once at a time and at most once per
// interval. Callers arriving while it runs wait for its result; callers
// arriving within the interval after it finished get errThrottled wrapping
// the last error without anything being run. The operation runs on a
// context detached from the caller's cancellation, so one impatient caller
// cannot fail it for the others.
type gate struct {
	interval time.Duration

	mu          sync.Mutex
	inflight    *flight
	lastAttempt time.Time
	lastErr     error // of the last finished run
	finished    int   // runs finished
}

type flight struct {
	done chan struct{}
	err  error
}

var errThrottled = errors.New("refresh throttled")

func (g *gate) run(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	g.mu.Lock()
	fl := g.inflight
	if fl == nil {
		if !g.lastAttempt.IsZero() && time.Since(g.lastAttempt) < g.interval {
			last := g.lastErr
			g.mu.Unlock()
			if last != nil {
				return fmt.Errorf("%w (last attempt: %w)", errThrottled, last)
			}
			return errThrottled
		}
		fl = &flight{done: make(chan struct{})}
		g.inflight = fl
		g.lastAttempt = time.Now()
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		go func() {
			defer cancel()
			err := fn(runCtx)
			g.mu.Lock()
			g.lastErr = err
			g.finished++
			g.inflight = nil
			g.mu.Unlock()
			fl.err = err
			close(fl.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-fl.done:
		return fl.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lastOK reports whether a run has finished and the last one to finish
// succeeded.
func (g *gate) lastOK() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.finished > 0 && g.lastErr == nil
}
