package store

import (
	"context"
	"sync"
)

// watchBuffer is how many revocations a watcher may have waiting before
// further ones are dropped for it (the caller's periodic resync heals).
const watchBuffer = 256

// fanout delivers revocations to the watchers of one process (Memory and
// File). A send never blocks the writer: a watcher whose buffer is full
// misses the record, as the WatchRevocations contract allows.
type fanout struct {
	mu       sync.Mutex
	closed   bool
	watchers map[chan RevocationRecord]struct{}
}

// watch registers a watcher until ctx ends or the fanout is closed.
func (f *fanout) watch(ctx context.Context) (<-chan RevocationRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, unavailable(err)
	}
	ch := make(chan RevocationRecord, watchBuffer)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(ch)
		return ch, nil
	}
	if f.watchers == nil {
		f.watchers = map[chan RevocationRecord]struct{}{}
	}
	f.watchers[ch] = struct{}{}
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.watchers[ch]; ok {
			delete(f.watchers, ch)
			close(ch)
		}
	})
	return ch, nil
}

// publish hands r to every watcher that has room; each gets its own copy
// of Data.
func (f *fanout) publish(r RevocationRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.watchers {
		c := r
		c.Data = clone(r.Data)
		select {
		case ch <- c:
		default:
		}
	}
}

// close ends every watch.
func (f *fanout) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for ch := range f.watchers {
		delete(f.watchers, ch)
		close(ch)
	}
}
