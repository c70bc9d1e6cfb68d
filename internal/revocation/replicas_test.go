package revocation

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/store/redistest"
)

// propagation is how soon every replica must apply a revocation (the
// issue: within 2 seconds).
const propagation = 2 * time.Second

// healing is how soon a replica that missed the announcement must apply
// it: one resync period (1 s) plus the resync itself, with room for a busy
// machine.
const healing = 3 * time.Second

// TestReplicasConverge: an Add on one Set is Revoked on the other within
// two seconds through the store's announcement alone (the receiving Set
// resyncs only hourly here).
func TestReplicasConverge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, clk *clock, a, b store.Store) {
		sa := synced(t, a, clk)
		sb := New(b, Options{Now: clk.Now, SessionProviders: []string{brokerOIDC}, Resync: time.Hour})
		run(t, sb)
		// Once sb holds an entry added after Run started, its watch is up
		// (Run watches before its first read).
		if err := sa.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "warm-up"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, propagation, "warm-up entry", func() bool { return len(sb.List()) == 1 })

		c := withSession(subject(clk), "s-replicated")
		if sb.Revoked(c) {
			t.Fatal("revoked before the Add")
		}
		if err := sa.Add(t.Context(), Entry{Selector: Selector{Kind: KindUser, Value: "alice"}, SessionIDs: []string{"s-replicated"}}); err != nil {
			t.Fatal(err)
		}
		if !sa.Revoked(c) {
			t.Fatal("not applied at once where it was added")
		}
		eventually(t, propagation, "the other replica refuses", func() bool { return sb.Revoked(c) })
	})
}

// TestMissedAnnouncementHealed: a replica whose watch delivers nothing,
// and one started after the Add, apply the entry at their resync.
func TestMissedAnnouncementHealed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, clk *clock, a, b store.Store) {
		sa := synced(t, a, clk)
		deaf := &faultStore{Store: b, deaf: true}
		sb := synced(t, deaf, clk)
		run(t, sb)
		c := withSession(subject(clk), "s-missed")
		if err := sa.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "s-missed"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, healing, "a deaf replica heals", func() bool { return sb.Revoked(c) })

		late := newSet(b, clk)
		run(t, late)
		eventually(t, healing, "a replica started after the Add", func() bool {
			return len(late.List()) == 1 && late.Revoked(c) && !late.Revoked(subject(clk))
		})
	})
}

// TestRedisSubscriptionDropped: the real fault — Redis drops the
// subscriber's connection just before the Add — is healed (by go-redis's
// resubscription or by the resync) within the healing time.
func TestRedisSubscriptionDropped(t *testing.T) {
	srv := redistest.Start(t)
	clk := &clock{}
	sa, sb := synced(t, redisClient(t, srv.URL), clk), synced(t, redisClient(t, srv.URL), clk)
	run(t, sb)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { admin.Close() })
	c := withSession(subject(clk), "s-dropped")
	for i := range 3 {
		// Wait until sb has subscribed (again), then cut it off.
		eventually(t, healing, "a subscriber", func() bool {
			n, err := admin.PubSubNumSub(t.Context(), "idbroker/revocations/0").Result()
			return err == nil && n["idbroker/revocations/0"] > 0
		})
		if err := admin.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		if err := sa.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "s-dropped"}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, healing, "healed after the subscription was dropped", func() bool { return sb.Revoked(c) && len(sb.List()) == i+1 })
	}
}

// TestEntriesExpire: an entry disappears by itself once Lifetime has
// passed (on the Set's clock, whatever the store still lists), here and on
// the other replica, and Run drops it without an explicit Sync.
func TestEntriesExpire(t *testing.T) {
	forEachBackend(t, func(t *testing.T, clk *clock, a, b store.Store) {
		sa, sb := synced(t, a, clk), synced(t, b, clk)
		run(t, sb)
		if err := sa.Add(t.Context(), Entry{Selector: Selector{Kind: KindRole, Value: "a"}, RoleARN: roleA}); err != nil {
			t.Fatal(err)
		}
		eventually(t, propagation, "replicated", func() bool { return len(sb.List()) == 1 })
		c := subject(clk)
		clk.Advance(Lifetime - time.Minute)
		if err := sa.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !sa.Revoked(c) || len(sa.List()) != 1 {
			t.Fatal("expired before its time")
		}
		clk.Advance(time.Minute + time.Second)
		if err := sa.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if sa.Revoked(c) || len(sa.List()) != 0 {
			t.Fatalf("kept after Expires: %+v", sa.List())
		}
		eventually(t, healing, "dropped by Run", func() bool { return len(sb.List()) == 0 && !sb.Revoked(c) })
	})
}
