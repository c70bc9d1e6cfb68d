package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store/redistest"
)

// redisCalls are every call of the interface, to be seen failing closed.
func redisCalls(r *Redis) map[string]func(ctx context.Context) error {
	until := time.Now().Add(time.Hour)
	return map[string]func(ctx context.Context) error{
		"Claim":  func(ctx context.Context) error { _, err := r.Claim(ctx, "k", until); return err },
		"Incr":   func(ctx context.Context) error { _, err := r.Incr(ctx, "k", time.Hour); return err },
		"Get":    func(ctx context.Context) error { _, err := r.Get(ctx, "k"); return err },
		"SetTTL": func(ctx context.Context) error { return r.SetTTL(ctx, "k", 1, time.Hour) },
		"TTL":    func(ctx context.Context) error { _, err := r.TTL(ctx, "k"); return err },
		"Delete": func(ctx context.Context) error { return r.Delete(ctx, "k") },
		"TakeRate": func(ctx context.Context) error {
			_, err := r.TakeRate(ctx, []Rate{{Key: "rate:k", Interval: time.Second, Burst: 1}})
			return err
		},
		"CountSessions": func(ctx context.Context) error { _, err := r.CountSessions(ctx); return err },
		"PutSession": func(ctx context.Context) error {
			return r.PutSession(ctx, SessionRecord{ID: "s", Index: []string{"user:a"}, Expires: until})
		},
		"GetSession":    func(ctx context.Context) error { _, err := r.GetSession(ctx, "s"); return err },
		"DeleteSession": func(ctx context.Context) error { return r.DeleteSession(ctx, "s") },
		"ListSessions":  func(ctx context.Context) error { _, err := r.ListSessions(ctx, "user:a"); return err },
		"AddRevocation": func(ctx context.Context) error {
			return r.AddRevocation(ctx, RevocationRecord{ID: "r", Expires: until})
		},
		"Revocations":      func(ctx context.Context) error { _, err := r.Revocations(ctx); return err },
		"WatchRevocations": func(ctx context.Context) error { _, err := r.WatchRevocations(ctx); return err },
		"Ping":             func(ctx context.Context) error { return r.Ping(ctx) },
	}
}

// TestRedisFailsClosedAndRecovers: with the server down (connections
// refused) or hung (connections open, no answer), every call returns
// ErrUnavailable, and a hung server costs a caller no more than its own
// context's deadline; when the server is back the same client works again
// without being told.
func TestRedisFailsClosedAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedisClient(t, srv.URL)
	if err := r.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	faults := []struct {
		name string
		fail func(t testing.TB)
		heal func(t testing.TB)
	}{
		{"down", func(testing.TB) { srv.Stop() }, srv.Restart},
		{"hung", srv.Pause, srv.Resume},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			fault.fail(t)
			for name, call := range redisCalls(r) {
				// The deadline is well under the client's own network
				// timeout (redisTimeout), so returning before that timeout
				// shows the context is what bounded the call.
				const deadline = 150 * time.Millisecond
				ctx, cancel := context.WithTimeout(t.Context(), deadline)
				start := time.Now()
				err := call(ctx)
				took := time.Since(start)
				cancel()
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", name, err)
				}
				if took >= redisTimeout {
					t.Errorf("%s took %v with a %v deadline: the context did not bound it", name, took, deadline)
				}
			}
			fault.heal(t)
			eventually(t, "the client works again", func() error {
				ctx, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				return r.Ping(ctx)
			})
			for name, call := range redisCalls(r) {
				// Calls run in map order: GetSession may come before PutSession.
				if err := call(t.Context()); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("%s after recovery: %v", name, err)
				}
			}
		})
	}
}

// TestRedisWatchReconnects: a subscriber whose server went away
// resubscribes by itself and receives what is published after.
func TestRedisWatchReconnects(t *testing.T) {
	srv := redistest.Start(t)
	watcher, adder := newRedisClient(t, srv.URL), newRedisClient(t, srv.URL)
	ch, err := watcher.WatchRevocations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	// Publish until the resubscribed watcher hears one: what was published
	// while it was reconnecting is lost, as the contract says.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprint("after-restart-", i)
		if err := adder.AddRevocation(t.Context(), RevocationRecord{ID: id, Expires: time.Now().Add(time.Hour)}); err != nil && !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatal("the watch channel closed when the server restarted")
			}
			if !strings.HasPrefix(r.ID, "after-restart-") {
				t.Fatalf("got %q", r.ID)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not resubscribe within 20s")
		}
	}
}

// TestRedisWatchIgnoresForeignMessages: a message on the channel that is
// not a revocation record, or one already expired, is not delivered.
func TestRedisWatchIgnoresForeignMessages(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedisClient(t, srv.URL)
	ch, err := r.WatchRevocations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	expired := encodeRevocation(RevocationRecord{ID: "old", Expires: time.Now().Add(-time.Minute)})
	for _, msg := range []string{"", "garbage", "R\x01", string(expired)} {
		if err := r.c.Publish(t.Context(), r.channel, msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AddRevocation(t.Context(), RevocationRecord{ID: "real", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch, "the real revocation"); got.ID != "real" {
		t.Fatalf("first delivered record is %q, want real", got.ID)
	}
}

// TestRedisDatabasesDoNotShareRevocations: pub/sub is server-wide, so the
// channel carries the database number.
func TestRedisDatabasesDoNotShareRevocations(t *testing.T) {
	srv := redistest.Start(t)
	db0 := newRedisClient(t, srv.URL)
	db1 := newRedisClient(t, strings.TrimSuffix(srv.URL, "/0")+"/1")
	ch0, err := db0.WatchRevocations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := db1.AddRevocation(t.Context(), RevocationRecord{ID: "db1", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db0.AddRevocation(t.Context(), RevocationRecord{ID: "db0", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch0, "db0's revocation"); got.ID != "db0" {
		t.Fatalf("db0's watch got %q", got.ID)
	}
	if got, _ := db0.Revocations(t.Context()); len(got) != 1 {
		t.Fatalf("db0 lists %v", ids(got))
	}
}
