package revocation

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/store/redistest"
	"github.com/idbroker/idbroker/sts"
)

// The broker's own providers in these tests.
const (
	brokerOIDC = "arn:aws:iam::123456789012:oidc-provider/broker.example.com"
	brokerSAML = "arn:aws:iam::123456789012:saml-provider/idbroker"
	outsideIdP = "arn:aws:iam::123456789012:oidc-provider/accounts.example.com"
	roleA      = "arn:aws:iam::123456789012:role/a"
	roleB      = "arn:aws:iam::123456789012:role/b"
)

// clock is real time plus an offset the test advances; Memory and File
// stores share it with the Set, Redis keeps real time.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// backend opens a store and a second handle on the same data: another
// Redis client (another replica) or, for the one-process stores, the same
// store.
type backend struct {
	name string
	open func(t *testing.T, clk *clock) (a, b store.Store)
}

var backends = []backend{
	{"memory", func(t *testing.T, clk *clock) (store.Store, store.Store) {
		m := store.NewMemory(clk.Now)
		t.Cleanup(func() { m.Close() })
		return m, m
	}},
	{"file", func(t *testing.T, clk *clock) (store.Store, store.Store) {
		f, err := store.NewFile(filepath.Join(t.TempDir(), "state.db"), clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f, f
	}},
	{"redis", func(t *testing.T, _ *clock) (store.Store, store.Store) {
		srv := redistest.Start(t)
		return redisClient(t, srv.URL), redisClient(t, srv.URL)
	}},
}

func redisClient(t *testing.T, url string) store.Store {
	t.Helper()
	r, err := store.NewRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func forEachBackend(t *testing.T, fn func(t *testing.T, clk *clock, a, b store.Store)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			clk := &clock{}
			a, b := be.open(t, clk)
			fn(t, clk, a, b)
		})
	}
}

// newSet is a Set on st with the test clock and the broker's providers.
func newSet(st store.Store, clk *clock) *Set {
	return New(st, Options{Now: clk.Now, SessionProviders: []string{brokerOIDC, brokerSAML}})
}

// synced is newSet after a successful Sync.
func synced(t *testing.T, st store.Store, clk *clock) *Set {
	t.Helper()
	s := newSet(st, clk)
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// run starts s.Run until the test ends, and waits for it to return.
func run(t *testing.T, s *Set) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subject is a credential of the broker's OIDC provider issued a minute
// before now.
func subject(clk *clock) sts.RevocationSubject {
	return sts.RevocationSubject{AccessKeyID: "ASIAROOTROOTROOTROOT", RoleARN: roleA, Provider: brokerOIDC,
		IssuedAt: clk.Now().Add(-time.Minute).Truncate(time.Second)}
}

func withSession(c sts.RevocationSubject, sid string) sts.RevocationSubject {
	c.SessionID = sid
	return c
}

// faultStore wraps a store with the faults the tests need.
type faultStore struct {
	store.Store
	mu        sync.Mutex
	deaf      bool // WatchRevocations never delivers
	failList  bool // Revocations fails
	forget    bool // Revocations returns nothing (a store that lost its data)
	failAdd   bool // AddRevocation fails
	listCalls int
}

func (f *faultStore) Revocations(ctx context.Context) ([]store.RevocationRecord, error) {
	f.mu.Lock()
	f.listCalls++
	failList, forget := f.failList, f.forget
	f.mu.Unlock()
	switch {
	case failList:
		return nil, fmt.Errorf("%w: injected", store.ErrUnavailable)
	case forget:
		return nil, nil
	}
	return f.Store.Revocations(ctx)
}

func (f *faultStore) AddRevocation(ctx context.Context, r store.RevocationRecord) error {
	f.mu.Lock()
	failAdd := f.failAdd
	f.mu.Unlock()
	if failAdd {
		return fmt.Errorf("%w: injected", store.ErrUnavailable)
	}
	return f.Store.AddRevocation(ctx, r)
}

func (f *faultStore) WatchRevocations(ctx context.Context) (<-chan store.RevocationRecord, error) {
	f.mu.Lock()
	deaf := f.deaf
	f.mu.Unlock()
	if !deaf {
		return f.Store.WatchRevocations(ctx)
	}
	ch := make(chan store.RevocationRecord)
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

func (f *faultStore) set(fn func(f *faultStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *faultStore) lists() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listCalls
}
