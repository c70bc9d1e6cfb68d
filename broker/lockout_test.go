package broker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
)

// fakeClock is a settable clock for the memory store.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// upstream is a password provider that counts its calls: "right" is the
// only good password (so an empty one is refused, by the provider).
type upstream struct {
	mu    sync.Mutex
	calls int
	down  bool
}

func (u *upstream) Login(_ context.Context, user, pass string) (providers.Identity, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	switch {
	case u.down:
		return providers.Identity{}, providers.ErrUnavailable
	case pass == "right":
		return providers.Identity{Provider: "corp", Username: user}, nil
	}
	return providers.Identity{}, providers.ErrInvalidCredentials
}

func newTestLockout(t *testing.T, cfg LoginProtection, st store.Store) *lockout {
	t.Helper()
	l, err := newLockout(cfg, st, []Provider{{Name: "corp"}}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLockoutLocksDoublesAndResets(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := store.NewMemory(clock.now)
	l := newTestLockout(t, LoginProtection{Window: time.Hour, UserThreshold: 3, IPThreshold: 100, LockDuration: time.Minute, MaxLockDuration: 5 * time.Minute}, st)
	up := &upstream{}
	ctx := context.Background()
	try := func(user, pass string) error {
		_, err := authenticate(ctx, l, "corp", up, user, pass, "192.0.2.1")
		return err
	}

	for i := range 3 {
		if err := try("alice", "wrong"); !errors.Is(err, providers.ErrInvalidCredentials) || errors.Is(err, errLocked) {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	calls := up.calls
	// Locked: the right password is refused like a wrong one, upstream untouched.
	for _, user := range []string{"alice", "ALICE", " alice "} {
		if err := try(user, "right"); !errors.Is(err, providers.ErrInvalidCredentials) || !errors.Is(err, errLocked) {
			t.Fatalf("%q while locked: %v", user, err)
		}
	}
	if up.calls != calls {
		t.Fatalf("upstream called %d times while locked", up.calls-calls)
	}
	// Another account is not locked.
	if err := try("bob", "right"); err != nil {
		t.Fatalf("bob: %v", err)
	}

	// Each further lock doubles, up to the cap: 1m, 2m, 4m, 5m, 5m.
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		ttl, err := st.TTL(ctx, l.buckets("corp", "alice", "192.0.2.1")[0].key("lock"))
		if err != nil || ttl != want {
			t.Fatalf("lock %d lasts %v (err %v), want %v", i+1, ttl, err, want)
		}
		clock.add(want - time.Second)
		if err := try("alice", "right"); !errors.Is(err, errLocked) {
			t.Fatalf("lock %d ended early: %v", i+1, err)
		}
		clock.add(time.Second)
		// Still over the threshold in the window: one more failure re-locks.
		if err := try("alice", "wrong"); errors.Is(err, errLocked) || !errors.Is(err, providers.ErrInvalidCredentials) {
			t.Fatalf("after lock %d: %v", i+1, err)
		}
	}

	// A success resets the account: three new failures are needed, and
	// the next lock is the first one again.
	clock.add(10 * time.Minute)
	if err := try("alice", "right"); err != nil {
		t.Fatalf("after the last lock: %v", err)
	}
	for range 2 {
		_ = try("alice", "wrong")
	}
	if err := try("alice", "right"); err != nil {
		t.Fatalf("two failures after a success must not lock: %v", err)
	}
	for range 3 {
		_ = try("alice", "wrong")
	}
	if ttl, _ := st.TTL(ctx, l.buckets("corp", "alice", "192.0.2.1")[0].key("lock")); ttl != time.Minute {
		t.Fatalf("first lock after a reset lasts %v", ttl)
	}
}

func TestLockoutPerAddress(t *testing.T) {
	st := store.NewMemory(nil)
	l := newTestLockout(t, LoginProtection{UserThreshold: 100, IPThreshold: 3}, st)
	up := &upstream{}
	ctx := context.Background()
	cases := []struct {
		name, ip   string
		wantLocked bool
	}{
		{"spray 1", "2001:db8:1:2:aaaa::1", false},
		{"spray 2", "2001:db8:1:2:bbbb::2", false},
		{"spray 3 (same /64)", "2001:db8:1:2:cccc::3", false},
		{"same /64 is locked", "2001:db8:1:2::99", true},
		{"other /64 is not", "2001:db8:1:3::1", false},
		{"IPv4 is not", "192.0.2.7", false},
	}
	for i, tc := range cases {
		pass := "wrong"
		if tc.wantLocked || i > 3 {
			pass = "right"
		}
		_, err := authenticate(ctx, l, "corp", up, "user"+tc.name, pass, tc.ip)
		if errors.Is(err, errLocked) != tc.wantLocked {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// A good login does not clear the address.
	if _, err := authenticate(ctx, l, "corp", up, "x", "right", "2001:db8:1:2::5"); !errors.Is(err, errLocked) {
		t.Fatalf("address unlocked: %v", err)
	}
}

// brokenStore fails every call (a fault, not a protocol peer).
type brokenStore struct{ store.Store }

var errStoreDown = errors.New("connection refused")

func (brokenStore) Get(context.Context, string) (int64, error) { return 0, errStoreDown }
func (brokenStore) Incr(context.Context, string, time.Duration) (int64, error) {
	return 0, errStoreDown
}
func (brokenStore) Delete(context.Context, string) error { return errStoreDown }

// failAfterCheck reads fine and fails to count.
type failAfterCheck struct{ *store.Memory }

func (failAfterCheck) Incr(context.Context, string, time.Duration) (int64, error) {
	return 0, errStoreDown
}

func TestLockoutFailsClosed(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		st        store.Store
		pass      string
		wantErr   error
		wantCalls int
	}{
		{"store down before the login", brokenStore{}, "right", providers.ErrUnavailable, 0},
		{"cannot count a failure", failAfterCheck{store.NewMemory(nil)}, "wrong", providers.ErrUnavailable, 1},
		{"success with a store that cannot reset", brokenResetStore{store.NewMemory(nil)}, "right", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := &upstream{}
			l := newTestLockout(t, LoginProtection{}, tc.st)
			_, err := authenticate(ctx, l, "corp", up, "alice", tc.pass, "192.0.2.1")
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
			if up.calls != tc.wantCalls {
				t.Fatalf("upstream called %d times, want %d", up.calls, tc.wantCalls)
			}
		})
	}
}

// brokenResetStore works but cannot delete.
type brokenResetStore struct{ *store.Memory }

func (brokenResetStore) Delete(context.Context, string) error { return errStoreDown }

func TestLockoutDisabledAndConfig(t *testing.T) {
	up := &upstream{}
	l := newTestLockout(t, LoginProtection{Disabled: true, UserThreshold: 1}, brokenStore{})
	for range 3 {
		if _, err := authenticate(context.Background(), l, "corp", up, "a", "wrong", "192.0.2.1"); errors.Is(err, errLocked) || errors.Is(err, providers.ErrUnavailable) {
			t.Fatalf("disabled protection interfered: %v", err)
		}
	}
	for _, tc := range []struct {
		name string
		cfg  LoginProtection
		want int
	}{
		{"defaults", LoginProtection{}, 0},
		{"negative threshold", LoginProtection{UserThreshold: -1, IPThreshold: -2}, 2},
		{"cap below first lock", LoginProtection{LockDuration: 2 * time.Hour}, 1},
		{"tiny window", LoginProtection{Window: time.Millisecond}, 1},
		{"account threshold below the user threshold", LoginProtection{UserThreshold: 5, AccountThreshold: 4}, 1},
		{"account threshold equal to it", LoginProtection{UserThreshold: 5, AccountThreshold: 5}, 0},
	} {
		if got := len(tc.cfg.Validate()); got != tc.want {
			t.Errorf("%s: %d errors (%v), want %d", tc.name, got, tc.cfg.Validate(), tc.want)
		}
	}
	if addressKey("not an ip") != "raw:not an ip" || addressKey("::ffff:192.0.2.1") != "192.0.2.1" {
		t.Errorf("address keys: %q %q", addressKey("not an ip"), addressKey("::ffff:192.0.2.1"))
	}
}

// A locked answer waits about as long as a refused login takes upstream,
// counted from when the attempt began: a lock found after the account
// look-up waits only for the rest. Refusals the provider decides without
// asking upstream do not shorten it.
func TestLockoutDelayFollowsUpstream(t *testing.T) {
	l := newTestLockout(t, LoginProtection{}, store.NewMemory(nil))
	if w := l.wait("corp", 0); w < lockoutInitialDelayMicros*850*time.Nanosecond || w > lockoutInitialDelayMicros*1150*time.Nanosecond {
		t.Fatalf("wait before any sample %v, want about %dµs", w, lockoutInitialDelayMicros)
	}
	l.observe("corp", 20*time.Millisecond, 15*time.Millisecond)
	l.observe("corp", time.Millisecond, 10*time.Microsecond) // an empty password: tried locally
	for range 20 {
		if w := l.wait("corp", 0); w < 17*time.Millisecond || w > 23*time.Millisecond {
			t.Fatalf("wait %v, want 20ms ±15%%", w)
		}
		if w := l.wait("corp", 5*time.Millisecond); w < 12*time.Millisecond || w > 18*time.Millisecond {
			t.Fatalf("wait after 5ms %v, want the rest of 20ms ±15%%", w)
		}
	}
	if w := l.wait("corp", time.Second); w > 0 {
		t.Fatalf("wait after the average has passed: %v", w)
	}
	// delay waits at least that long (a timer never fires early), and no
	// longer than its context.
	start := time.Now()
	l.delay(context.Background(), "corp", start)
	if took := time.Since(start); took < 17*time.Millisecond {
		t.Fatalf("delay %v, want at least 17ms", took)
	}
	for range 64 {
		l.observe("corp", time.Hour, time.Hour) // each sample capped at lockoutMaxDelay
	}
	if w := l.wait("corp", 0); w < lockoutMaxDelay*8/10 || w > lockoutMaxDelay {
		t.Fatalf("wait %v after slow samples, want about %v", w, lockoutMaxDelay)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	l.delay(ctx, "corp", start)
	if took := time.Since(start); took >= lockoutMaxDelay/2 {
		t.Fatalf("delay ignores a cancelled context: %v", took)
	}
}

// aliasDirectory is a password provider whose user filter accepts several
// names for one account (as (|(uid={username})(mail={username})) does): it
// names the account before the password is tried, like providers/ldap.
type aliasDirectory struct {
	mu       sync.Mutex
	accounts map[string]string // typed name → account key
	tried    int               // passwords actually checked
}

func (d *aliasDirectory) Login(ctx context.Context, username, password string) (providers.Identity, error) {
	acct, err := d.FindAccount(ctx, username)
	if err != nil {
		return providers.Identity{}, err
	}
	return d.LoginAccount(ctx, acct, password)
}

func (d *aliasDirectory) FindAccount(_ context.Context, username string) (providers.Account, error) {
	return providers.Account{Key: d.accounts[username]}, nil
}

func (d *aliasDirectory) LoginAccount(_ context.Context, acct providers.Account, password string) (providers.Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if acct.Key == "" {
		return providers.Identity{}, providers.ErrInvalidCredentials
	}
	d.tried++
	if password != "right" {
		return providers.Identity{}, providers.ErrInvalidCredentials
	}
	return providers.Identity{Provider: "corp", Username: acct.Key}, nil
}

func (d *aliasDirectory) triedCount() int { d.mu.Lock(); defer d.mu.Unlock(); return d.tried }

var _ providers.AccountAuthenticator = (*aliasDirectory)(nil)

func TestLockoutCountsPerAccount(t *testing.T) {
	const aliceDN = "uid=alice,ou=people,dc=example,dc=org"
	names := map[string]string{"alice": aliceDN, "alice@example.org": aliceDN, "bob": "uid=bob,ou=people,dc=example,dc=org"}
	cases := []struct {
		name  string
		tries []string // failing names, in order; the account locks on the last
	}{
		{"uid and mail alternating", []string{"alice", "alice@example.org", "alice", "alice@example.org"}},
		{"mail only then uid", []string{"alice@example.org", "alice@example.org", "alice@example.org", "alice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			l := newTestLockout(t, LoginProtection{Window: time.Hour, UserThreshold: 4, IPThreshold: 100, LockDuration: time.Minute}, store.NewMemory(clock.now))
			d := &aliasDirectory{accounts: names}
			ctx := context.Background()
			try := func(user, pass string) error {
				_, err := authenticate(ctx, l, "corp", d, user, pass, "192.0.2.1")
				return err
			}
			for i, user := range tc.tries {
				if err := try(user, "wrong"); !errors.Is(err, providers.ErrInvalidCredentials) || errors.Is(err, errLocked) {
					t.Fatalf("failure %d (%s): %v", i, user, err)
				}
			}
			tried := d.triedCount()
			// Both names are locked: the right password is refused like a
			// wrong one, and never tried.
			for _, user := range []string{"alice", "alice@example.org"} {
				err := try(user, "right")
				if !errors.Is(err, providers.ErrInvalidCredentials) || !errors.Is(err, errLocked) {
					t.Fatalf("%s while the account is locked: %v", user, err)
				}
			}
			if n := d.triedCount() - tried; n != 0 {
				t.Fatalf("%d passwords tried while the account was locked", n)
			}
			// Another account and an unknown name are not locked.
			if err := try("bob", "right"); err != nil {
				t.Fatalf("bob: %v", err)
			}
			if err := try("nobody", "right"); !errors.Is(err, providers.ErrInvalidCredentials) || errors.Is(err, errLocked) {
				t.Fatalf("unknown user: %v", err)
			}
			// When the lock expires the right password works, and resets
			// the account (and the name used): three more failures do not
			// lock it. (Other names keep their own counters.)
			clock.add(time.Minute)
			if err := try("alice@example.org", "right"); err != nil {
				t.Fatalf("after the lock: %v", err)
			}
			for range 3 {
				_ = try("alice@example.org", "wrong")
			}
			if err := try("alice@example.org", "right"); err != nil {
				t.Fatalf("three failures after a success locked the account: %v", err)
			}
		})
	}
}

// The account check fails closed like the name check: a store that cannot
// be read refuses the attempt as unavailable, and the password is not tried.
func TestLockoutAccountCheckFailsClosed(t *testing.T) {
	st := &failAccountReads{Memory: store.NewMemory(nil)}
	l := newTestLockout(t, LoginProtection{}, st)
	d := &aliasDirectory{accounts: map[string]string{"alice": "uid=alice,dc=example,dc=org"}}
	ctx := context.Background()
	_, err := authenticate(ctx, l, "corp", d, "alice", "right", "192.0.2.1")
	if !errors.Is(err, providers.ErrUnavailable) || errors.Is(err, providers.ErrInvalidCredentials) {
		t.Fatalf("err = %v, want only ErrUnavailable", err)
	}
	if d.triedCount() != 0 {
		t.Fatal("password tried although the account could not be checked")
	}
}

// failAccountReads fails reads of account buckets only.
type failAccountReads struct{ *store.Memory }

func (f *failAccountReads) Get(ctx context.Context, key string) (int64, error) {
	if strings.HasPrefix(key, "login:account:") {
		return 0, errStoreDown
	}
	return f.Memory.Get(ctx, key)
}

// An empty password is an attempt like any other: the provider refuses it
// (the broker does not filter it) and it counts, so empty attempts lock the
// name, and then the right password is refused without being tried.
func TestLockoutCountsEmptyPasswords(t *testing.T) {
	up := &upstream{}
	dir := &aliasDirectory{accounts: map[string]string{"alice": "uid=alice"}}
	for _, tc := range []struct {
		name  string
		pa    providers.PasswordAuthenticator
		calls func() int // passwords the provider saw
	}{
		{"password provider", up, func() int { up.mu.Lock(); defer up.mu.Unlock(); return up.calls }},
		{"account provider", dir, dir.triedCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLockout(t, LoginProtection{UserThreshold: 3, IPThreshold: 100}, store.NewMemory(nil))
			ctx := context.Background()
			for i := range 3 {
				if _, err := authenticate(ctx, l, "corp", tc.pa, "alice", "", "192.0.2.1"); !errors.Is(err, providers.ErrInvalidCredentials) || errors.Is(err, errLocked) {
					t.Fatalf("empty password %d: %v", i, err)
				}
			}
			if n := tc.calls(); n != 3 {
				t.Fatalf("the provider saw %d of 3 empty passwords", n)
			}
			if _, err := authenticate(ctx, l, "corp", tc.pa, "alice", "right", "192.0.2.1"); !errors.Is(err, errLocked) {
				t.Fatalf("after three empty passwords: %v", err)
			}
			if n := tc.calls(); n != 3 {
				t.Fatalf("the right password was tried while locked (%d calls)", n)
			}
		})
	}
}
