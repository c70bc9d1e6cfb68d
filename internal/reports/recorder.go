// Package reports keeps what IAM's own audit tools show, for idbroker: the
// credential report (one row per person: sign-ins, issuances per role, MFA,
// sessions, lock-out, revocation) and the access advisor (per role, each
// action the authorize API was asked about, and the actions its policies
// allow that nobody used).
//
// The broker feeds a Recorder from two places (its audit function and the
// authorize API). Recording never waits: an event goes into a bounded
// in-memory queue, and one goroutine folds the queue into per-record
// changes and writes them to the store in batches (store aggregates, shared
// by every replica). When the queue is full the event is dropped and
// counted (Dropped), never blocking a request.
//
// The aggregates live reports.retention (default 90 days) after their last
// change: a person or an action nobody touched for that long leaves the
// reports.
package reports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// Defaults of Options.
const (
	DefaultRetention = 90 * 24 * time.Hour
	MinRetention     = 24 * time.Hour
	MaxRetention     = store.MaxLifetime
	// DefaultQueueSize bounds each queue (decisions, person events). The
	// garbage collector scans a queue's whole buffer at every cycle, so it
	// is kept small and drained often rather than made large.
	DefaultQueueSize     = 2048
	DefaultFlushInterval = time.Second
	// storeTimeout bounds one batch written to the store.
	storeTimeout = 5 * time.Second
)

// Options configures a Recorder. Zero fields take the defaults.
type Options struct {
	// Retention is how long an aggregate lives after its last change
	// (reports.retention; 1 day to 366 days; default 90 days).
	Retention time.Duration
	// QueueSize bounds the events waiting to be folded, per queue (the
	// authorize decisions, the person events).
	QueueSize int
	// FlushInterval is how often the queue's changes are written.
	FlushInterval time.Duration
	// RolePolicies are the permission policy documents (inline and managed,
	// JSON) of each configured role, by role ARN: the access advisor lists
	// the actions they allow that nobody used.
	RolePolicies map[string][][]byte
	// MFA reads the MFA columns of the credential report; nil leaves them
	// empty.
	MFA    MFAStatus
	Logger *slog.Logger
	Now    func() time.Time
}

// MFAStatus is what the credential report needs of the broker's MFA
// enrolments (internal/mfa's Service implements it).
type MFAStatus interface {
	MFAStatus(ctx context.Context, provider, username string) (enrolled bool, lastUsed time.Time, err error)
}

// ValidateRetention checks a reports.retention value (0 is the default).
func ValidateRetention(d time.Duration) error {
	if d != 0 && (d < MinRetention || d > MaxRetention) {
		return fmt.Errorf("%s must be between 24h and %s", d, MaxRetention)
	}
	return nil
}

// Recorder records events off the hot path and answers the reports.
type Recorder struct {
	st      store.Store
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	access  chan AccessEvent
	persons chan PersonEvent

	dropped   atomic.Uint64
	unwritten atomic.Uint64
	// burst is set by the first drop of a burst (which logs) and cleared
	// by the writer once the queue has room again.
	burst atomic.Bool

	// kick wakes the writer when the queue is half full (kickAt).
	kick      chan struct{}
	kickAt    int
	flushReq  chan chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New starts a Recorder writing to st; Close stops it.
func New(st store.Store, opts Options) (*Recorder, error) {
	if st == nil {
		return nil, errors.New("reports: a store is required")
	}
	if err := ValidateRetention(opts.Retention); err != nil {
		return nil, fmt.Errorf("reports: retention: %w", err)
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Recorder{
		st: st, opts: opts, log: opts.Logger, now: opts.Now,
		access:  make(chan AccessEvent, opts.QueueSize),
		persons: make(chan PersonEvent, opts.QueueSize),
		kick:    make(chan struct{}, 1), kickAt: max(1, opts.QueueSize/2),
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}), done: make(chan struct{}),
	}
	go r.run()
	return r, nil
}

// Retention is the configured retention.
func (r *Recorder) Retention() time.Duration { return r.opts.Retention }

// Dropped is how many events were dropped because the queue was full.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Unwritten is how many record changes were lost because the store
// refused or could not take their batch.
func (r *Recorder) Unwritten() uint64 { return r.unwritten.Load() }

// enqueue queues ev on q without waiting (events are queued by value:
// recording allocates nothing).
func enqueue[E any](r *Recorder, q chan E, ev E) {
	select {
	case q <- ev:
		if len(q) >= r.kickAt {
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}
	default:
		r.dropped.Add(1)
		if !r.burst.Swap(true) {
			r.log.Warn("reports: the queue is full, events are dropped (the reports will undercount)",
				slog.Int("queue_size", r.opts.QueueSize), slog.Uint64("dropped_total", r.dropped.Load()))
		}
	}
}

// Flush writes every event queued before it was called, or returns ctx's
// error. The report APIs call it so a report includes what this replica
// has just recorded.
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.flushReq <- done:
	case <-r.done:
		return errors.New("reports: the recorder is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is queued (within a few seconds) and stops the writer.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() { close(r.stop) })
	<-r.done
	return nil
}

// drainInterval is how often the writer empties the queue between writes;
// a queue half full wakes it at once (kick). Recording an event therefore
// never wakes the writer by itself: a goroutine switch per authorize
// request would cost more than the request.
const drainInterval = 20 * time.Millisecond

// run is the one writer: it folds queued events into pending changes and
// writes them every FlushInterval, at MaxAggregateBatch pending records,
// on Flush and on Close.
func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(min(drainInterval, r.opts.FlushInterval))
	defer t.Stop()
	p := newPending()
	lastWrite := time.Now()
	drain := func() {
		for {
			select {
			case ev := <-r.access:
				p.addAccess(&ev)
			case ev := <-r.persons:
				p.add(setPerson, personID(ev.Provider, ev.Username), ev.ops())
			default:
				return
			}
			if p.size() >= store.MaxAggregateBatch {
				r.write(p)
				lastWrite = time.Now()
			}
		}
	}
	for {
		select {
		case <-t.C:
			drain()
			if time.Since(lastWrite) >= r.opts.FlushInterval {
				r.write(p)
				lastWrite = time.Now()
			}
		case <-r.kick:
			drain()
		case done := <-r.flushReq:
			drain()
			r.write(p)
			lastWrite = time.Now()
			close(done)
		case <-r.stop:
			drain()
			r.write(p)
			return
		}
	}
}

// write stores the pending changes in batches and empties p. A batch the
// store does not take is lost (counted in Unwritten, logged): the reports
// undercount rather than hold memory without bound while the store is
// down.
func (r *Recorder) write(p *pending) {
	if len(r.access) < r.kickAt && len(r.persons) < r.kickAt {
		r.burst.Store(false)
	}
	if p.size() == 0 {
		return
	}
	updates := p.updates(r.now().Add(r.opts.Retention))
	p.reset()
	for len(updates) > 0 {
		n := min(len(updates), store.MaxAggregateBatch)
		batch := updates[:n]
		updates = updates[n:]
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := r.st.UpdateAggregates(ctx, batch)
		cancel()
		if err != nil {
			r.unwritten.Add(uint64(len(batch)))
			r.log.Warn("reports: changes not written to the store", slog.Int("records", len(batch)), slog.Any("err", err))
		}
	}
}
