package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
)

// codeCheck is a second-factor check that accepts the code "right" once
// per call site and counts its calls.
type codeCheck struct {
	code  string
	calls int
}

func (c *codeCheck) check(context.Context, providers.Identity) error {
	c.calls++
	if c.code == "right" {
		return nil
	}
	return fmt.Errorf("%w: wrong code", providers.ErrInvalidCredentials)
}

// TestLockoutStrangerCannotLockOwner: failures from one address lock the
// name for that address only; the account-wide lock needs
// AccountThreshold failures from all addresses together, and then holds
// the owner's password too — but not the owner's password with a right
// second factor, which does not lift the lock for anyone else. A wrong
// code past the account-wide lock is the locked answer.
func TestLockoutStrangerCannotLockOwner(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := store.NewMemory(clock.now)
	l := newTestLockout(t, LoginProtection{Window: time.Hour, UserThreshold: 3, AccountThreshold: 7, IPThreshold: 100, LockDuration: time.Minute}, st)
	up := &upstream{}
	ctx := context.Background()
	try := func(ip, pass string) error {
		_, err := authenticate(ctx, l, "corp", up, "alice", pass, ip)
		return err
	}
	const stranger, owner, home = "203.0.113.66", "198.51.100.7", "2001:db8:7::1"

	// The stranger's three failures lock alice for the stranger only.
	for i := range 3 {
		if err := try(stranger, "wrong"); !errors.Is(err, providers.ErrInvalidCredentials) || errors.Is(err, errLocked) {
			t.Fatalf("stranger failure %d: %v", i, err)
		}
	}
	if err := try(stranger, "right"); !errors.Is(err, errLocked) {
		t.Fatalf("the stranger's address is not locked: %v", err)
	}
	if err := try(owner, "right"); err != nil {
		t.Fatalf("the owner is held by a stranger's failures: %v", err)
	}
	if until, err := l.lockedUntil(ctx, "corp", "alice", clock.now()); err != nil || !until.IsZero() {
		t.Fatalf("account-wide lock after a stranger's failures: %v %v", until, err)
	}

	// Strangers from many addresses: the seventh failure (AccountThreshold;
	// the owner's success reset the count) locks alice everywhere.
	for i := range 7 {
		ip := fmt.Sprintf("192.0.2.%d", 10+i)
		if err := try(ip, "wrong"); !errors.Is(err, providers.ErrInvalidCredentials) || errors.Is(err, errLocked) {
			t.Fatalf("spray failure %d: %v", i, err)
		}
	}
	calls := up.calls
	if err := try(home, "right"); !errors.Is(err, errLocked) {
		t.Fatalf("the account-wide threshold did not hold: %v", err)
	}
	if up.calls != calls {
		t.Fatal("the password was tried while the account was locked")
	}
	if until, err := l.lockedUntil(ctx, "corp", "alice", clock.now()); err != nil || !until.Equal(clock.now().Add(time.Minute)) {
		t.Fatalf("lockedUntil %v %v", until, err)
	}

	// With a second factor: a right password and a right code get in.
	withCode := func(ip, pass string, c *codeCheck) error {
		_, err := authenticateWith(ctx, l, "corp", up, "alice", pass, ip, c.check)
		return err
	}
	right := &codeCheck{code: "right"}
	if err := withCode(home, "right", right); err != nil || right.calls != 1 {
		t.Fatalf("password and code right during the account-wide lock: %v (%d checks)", err, right.calls)
	}
	// A wrong code is answered as locked (nothing says the password was right).
	wrong := &codeCheck{code: "wrong"}
	if err := withCode(home, "right", wrong); !errors.Is(err, errLocked) || wrong.calls != 1 {
		t.Fatalf("right password, wrong code past the lock: %v (%d checks)", err, wrong.calls)
	}
	// A wrong password with a code is a wrong password; the code is not asked.
	unasked := &codeCheck{code: "right"}
	if err := withCode(home, "wrong", unasked); !errors.Is(err, providers.ErrInvalidCredentials) || unasked.calls != 0 {
		t.Fatalf("wrong password with a code: %v (%d checks)", err, unasked.calls)
	}
	// The owner's success does not lift the lock for passwords alone.
	if err := try(owner, "right"); !errors.Is(err, errLocked) {
		t.Fatalf("the account-wide lock was lifted by the owner's second factor: %v", err)
	}
	// The per-address lock holds even a right code: the stranger's
	// address stays locked for alice.
	if err := withCode(stranger, "right", &codeCheck{code: "right"}); !errors.Is(err, errLocked) {
		t.Fatalf("the stranger's address with a code: %v", err)
	}

	// When the lock ends (the wrong password above locked again, for
	// longer), passwords work again.
	until, err := l.lockedUntil(ctx, "corp", "alice", clock.now())
	if err != nil || !until.After(clock.now()) {
		t.Fatalf("lockedUntil %v %v", until, err)
	}
	clock.add(until.Sub(clock.now()))
	if err := try(owner, "right"); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
}

// TestLockoutThresholdDefaults: the account-wide threshold is four times
// the per-address one unless set.
func TestLockoutThresholdDefaults(t *testing.T) {
	for _, tc := range []struct {
		in   LoginProtection
		want int
	}{
		{LoginProtection{}, 4 * DefaultUserThreshold},
		{LoginProtection{UserThreshold: 3}, 12},
		{LoginProtection{UserThreshold: 3, AccountThreshold: 3}, 3},
	} {
		if got := tc.in.WithDefaults().AccountThreshold; got != tc.want {
			t.Errorf("%+v: account threshold %d, want %d", tc.in, got, tc.want)
		}
	}
}
