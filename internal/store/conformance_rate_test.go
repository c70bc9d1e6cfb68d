package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The conformance tests of TakeRate and CountSessions (listed in
// conformance_test.go).

// take calls TakeRate and fails the test on an error.
func take(t *testing.T, s Store, rates ...Rate) RateResult {
	t.Helper()
	res, err := s.TakeRate(t.Context(), rates)
	if err != nil {
		t.Fatalf("TakeRate(%v): %v", rates, err)
	}
	return res
}

func testTakeRate(t *testing.T, b *backend) {
	a := Rate{Key: "rate:a", Interval: time.Hour, Burst: 3}
	for i := range 3 {
		if res := take(t, b.s, a); !res.Allowed || res.Refused != -1 || res.RetryAfter != 0 {
			t.Fatalf("event %d of a burst of 3: %+v", i+1, res)
		}
	}
	res := take(t, b.s, a)
	if res.Allowed || res.Refused != 0 || res.RetryAfter <= 0 || res.RetryAfter > time.Hour {
		t.Fatalf("event 4 of a burst of 3: %+v, want refused for at most an hour", res)
	}
	if res := take(t, b.peer(t), a); res.Allowed {
		t.Fatalf("a peer admitted an event over the shared limit: %+v", res)
	}

	// All or nothing: the refusal by a does not charge c.
	c := Rate{Key: "rate:c", Interval: time.Hour, Burst: 1}
	if res := take(t, b.s, c, a); res.Allowed || res.Refused != 1 {
		t.Fatalf("c then a (full): %+v, want refused by index 1", res)
	}
	if res := take(t, b.s, c); !res.Allowed {
		t.Fatalf("c was charged by a refused call: %+v", res)
	}
	if res := take(t, b.s, c); res.Allowed || res.Refused != 0 {
		t.Fatalf("c after its one event: %+v", res)
	}

	// Costs: two at once fill a burst of two; more than the burst never
	// passes.
	d := Rate{Key: "rate:d", Interval: time.Hour, Burst: 2, Cost: 2}
	if res := take(t, b.s, d); !res.Allowed {
		t.Fatalf("cost 2 in a fresh burst of 2: %+v", res)
	}
	d.Cost = 1
	if res := take(t, b.s, d); res.Allowed {
		t.Fatalf("cost 1 after cost 2 in a burst of 2: %+v", res)
	}
	e := Rate{Key: "rate:e", Interval: time.Hour, Burst: 2, Cost: 3}
	if res := take(t, b.s, e); res.Allowed {
		t.Fatalf("cost 3 in a burst of 2: %+v", res)
	}

	for name, rates := range map[string][]Rate{
		"none":          nil,
		"too many":      make([]Rate, MaxRates+1),
		"empty key":     {{Interval: time.Second, Burst: 1}},
		"NUL in key":    {{Key: "a\x00b", Interval: time.Second, Burst: 1}},
		"duplicate key": {{Key: "k", Interval: time.Second, Burst: 1}, {Key: "k", Interval: time.Minute, Burst: 1}},
		"zero burst":    {{Key: "k", Interval: time.Second}},
		"zero interval": {{Key: "k", Burst: 1}},
		"tiny interval": {{Key: "k", Interval: time.Microsecond, Burst: 1}},
		"huge window":   {{Key: "k", Interval: MaxLifetime, Burst: 2}},
		"negative cost": {{Key: "k", Interval: time.Second, Burst: 1, Cost: -1}},
	} {
		if _, err := b.s.TakeRate(t.Context(), rates); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func testTakeRateRefill(t *testing.T, b *backend) {
	r := Rate{Key: "rate:refill", Interval: b.short(), Burst: 1}
	if res := take(t, b.s, r); !res.Allowed {
		t.Fatalf("first event: %+v", res)
	}
	res := take(t, b.s, r)
	if res.Allowed || res.RetryAfter <= 0 || res.RetryAfter > b.short() {
		t.Fatalf("second event at once: %+v, want refused for at most %s", res, b.short())
	}
	b.afterShort(t, "the limit admits again after its interval", func() error {
		if res := take(t, b.s, r); !res.Allowed {
			return fmt.Errorf("still refused: %+v", res)
		}
		return nil
	})
}

func testTakeRateConcurrent(t *testing.T, b *backend) {
	stores := []Store{b.s, b.peer(t)}
	r := Rate{Key: "rate:race", Interval: time.Hour, Burst: 10}
	var allowed, failed atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			res, err := stores[i%2].TakeRate(t.Context(), []Rate{r})
			switch {
			case err != nil:
				failed.Add(1)
			case res.Allowed:
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 10 || failed.Load() != 0 {
		t.Fatalf("%d of 50 concurrent events admitted by a burst of 10, %d failed", allowed.Load(), failed.Load())
	}
}

func testCountSessions(t *testing.T, b *backend) {
	ctx := t.Context()
	count := func() int {
		t.Helper()
		n, err := b.s.CountSessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("empty store: %d sessions", n)
	}
	for _, s := range []SessionRecord{
		b.session("s1", time.Hour, "user:a"), b.session("s2", time.Hour), b.session("s3", b.short()),
	} {
		if err := b.s.PutSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 3 {
		t.Fatalf("after three puts: %d", n)
	}
	if err := b.s.DeleteSession(ctx, "s2"); err != nil {
		t.Fatal(err)
	}
	if n, err := b.peer(t).CountSessions(ctx); err != nil || n != 2 {
		t.Fatalf("a peer's count after a delete: %d %v", n, err)
	}
	b.afterShort(t, "an expired session is not counted", func() error {
		if n := count(); n != 1 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
}
