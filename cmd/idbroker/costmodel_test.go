package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/store"
)

// countingStore counts the calls each flow makes to the state store. On
// Redis each call is one round trip (a command, or one Lua script).
type countingStore struct {
	store.Store
	mu sync.Mutex
	n  map[string]int
	// session is the size of the last session record put: sealed data
	// and index keys.
	session int
}

func (c *countingStore) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[op]++
}

// take returns the counts since the last take and resets them. The
// revocation set's background resync (Revocations, WatchRevocations) is
// not a flow's cost and is left out.
func (c *countingStore) take() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	total, ops := 0, []string{}
	for op, n := range c.n {
		total += n
		ops = append(ops, fmt.Sprintf("%s×%d", op, n))
	}
	slices.Sort(ops)
	c.n = map[string]int{}
	return total, strings.Join(ops, " ")
}

func (c *countingStore) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	c.count("Claim")
	return c.Store.Claim(ctx, key, until)
}
func (c *countingStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	c.count("Incr")
	return c.Store.Incr(ctx, key, ttl)
}
func (c *countingStore) Get(ctx context.Context, key string) (int64, error) {
	c.count("Get")
	return c.Store.Get(ctx, key)
}
func (c *countingStore) SetTTL(ctx context.Context, key string, v int64, ttl time.Duration) error {
	c.count("SetTTL")
	return c.Store.SetTTL(ctx, key, v, ttl)
}
func (c *countingStore) TTL(ctx context.Context, key string) (time.Duration, error) {
	c.count("TTL")
	return c.Store.TTL(ctx, key)
}
func (c *countingStore) Delete(ctx context.Context, key string) error {
	c.count("Delete")
	return c.Store.Delete(ctx, key)
}
func (c *countingStore) PutSession(ctx context.Context, s store.SessionRecord) error {
	c.count("PutSession")
	c.mu.Lock()
	c.session = len(s.ID) + len(s.Data)
	for _, k := range s.Index {
		c.session += len(k)
	}
	c.mu.Unlock()
	return c.Store.PutSession(ctx, s)
}
func (c *countingStore) GetSession(ctx context.Context, id string) (store.SessionRecord, error) {
	c.count("GetSession")
	return c.Store.GetSession(ctx, id)
}
func (c *countingStore) DeleteSession(ctx context.Context, id string) error {
	c.count("DeleteSession")
	return c.Store.DeleteSession(ctx, id)
}
func (c *countingStore) ListSessions(ctx context.Context, index string) ([]store.SessionRecord, error) {
	c.count("ListSessions")
	return c.Store.ListSessions(ctx, index)
}
func (c *countingStore) ListSessionsPage(ctx context.Context, index, cursor string, limit int) ([]store.SessionRecord, string, error) {
	c.count("ListSessionsPage")
	return c.Store.ListSessionsPage(ctx, index, cursor, limit)
}
func (c *countingStore) AddRevocation(ctx context.Context, r store.RevocationRecord) error {
	c.count("AddRevocation")
	return c.Store.AddRevocation(ctx, r)
}

// TestStoreRoundTrips measures the cost model of docs/operations.md: the
// state store calls of each flow, on the demo. Run it with -v to print the
// table:
//
//	go test -count=1 -run TestStoreRoundTrips -v ./cmd/idbroker/
//
// What it asserts is what the operations guide relies on: verifying
// credentials (every signed STS call) costs no store call, and a login
// costs a handful, not a number that grows with the users or sessions.
func TestStoreRoundTrips(t *testing.T) {
	cfg, err := parseConfig(configs.Demo, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := generateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	mem := store.NewMemory(nil)
	defer mem.Close()
	cs := &countingStore{Store: mem, n: map[string]int{}}
	sec.store = cs
	a, err := assemble(cfg, sec, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.startRevocations(ctx, nil2discard())
	srv := httptest.NewServer(a.handler)
	defer func() { srv.Close(); cancel(); a.close() }()
	base := srv.URL

	// Other people's sessions, so that nothing below is free because the
	// store is empty.
	for i := 0; i < 20; i++ {
		newSession(t, base, "demo", "alice", "alice")
	}
	cs.take()

	type row struct {
		flow  string
		calls int
		ops   string
	}
	var rows []row
	measure := func(flow string, do func()) int {
		t.Helper()
		cs.take()
		do()
		n, ops := cs.take()
		rows = append(rows, row{flow, n, ops})
		return n
	}
	var keys minted
	var token string
	measure("one-shot login, JSON API (POST /api/v1/credentials with a password)", func() { keys = oneShot(t, base, "bob", "bob", "Developer") })
	measure("refused password (JSON API)", func() {
		if status, _ := apiLogin(t, base, map[string]any{"provider": "demo", "username": "bob", "password": "wrong"}); status != 401 {
			t.Fatalf("wrong password: %d", status)
		}
	})
	measure("new session (POST /api/v1/sessions)", func() { token, _ = newSession(t, base, "demo", "bob", "bob") })
	measure("keys from a session (POST /api/v1/credentials, bearer)", func() { fromSession(t, base, token, "Developer") })
	measure("session status (GET /api/v1/sessions/current)", func() {
		if status, _, _ := sessionAPI(t, http.MethodGet, base+"/api/v1/sessions/current", token, "", ""); status != 200 {
			t.Fatalf("session status: %d", status)
		}
	})
	verify := measure("verify credentials (any signed STS call: GetCallerIdentity)", func() { wantAlive(t, base, "bob", keys) })
	measure("chained AssumeRole (signed)", func() {
		if _, code := chainTo(t, base, keys, "Developer"); code != "" && code != "AccessDenied" {
			t.Fatalf("AssumeRole: %s", code)
		}
	})
	measure("browser sign-in (the form, then the portal)", func() {
		br := newBrowser(t, base)
		if status, _, _ := br.signIn("demo", "alice", "alice"); status != 200 {
			t.Fatalf("browser sign-in: %d", status)
		}
	})
	measure("sign-out (DELETE /api/v1/sessions/current)", func() {
		if status, _, _ := sessionAPI(t, http.MethodDelete, base+"/api/v1/sessions/current", token, "", ""); status != 204 {
			t.Fatalf("sign-out: %d", status)
		}
	})

	var b strings.Builder
	fmt.Fprintf(&b, "state store calls per flow (each one Redis round trip):\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-72s %3d  %s\n", r.flow, r.calls, r.ops)
	}
	cs.mu.Lock()
	fmt.Fprintf(&b, "a session record: %d bytes (id, sealed data, index keys)\n", cs.session)
	cs.mu.Unlock()
	t.Log("\n" + b.String())
	if verify != 0 {
		t.Errorf("verifying credentials made %d store calls, want none (the revocation set is in memory)", verify)
	}
	for _, r := range rows {
		if r.calls > 20 {
			t.Errorf("%s: %d store calls", r.flow, r.calls)
		}
	}
}
