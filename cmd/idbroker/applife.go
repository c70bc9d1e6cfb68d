package main

import (
	"sync"
	"sync/atomic"
)

// The life of an app (one configuration, wired): it serves until a reload
// replaces it, then it is retired — closed once the requests that started
// on it have ended, so that a reload releases the previous configuration's
// LDAP pools and background checks instead of keeping them to shutdown.
// What outlives a configuration (the state store, the revocation set's
// sync) is handed to the next app, which closes it in turn.

// resources are what an app releases when it is closed; each is nil when
// there is nothing to release (or the next app took it over).
type resources struct {
	closeProviders  func()
	stopHealth      func()
	stopRevocations func()
	closeReports    func()
	closeStore      func()

	closeOnce sync.Once
	requests  inflight
}

// close releases what the app still holds, once: its checks, its
// revocation set's sync, its report recorder (what it queued is written),
// its providers' pools, its store. Only when no
// request can still use it (see retire).
func (a *app) close() {
	a.closeOnce.Do(func() {
		for _, f := range []func(){a.stopHealth, a.stopRevocations, a.closeReports, a.closeProviders, a.closeStore} {
			if f != nil {
				f()
			}
		}
	})
}

// handOver gives next what it reuses of a: the store (a reload always keeps
// it) and the revocation set's sync when next kept the set, so that
// closing a leaves them running.
func (a *app) handOver(next *app) {
	if next.store == a.store && next.closeStore == nil {
		next.closeStore, a.closeStore = a.closeStore, nil
	}
	if next.revocations == a.revocations && !next.ownRevocations {
		next.stopRevocations, a.stopRevocations = a.stopRevocations, nil
	}
}

// retire closes a once the requests that entered it have left; requests
// arriving from now on are refused entry (and go to the current app).
// done is closed when a is closed.
func (a *app) retire() (done <-chan struct{}) {
	ch := make(chan struct{})
	go func() {
		<-a.requests.retire()
		a.close()
		close(ch)
	}()
	return ch
}

// inflight counts the requests an app is serving. Once retired, enter
// refuses, and the channel retire returned is closed when the last request
// left (like sync.RWMutex's reader count, a large negative bias marks the
// retirement so that entering stays one atomic add).
type inflight struct {
	n    atomic.Int64
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
}

const retiredBias = 1 << 40

// enter counts a request in; false when the app is retired.
func (f *inflight) enter() bool {
	if f.n.Add(1) < 0 {
		f.leave()
		return false
	}
	return true
}

// leave counts a request out.
func (f *inflight) leave() {
	if f.n.Add(-1) == -retiredBias {
		f.finish()
	}
}

// retire refuses new requests and returns a channel closed when none is
// left.
func (f *inflight) retire() <-chan struct{} {
	ch := f.doneChan()
	if f.n.Add(-retiredBias) == -retiredBias {
		f.finish()
	}
	return ch
}

func (f *inflight) doneChan() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done == nil {
		f.done = make(chan struct{})
	}
	return f.done
}

func (f *inflight) finish() { f.once.Do(func() { close(f.doneChan()) }) }
