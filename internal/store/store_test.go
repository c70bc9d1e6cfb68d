package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store/redistest"
)

func stores(t *testing.T) map[string]Store {
	srv := redistest.Start(t)
	r, err := NewRedis(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return map[string]Store{"memory": NewMemory(nil), "redis": r}
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if err := s.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			ok, err := s.Claim(ctx, "a", time.Now().Add(time.Minute))
			if err != nil || !ok {
				t.Fatalf("first claim: %v %v", ok, err)
			}
			if ok, _ := s.Claim(ctx, "a", time.Now().Add(time.Minute)); ok {
				t.Fatal("second claim succeeded")
			}
			// Exactly one of many concurrent claims wins.
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if ok, err := s.Claim(ctx, "race", time.Now().Add(time.Minute)); err == nil && ok {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d concurrent claims won", wins.Load())
			}
			for i := int64(1); i <= 3; i++ {
				if v, err := s.Incr(ctx, "n", time.Minute); err != nil || v != i {
					t.Fatalf("incr %d: %v %v", i, v, err)
				}
			}
			if v, _ := s.Get(ctx, "n"); v != 3 {
				t.Fatalf("get %d", v)
			}
			if d, _ := s.TTL(ctx, "n"); d <= 0 || d > time.Minute {
				t.Fatalf("ttl %v", d)
			}
			if err := s.SetTTL(ctx, "lock", 7, 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			if v, _ := s.Get(ctx, "lock"); v != 7 {
				t.Fatalf("lock %d", v)
			}
			time.Sleep(120 * time.Millisecond)
			if v, _ := s.Get(ctx, "lock"); v != 0 {
				t.Fatalf("lock after expiry %d", v)
			}
			if err := s.Delete(ctx, "n"); err != nil {
				t.Fatal(err)
			}
			if v, _ := s.Get(ctx, "n"); v != 0 {
				t.Fatalf("after delete %d", v)
			}
		})
	}
}

func TestRedisDownFailsClosed(t *testing.T) {
	srv := redistest.Start(t)
	r, err := NewRedis(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ok, err := r.Claim(ctx, "x", time.Now().Add(time.Minute)); ok || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("claim with redis down: %v %v", ok, err)
	}
	if err := r.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ping: %v", err)
	}
}

func TestMemoryExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMemory(func() time.Time { return now })
	ctx := context.Background()
	m.Claim(ctx, "k", now.Add(time.Minute))
	now = now.Add(time.Minute)
	if ok, _ := m.Claim(ctx, "k", now.Add(time.Minute)); !ok {
		t.Fatal("expired claim still blocks")
	}
}
