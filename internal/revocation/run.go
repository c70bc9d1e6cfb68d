package revocation

import (
	"context"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// failureReminder is how often a resync that keeps failing is logged again.
const failureReminder = time.Minute

// watchBatch is the most announcements applied in one merge.
const watchBatch = 256

// Run keeps the Set in step with the store until ctx ends, then returns
// nil: it watches the store's announcements (applied as they come) and
// resyncs every Options.Resync, which heals whatever the watch missed (a
// message lost while a Redis subscriber reconnected, a watch that ended)
// and drops expired entries. A resync reads the generation counter Add
// advances and lists every entry only when it moved, and at least every
// 30th time. A watch that ends is
// started again at the next resync. Failures are logged when they start,
// every minute while they last, and when they end; the Set keeps what it
// has meanwhile.
func (s *Set) Run(ctx context.Context) error {
	tick := time.NewTicker(s.period)
	defer tick.Stop()
	r := runner{s: s}
	defer r.stopWatch()
	// Watch first, then list everything: an entry added in between is in
	// one or the other.
	r.startWatch(ctx)
	r.fullSync(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if r.watch == nil {
				r.startWatch(ctx)
			}
			r.sync(ctx)
		case rec, ok := <-r.watch:
			if !ok {
				r.stopWatch()
				continue
			}
			r.applyAnnounced(rec)
		}
	}
}

// runner is the state of one Run.
type runner struct {
	s           *Set
	watch       <-chan store.RevocationRecord
	cancelWatch context.CancelFunc
	failing     bool
	lastLogged  time.Time
}

func (r *runner) startWatch(ctx context.Context) {
	if r.s.st == nil {
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	ch, err := r.s.st.WatchRevocations(wctx)
	if err != nil {
		cancel()
		r.s.log.Warn("revocation: cannot watch the store; relying on resync", "err", err)
		return
	}
	r.watch, r.cancelWatch = ch, cancel
}

func (r *runner) stopWatch() {
	if r.cancelWatch != nil {
		r.cancelWatch()
	}
	r.watch, r.cancelWatch = nil, nil
}

// applyAnnounced merges rec and whatever else is already waiting.
func (r *runner) applyAnnounced(rec store.RevocationRecord) {
	recs := []store.RevocationRecord{rec}
	for len(recs) < watchBatch {
		select {
		case more, ok := <-r.watch:
			if !ok {
				r.stopWatch()
				r.s.merge(recs, false)
				return
			}
			recs = append(recs, more)
			continue
		default:
		}
		break
	}
	r.s.merge(recs, false)
}

// sync runs one bounded periodic resync.
func (r *runner) sync(ctx context.Context) { r.bounded(ctx, r.s.resync) }

// fullSync runs one bounded full listing.
func (r *runner) fullSync(ctx context.Context) { r.bounded(ctx, r.s.Sync) }

// bounded runs fn within syncTimeout and logs failures without flooding.
func (r *runner) bounded(ctx context.Context, fn func(context.Context) error) {
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	err := fn(sctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	switch {
	case err == nil && r.failing:
		r.failing = false
		r.s.log.Info("revocation: resync works again")
	case err != nil && (!r.failing || now.Sub(r.lastLogged) >= failureReminder):
		r.failing = true
		r.lastLogged = now
		r.s.log.Warn("revocation: resync failed; keeping the entries already known", "err", err)
	}
}
