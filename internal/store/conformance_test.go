package store

// The conformance suite: every behaviour of the Store contract, tested once
// and run against each backend (in the spirit of dex's
// storage/conformance.RunTests). Memory and File run on an injected clock
// the tests advance; Redis runs on real time with short lifetimes, and
// every wait for an expiry polls with a deadline.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store/redistest"
)

// fakeClock is the injected clock of Memory and File under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backend is one store under test.
type backend struct {
	s Store
	// clock is the store's clock, or nil for Redis (real time).
	clock *fakeClock
	// peer returns another client of the same data: a second Redis value
	// (another replica), or the store itself for the one-process stores.
	peer func(t *testing.T) Store
	// setLimits lowers the listing caps of s (and of its peers).
	setLimits func(limits)
	// shared is what Shared must report.
	shared bool
	// honoursContext: every call fails with ErrUnavailable once ctx ended
	// (Memory never blocks and ignores ctx).
	honoursContext bool
}

// short is a lifetime a test waits out: on the fake clock it passes at
// once; on Redis it is the least a claim is held.
func (b *backend) short() time.Duration {
	if b.clock != nil {
		return time.Minute
	}
	return time.Second
}

func (b *backend) now() time.Time {
	if b.clock != nil {
		return b.clock.now()
	}
	return time.Now()
}

// afterShort waits until records of lifetime short() have expired, then
// requires cond to hold: at once on the fake clock, within a deadline on
// real time.
func (b *backend) afterShort(t *testing.T, what string, cond func() error) {
	t.Helper()
	if b.clock != nil {
		b.clock.advance(b.short() + time.Second)
		if err := cond(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	eventually(t, what, cond)
}

// eventually polls cond until it returns nil or a deadline passes.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 15s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newMemoryBackend(t *testing.T) *backend {
	clock := newFakeClock()
	m := NewMemory(clock.now)
	t.Cleanup(func() { m.Close() })
	return &backend{
		s: m, clock: clock,
		peer:      func(*testing.T) Store { return m },
		setLimits: func(l limits) { m.lim = l },
	}
}

func newFileBackend(t *testing.T) *backend {
	clock := newFakeClock()
	f, err := NewFile(filepath.Join(t.TempDir(), "state.db"), clock.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &backend{
		s: f, clock: clock, honoursContext: true,
		peer:      func(*testing.T) Store { return f },
		setLimits: func(l limits) { f.lim = l },
	}
}

// redisBackends returns a factory of Redis backends sharing one server,
// each starting on an empty database.
func redisBackends(t *testing.T) func(t *testing.T) *backend {
	srv := redistest.Start(t)
	return func(t *testing.T) *backend {
		r := newRedisClient(t, srv.URL)
		if err := r.c.FlushAll(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		peers := []*Redis{r}
		return &backend{
			s: r, shared: true, honoursContext: true,
			peer: func(t *testing.T) Store {
				p := newRedisClient(t, srv.URL)
				p.lim = r.lim
				peers = append(peers, p)
				return p
			},
			setLimits: func(l limits) {
				for _, p := range peers {
					p.lim = l
				}
			},
		}
	}
}

func newRedisClient(t *testing.T, url string) *Redis {
	t.Helper()
	r, err := NewRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// conformance lists the suite's tests by name.
var conformance = []struct {
	name string
	run  func(t *testing.T, b *backend)
}{
	{"PingShared", testPingShared},
	{"Claim", testClaim},
	{"ClaimConcurrent", testClaimConcurrent},
	{"ClaimExpiry", testClaimExpiry},
	{"Counters", testCounters},
	{"CounterExpiry", testCounterExpiry},
	{"TakeRate", testTakeRate},
	{"TakeRateRefill", testTakeRateRefill},
	{"TakeRateConcurrent", testTakeRateConcurrent},
	{"CountSessions", testCountSessions},
	{"SessionRoundTrip", testSessionRoundTrip},
	{"SessionInvalid", testSessionInvalid},
	{"SessionIndex", testSessionIndex},
	{"SessionExpiry", testSessionExpiry},
	{"SessionConcurrentUpdates", testSessionConcurrentUpdates},
	{"SessionListCap", testSessionListCap},
	{"SessionPeers", testSessionPeers},
	{"SessionWalk", testSessionWalk},
	{"SessionWalkDuringChanges", testSessionWalkDuringChanges},
	{"SessionWalkMany", testSessionWalkMany},
	{"Revocations", testRevocations},
	{"RevocationExpiry", testRevocationExpiry},
	{"RevocationCap", testRevocationCap},
	{"WatchRevocations", testWatchRevocations},
	{"WatchEndsWithContext", testWatchEndsWithContext},
	{"Aggregates", testAggregates},
	{"AggregateInvalid", testAggregateInvalid},
	{"AggregateExpiry", testAggregateExpiry},
	{"AggregateConcurrent", testAggregateConcurrent},
	{"AggregateCap", testAggregateCap},
	{"ContextEnded", testContextEnded},
}

func TestConformance(t *testing.T) {
	newRedis := redisBackends(t)
	backends := []struct {
		name string
		new  func(t *testing.T) *backend
	}{
		{"memory", newMemoryBackend},
		{"file", newFileBackend},
		{"redis", newRedis},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, be.new(t)) })
			}
		})
	}
}

func testPingShared(t *testing.T, b *backend) {
	if err := b.s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := b.s.Shared(); got != b.shared {
		t.Fatalf("Shared() = %v, want %v", got, b.shared)
	}
}

func testClaim(t *testing.T, b *backend) {
	ctx := t.Context()
	until := b.now().Add(time.Hour)
	ok, err := b.s.Claim(ctx, "a", until)
	if err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := b.s.Claim(ctx, "a", until); err != nil || ok {
		t.Fatalf("second claim: %v %v", ok, err)
	}
	if ok, err := b.peer(t).Claim(ctx, "a", until); err != nil || ok {
		t.Fatalf("claim by a peer: %v %v", ok, err)
	}
	if ok, err := b.s.Claim(ctx, "b", until); err != nil || !ok {
		t.Fatalf("claim of another key: %v %v", ok, err)
	}
}

func testClaimConcurrent(t *testing.T, b *backend) {
	ctx := t.Context()
	stores := []Store{b.s, b.peer(t)}
	var wins, fails atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			ok, err := stores[i%2].Claim(ctx, "race", b.now().Add(time.Hour))
			switch {
			case err != nil:
				fails.Add(1)
			case ok:
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || fails.Load() != 0 {
		t.Fatalf("%d of 50 concurrent claims won, %d failed; want exactly 1 and 0", wins.Load(), fails.Load())
	}
}

func testClaimExpiry(t *testing.T, b *backend) {
	ctx := t.Context()
	if ok, err := b.s.Claim(ctx, "k", b.now().Add(b.short())); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	b.afterShort(t, "an expired claim can be claimed again", func() error {
		ok, err := b.s.Claim(ctx, "k", b.now().Add(time.Hour))
		if err != nil || !ok {
			return fmt.Errorf("claim: %v %v", ok, err)
		}
		return nil
	})
	// A claim whose time is already past still holds the key for a while.
	if ok, _ := b.s.Claim(ctx, "past", b.now().Add(-time.Hour)); !ok {
		t.Fatal("claim with a past time refused")
	}
	if ok, _ := b.s.Claim(ctx, "past", b.now().Add(time.Hour)); ok {
		t.Fatal("claim with a past time not held")
	}
}

func testCounters(t *testing.T, b *backend) {
	ctx := t.Context()
	for i := int64(1); i <= 3; i++ {
		if v, err := b.s.Incr(ctx, "n", time.Hour); err != nil || v != i {
			t.Fatalf("incr %d: %v %v", i, v, err)
		}
	}
	if v, err := b.peer(t).Get(ctx, "n"); err != nil || v != 3 {
		t.Fatalf("get: %v %v", v, err)
	}
	if d, err := b.s.TTL(ctx, "n"); err != nil || d <= 0 || d > time.Hour {
		t.Fatalf("ttl: %v %v", d, err)
	}
	if err := b.s.SetTTL(ctx, "lock", 7, time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, err := b.s.Get(ctx, "lock"); err != nil || v != 7 {
		t.Fatalf("lock: %v %v", v, err)
	}
	if err := b.s.Delete(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	if v, err := b.s.Get(ctx, "n"); err != nil || v != 0 {
		t.Fatalf("after delete: %v %v", v, err)
	}
	if d, err := b.s.TTL(ctx, "n"); err != nil || d != 0 {
		t.Fatalf("ttl after delete: %v %v", d, err)
	}
	if v, err := b.s.Get(ctx, "absent"); err != nil || v != 0 {
		t.Fatalf("absent: %v %v", v, err)
	}
}

func testCounterExpiry(t *testing.T, b *backend) {
	ctx := t.Context()
	if _, err := b.s.Incr(ctx, "n", b.short()); err != nil {
		t.Fatal(err)
	}
	if err := b.s.SetTTL(ctx, "lock", 7, b.short()); err != nil {
		t.Fatal(err)
	}
	b.afterShort(t, "counters expire", func() error {
		n, err1 := b.s.Get(ctx, "n")
		lock, err2 := b.s.Get(ctx, "lock")
		d, err3 := b.s.TTL(ctx, "lock")
		if err := errors.Join(err1, err2, err3); err != nil {
			return err
		}
		if n != 0 || lock != 0 || d != 0 {
			return fmt.Errorf("n=%d lock=%d ttl=%v", n, lock, d)
		}
		return nil
	})
	if v, err := b.s.Incr(ctx, "n", time.Hour); err != nil || v != 1 {
		t.Fatalf("an expired counter restarts at 1: %v %v", v, err)
	}
}

// session returns a record expiring in d with the given index keys.
func (b *backend) session(id string, d time.Duration, index ...string) SessionRecord {
	return SessionRecord{ID: id, Data: []byte("sealed:" + id), Index: index, Expires: b.now().Add(d)}
}

// ids returns the sorted ids of records.
func ids[R SessionRecord | RevocationRecord](records []R) []string {
	out := []string{}
	for _, r := range records {
		switch r := any(r).(type) {
		case SessionRecord:
			out = append(out, r.ID)
		case RevocationRecord:
			out = append(out, r.ID)
		}
	}
	sort.Strings(out)
	return out
}

// wantList requires ListSessions(index) on s to return exactly want (ids).
func wantList(t *testing.T, s Store, index string, want ...string) {
	t.Helper()
	got, err := s.ListSessions(t.Context(), index)
	if err != nil {
		t.Fatalf("list %q: %v", index, err)
	}
	sort.Strings(want)
	if g := ids(got); !slices.Equal(g, want) && !(len(g) == 0 && len(want) == 0) {
		t.Fatalf("list %q = %v, want %v", index, g, want)
	}
}

func sameSession(a, b SessionRecord) bool {
	ai, bi := slices.Clone(a.Index), slices.Clone(b.Index)
	sort.Strings(ai)
	sort.Strings(bi)
	return a.ID == b.ID && string(a.Data) == string(b.Data) && slices.Equal(ai, bi) && a.Expires.Equal(b.Expires)
}

func testSessionRoundTrip(t *testing.T, b *backend) {
	ctx := t.Context()
	in := SessionRecord{
		ID: "s1", Data: []byte{0, 1, 2, 0xff, '\n', 0}, Index: []string{"user:corp/alice", "provider:corp", "user:corp/alice"},
		Expires: b.now().Add(time.Hour + 1234567*time.Nanosecond),
	}
	if err := b.s.PutSession(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Data[0] = 'X' // the store kept its own copy
	got, err := b.peer(t).GetSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := SessionRecord{
		ID: "s1", Data: []byte{0, 1, 2, 0xff, '\n', 0}, Index: []string{"user:corp/alice", "provider:corp"},
		Expires: in.Expires.Truncate(time.Millisecond),
	}
	if !sameSession(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	got.Data[0] = 'Y' // nor does a reader's change reach it
	if again, _ := b.s.GetSession(ctx, "s1"); again.Data[0] != 0 {
		t.Fatal("a returned record aliases the store's")
	}
	for _, id := range []string{"absent", "", strings.Repeat("x", MaxIDLen+1)} {
		if _, err := b.s.GetSession(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get %.10q: %v, want ErrNotFound", id, err)
		}
	}
	if err := b.s.PutSession(ctx, SessionRecord{ID: "empty", Expires: b.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.s.GetSession(ctx, "empty"); err != nil || len(got.Data) != 0 || len(got.Index) != 0 {
		t.Fatalf("empty record: %+v %v", got, err)
	}
	if err := b.peer(t).DeleteSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.GetSession(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := b.s.DeleteSession(ctx, "s1"); err != nil {
		t.Fatalf("deleting an absent session: %v", err)
	}
}

func testSessionInvalid(t *testing.T, b *backend) {
	ok := func() SessionRecord { return b.session("ok", time.Hour, "user:a") }
	tooManyKeys := make([]string, MaxIndexKeys+1)
	for i := range tooManyKeys {
		tooManyKeys[i] = fmt.Sprint("k", i)
	}
	cases := []struct {
		name string
		edit func(*SessionRecord)
	}{
		{"empty id", func(s *SessionRecord) { s.ID = "" }},
		{"long id", func(s *SessionRecord) { s.ID = strings.Repeat("i", MaxIDLen+1) }},
		{"NUL in id", func(s *SessionRecord) { s.ID = "a\x00b" }},
		{"empty index key", func(s *SessionRecord) { s.Index = []string{"user:a", ""} }},
		{"long index key", func(s *SessionRecord) { s.Index = []string{strings.Repeat("k", MaxIndexKeyLen+1)} }},
		{"NUL in index key", func(s *SessionRecord) { s.Index = []string{"user:a\x00b"} }},
		{"too many index keys", func(s *SessionRecord) { s.Index = tooManyKeys }},
		{"data too large", func(s *SessionRecord) { s.Data = make([]byte, MaxDataLen+1) }},
		{"expired", func(s *SessionRecord) { s.Expires = b.now().Add(-time.Second) }},
		{"no expiry", func(s *SessionRecord) { s.Expires = time.Time{} }},
		{"too far ahead", func(s *SessionRecord) { s.Expires = b.now().Add(MaxLifetime + time.Minute) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ok()
			tc.edit(&s)
			if err := b.s.PutSession(t.Context(), s); !errors.Is(err, ErrInvalid) {
				t.Fatalf("put: %v, want ErrInvalid", err)
			}
		})
	}
	wantList(t, b.s, "")
	// The limits themselves are accepted.
	s := ok()
	s.ID = strings.Repeat("i", MaxIDLen)
	s.Index = append(tooManyKeys[:MaxIndexKeys-1], strings.Repeat("k", MaxIndexKeyLen))
	s.Data = make([]byte, MaxDataLen)
	s.Expires = b.now().Add(MaxLifetime - time.Minute)
	if err := b.s.PutSession(t.Context(), s); err != nil {
		t.Fatalf("a record at every limit: %v", err)
	}
	wantList(t, b.s, strings.Repeat("k", MaxIndexKeyLen), s.ID)
	for _, bad := range []string{"a\x00b", strings.Repeat("k", MaxIndexKeyLen+1)} {
		if got, err := b.s.ListSessions(t.Context(), bad); err != nil || len(got) != 0 {
			t.Fatalf("list of an impossible index key: %v %v", ids(got), err)
		}
	}
}

func testSessionIndex(t *testing.T, b *backend) {
	ctx := t.Context()
	put := func(s SessionRecord) {
		t.Helper()
		if err := b.s.PutSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	put(b.session("A", time.Hour, "user:alice", "provider:corp"))
	put(b.session("B", time.Hour, "user:bob", "provider:corp"))
	put(b.session("C", time.Hour, "user:alice"))
	put(b.session("D", time.Hour))
	peer := b.peer(t)
	wantList(t, peer, "user:alice", "A", "C")
	wantList(t, peer, "provider:corp", "A", "B")
	wantList(t, peer, "", "A", "B", "C", "D")
	wantList(t, peer, "user:nobody")

	// Replacing A's index drops the keys it no longer has.
	put(b.session("A", time.Hour, "user:alice", "group:dev"))
	wantList(t, peer, "provider:corp", "B")
	wantList(t, peer, "group:dev", "A")
	wantList(t, peer, "user:alice", "A", "C")

	// An update of the data alone keeps every index entry.
	a := b.session("A", 2*time.Hour, "user:alice", "group:dev")
	a.Data = []byte("refreshed")
	put(a)
	wantList(t, peer, "user:alice", "A", "C")
	wantList(t, peer, "group:dev", "A")
	if got, err := peer.GetSession(ctx, "A"); err != nil || string(got.Data) != "refreshed" {
		t.Fatalf("updated A: %q %v", got.Data, err)
	}

	// A deleted record leaves no index entry behind.
	if err := peer.DeleteSession(ctx, "C"); err != nil {
		t.Fatal(err)
	}
	wantList(t, b.s, "user:alice", "A")
	wantList(t, b.s, "", "A", "B", "D")
	if err := b.s.DeleteSession(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	wantList(t, b.s, "user:alice")
	wantList(t, b.s, "group:dev")

	// A listing returns whole records.
	got, err := b.s.ListSessions(ctx, "user:bob")
	if err != nil || len(got) != 1 || !sameSession(got[0], SessionRecord{
		ID: "B", Data: []byte("sealed:B"), Index: []string{"user:bob", "provider:corp"},
		Expires: b.session("B", time.Hour).Expires.Truncate(time.Millisecond),
	}) {
		// Expires differs on real time; compare the rest.
		if err != nil || len(got) != 1 || string(got[0].Data) != "sealed:B" || len(got[0].Index) != 2 {
			t.Fatalf("list user:bob: %+v %v", got, err)
		}
	}
}

func testSessionExpiry(t *testing.T, b *backend) {
	ctx := t.Context()
	if err := b.s.PutSession(ctx, b.session("short", b.short(), "user:alice")); err != nil {
		t.Fatal(err)
	}
	if err := b.s.PutSession(ctx, b.session("long", time.Hour, "user:alice")); err != nil {
		t.Fatal(err)
	}
	wantList(t, b.s, "user:alice", "long", "short")
	b.afterShort(t, "an expired session is gone", func() error {
		if _, err := b.s.GetSession(ctx, "short"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("get: %v", err)
		}
		for _, index := range []string{"user:alice", ""} {
			got, err := b.s.ListSessions(ctx, index)
			if err != nil {
				return err
			}
			if g := ids(got); !slices.Equal(g, []string{"long"}) {
				return fmt.Errorf("list %q = %v", index, g)
			}
		}
		return nil
	})
	// The stale entry's cleanup does not stand in the way of a new record
	// of the same id.
	if err := b.s.PutSession(ctx, b.session("short", time.Hour, "user:alice")); err != nil {
		t.Fatal(err)
	}
	wantList(t, b.s, "user:alice", "long", "short")
}

func testSessionConcurrentUpdates(t *testing.T, b *backend) {
	ctx := t.Context()
	stores := []Store{b.s, b.peer(t)}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 40 {
		wg.Go(func() {
			s := stores[i%2]
			// Half update one shared record, half add records of their own,
			// while listings clean what they think is stale.
			rec := b.session("shared", time.Hour, "user:alice", "provider:corp")
			rec.Data = []byte(fmt.Sprint("v", i))
			if i%4 >= 2 {
				rec = b.session(fmt.Sprint("own", i), time.Hour, "provider:corp")
			}
			if err := s.PutSession(ctx, rec); err != nil {
				failed.Add(1)
			}
			if _, err := s.ListSessions(ctx, "provider:corp"); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	wantList(t, b.s, "user:alice", "shared")
	got, err := b.s.ListSessions(ctx, "provider:corp")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got); n != 21 {
		t.Fatalf("provider:corp lists %d records (%v), want 21", n, ids(got))
	}
}

func testSessionListCap(t *testing.T, b *backend) {
	ctx := t.Context()
	b.setLimits(limits{listSessions: 3, revocations: MaxRevocations})
	for i := range 5 {
		if err := b.s.PutSession(ctx, b.session(fmt.Sprint("s", i), time.Hour, "user:alice")); err != nil {
			t.Fatal(err)
		}
	}
	for _, index := range []string{"user:alice", ""} {
		got, err := b.s.ListSessions(ctx, index)
		if !errors.Is(err, ErrTruncated) || len(got) != 3 {
			t.Fatalf("list %q: %d records, %v; want 3 and ErrTruncated", index, len(got), err)
		}
	}
	// Deleting what a listing returned and listing again ends every
	// session, as a revocation does.
	var ended []string
	for range 5 {
		got, err := b.s.ListSessions(ctx, "user:alice")
		if err != nil && !errors.Is(err, ErrTruncated) {
			t.Fatal(err)
		}
		for _, s := range got {
			if err := b.s.DeleteSession(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
			ended = append(ended, s.ID)
		}
		if err == nil {
			break
		}
	}
	if len(ended) != 5 {
		t.Fatalf("ended %v, want all 5", ended)
	}
	wantList(t, b.s, "")
}

func testSessionPeers(t *testing.T, b *backend) {
	ctx := t.Context()
	one, two := b.s, b.peer(t)
	if err := one.PutSession(ctx, b.session("x", time.Hour, "user:alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := two.GetSession(ctx, "x"); err != nil {
		t.Fatalf("a session put by one is not seen by the other: %v", err)
	}
	wantList(t, two, "user:alice", "x")
	if err := two.DeleteSession(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := one.GetSession(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a session deleted by the other is still served: %v", err)
	}
	wantList(t, one, "user:alice")
}

// revocation returns a record expiring in d.
func (b *backend) revocation(id string, d time.Duration) RevocationRecord {
	return RevocationRecord{ID: id, Data: []byte(`{"user":"` + id + `"}`), Expires: b.now().Add(d)}
}

func testRevocations(t *testing.T, b *backend) {
	ctx := t.Context()
	if got, err := b.s.Revocations(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", ids(got), err)
	}
	r1 := b.revocation("r1", time.Hour)
	r1.Data = []byte{0, 1, 0xfe, 0}
	for _, r := range []RevocationRecord{r1, b.revocation("r2", time.Hour)} {
		if err := b.s.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	r1.Data[0] = 'X'
	got, err := b.peer(t).Revocations(ctx)
	if err != nil || !slices.Equal(ids(got), []string{"r1", "r2"}) {
		t.Fatalf("revocations: %v %v", ids(got), err)
	}
	for _, r := range got {
		if r.ID == "r1" && (string(r.Data) != "\x00\x01\xfe\x00" || !r.Expires.Equal(r1.Expires.Truncate(time.Millisecond))) {
			t.Fatalf("r1 = %+v", r)
		}
	}
	// Adding an id again replaces it.
	r2 := b.revocation("r2", 2*time.Hour)
	r2.Data = []byte("replaced")
	if err := b.s.AddRevocation(ctx, r2); err != nil {
		t.Fatal(err)
	}
	got, _ = b.s.Revocations(ctx)
	for _, r := range got {
		if r.ID == "r2" && string(r.Data) != "replaced" {
			t.Fatalf("r2 not replaced: %q", r.Data)
		}
	}
	if len(got) != 2 {
		t.Fatalf("after replacing: %v", ids(got))
	}
	for _, bad := range []RevocationRecord{
		{ID: "", Expires: b.now().Add(time.Hour)},
		{ID: "a\x00", Expires: b.now().Add(time.Hour)},
		{ID: strings.Repeat("r", MaxIDLen+1), Expires: b.now().Add(time.Hour)},
		{ID: "big", Data: make([]byte, MaxDataLen+1), Expires: b.now().Add(time.Hour)},
		{ID: "past", Expires: b.now().Add(-time.Millisecond)},
		{ID: "far", Expires: b.now().Add(MaxLifetime + time.Minute)},
	} {
		if err := b.s.AddRevocation(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("add %.12q: %v, want ErrInvalid", bad.ID, err)
		}
	}
}

func testRevocationExpiry(t *testing.T, b *backend) {
	ctx := t.Context()
	for _, r := range []RevocationRecord{b.revocation("short", b.short()), b.revocation("long", time.Hour)} {
		if err := b.s.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b.afterShort(t, "an expired revocation is gone", func() error {
		got, err := b.s.Revocations(ctx)
		if err != nil {
			return err
		}
		if g := ids(got); !slices.Equal(g, []string{"long"}) {
			return fmt.Errorf("revocations = %v", g)
		}
		return nil
	})
}

func testRevocationCap(t *testing.T, b *backend) {
	ctx := t.Context()
	b.setLimits(limits{listSessions: MaxListSessions, revocations: 2})
	for i := range 3 {
		if err := b.s.AddRevocation(ctx, b.revocation(fmt.Sprint("r", i), time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.s.Revocations(ctx)
	if !errors.Is(err, ErrTruncated) || len(got) != 2 {
		t.Fatalf("revocations: %v, %v; want 2 and ErrTruncated", ids(got), err)
	}
}

// receive waits for one record on ch.
func receive(t *testing.T, ch <-chan RevocationRecord, what string) RevocationRecord {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return r
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: nothing within 15s", what)
	}
	return RevocationRecord{}
}

func testWatchRevocations(t *testing.T, b *backend) {
	ctx := t.Context()
	peer := b.peer(t)
	here, err := b.s.WatchRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	there, err := peer.WatchRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := b.revocation("r1", time.Hour)
	r.Data = []byte{0, 'x', 0}
	if err := b.s.AddRevocation(ctx, r); err != nil {
		t.Fatal(err)
	}
	want := RevocationRecord{ID: "r1", Data: []byte{0, 'x', 0}, Expires: r.Expires.Truncate(time.Millisecond)}
	for name, ch := range map[string]<-chan RevocationRecord{"the adder's watch": here, "a peer's watch": there} {
		got := receive(t, ch, name)
		if got.ID != want.ID || string(got.Data) != string(want.Data) || !got.Expires.Equal(want.Expires) {
			t.Fatalf("%s: got %+v, want %+v", name, got, want)
		}
	}
	// A revocation added by the peer reaches this replica too.
	if err := peer.AddRevocation(ctx, b.revocation("r2", time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, here, "a peer's revocation"); got.ID != "r2" {
		t.Fatalf("got %q, want r2", got.ID)
	}
}

func testWatchEndsWithContext(t *testing.T, b *backend) {
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := b.s.WatchRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				goto closedByContext
			}
		case <-deadline:
			t.Fatal("the watch channel stayed open after its context ended")
		}
	}
closedByContext:
	ch, err = b.s.WatchRevocations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("a record after Close")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the watch channel stayed open after Close")
	}
}

func testContextEnded(t *testing.T, b *backend) {
	if !b.honoursContext {
		t.Skip("this store never waits, so it has no use for a context")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	until := b.now().Add(time.Hour)
	calls := map[string]func() error{
		"Claim":  func() error { _, err := b.s.Claim(ctx, "k", until); return err },
		"Incr":   func() error { _, err := b.s.Incr(ctx, "k", time.Hour); return err },
		"Get":    func() error { _, err := b.s.Get(ctx, "k"); return err },
		"SetTTL": func() error { return b.s.SetTTL(ctx, "k", 1, time.Hour) },
		"TTL":    func() error { _, err := b.s.TTL(ctx, "k"); return err },
		"Delete": func() error { return b.s.Delete(ctx, "k") },
		"TakeRate": func() error {
			_, err := b.s.TakeRate(ctx, []Rate{{Key: "r", Interval: time.Second, Burst: 1}})
			return err
		},
		"CountSessions":    func() error { _, err := b.s.CountSessions(ctx); return err },
		"PutSession":       func() error { return b.s.PutSession(ctx, b.session("s", time.Hour)) },
		"GetSession":       func() error { _, err := b.s.GetSession(ctx, "s"); return err },
		"DeleteSession":    func() error { return b.s.DeleteSession(ctx, "s") },
		"ListSessions":     func() error { _, err := b.s.ListSessions(ctx, ""); return err },
		"ListSessionsPage": func() error { _, _, err := b.s.ListSessionsPage(ctx, "user:a", "", 0); return err },
		"AddRevocation":    func() error { return b.s.AddRevocation(ctx, b.revocation("r", time.Hour)) },
		"Revocations":      func() error { _, err := b.s.Revocations(ctx); return err },
		"WatchRevocation":  func() error { _, err := b.s.WatchRevocations(ctx); return err },
		"Ping":             func() error { return b.s.Ping(ctx) },
		"UpdateAggregates": func() error {
			return b.s.UpdateAggregates(ctx, []AggregateUpdate{b.aggregate("person", "x", time.Hour, aggAdd("n", 1))})
		},
		"GetAggregate":   func() error { _, err := b.s.GetAggregate(ctx, "person", "x"); return err },
		"ListAggregates": func() error { _, err := b.s.ListAggregates(ctx, "person"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with an ended context: %v, want ErrUnavailable", name, err)
		}
	}
}
