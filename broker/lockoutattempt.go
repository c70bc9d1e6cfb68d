package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// The lock-out of one login, step by step. A password login is one
// straight sequence (authenticateWith): admit by name and address, find the
// account, admit the account, try the password, record the outcome, and,
// when the login offers a second factor with the password, check it.
//
// A stranger who knows a username can lock it only for the stranger's own
// address (UserThreshold); failures from every address lock the account
// everywhere only at AccountThreshold. Even then, an enrolled person whose
// password and second factor are both right gets in: an attempt that
// offers a code is not refused by the account-wide locks, and is decided
// by the code instead. The code's own lock-out (the person's second factor,
// counted from every address: mfalockout.go) holds everyone, so a locked
// account does not become a place to guess codes; and while an
// account-wide lock was passed over, every refusal is the locked answer, so
// that guessing passwords with a code attached learns nothing either.

// secondFactor checks the second factor a login offers for the identity
// its password proved (a TOTP or recovery code), under its own lock-out
// (admitCode, mfalockout.go): any error refuses the login.
type secondFactor func(ctx context.Context, id providers.Identity) error

// authenticateWith is the password login under the lock-out (see above),
// with code the check of the second factor offered with the password, nil
// when none was. A locked name, address, account or second factor is
// refused like a wrong password, after about as long, without the password
// being tried; a store that cannot say refuses as unavailable. Every
// attempt counts, an empty password too: the provider refuses it (the
// broker does not filter it).
func authenticateWith(ctx context.Context, l *lockout, provider string, pa providers.PasswordAuthenticator, username, password, clientIP string, code secondFactor) (providers.Identity, error) {
	a, err := l.begin(ctx, provider, username, clientIP, code != nil)
	if err != nil {
		return providers.Identity{}, err
	}
	id, err := a.password(ctx, pa, username, password)
	if err != nil || code == nil {
		return id, err
	}
	return a.checkCode(ctx, id, code)
}

// password finds the account (for a provider that can:
// providers.AccountAuthenticator), admits it, tries the password and
// records the outcome.
func (a *attempt) password(ctx context.Context, pa providers.PasswordAuthenticator, username, password string) (providers.Identity, error) {
	aa, ok := pa.(providers.AccountAuthenticator)
	if !ok || !a.protected() {
		// One step: the provider cannot name the account, or nothing
		// would be decided between the steps.
		start := time.Now()
		id, err := pa.Login(ctx, username, password)
		return a.record(ctx, id, err, time.Since(start))
	}
	acct, err := aa.FindAccount(ctx, username)
	if err != nil {
		return a.record(ctx, providers.Identity{}, err, 0)
	}
	if err := a.admitAccount(ctx, acct.Key); err != nil {
		return providers.Identity{}, err
	}
	start := time.Now()
	id, err := aa.LoginAccount(ctx, acct, password)
	return a.record(ctx, id, err, time.Since(start))
}

// attempt is the lock-out state of one login: the buckets it is checked and
// counted in, and when it began. With the protection off (l nil) every step
// lets the attempt through.
type attempt struct {
	l        *lockout
	provider string
	username string
	clientIP string
	buckets  []bucket
	start    time.Time
	// code: a second factor comes with the password, so account-wide
	// locks do not refuse it; passedWide: one of them was locked.
	code, passedWide bool
}

// admit begins a password attempt by username at provider from clientIP.
// While the name (from this address, or from every address) or the
// address is locked it refuses with the wrong-password answer (errLocked
// inside ErrInvalidCredentials) after the usual delay; a store that cannot
// be read refuses with ErrUnavailable, never skipping the check.
func (l *lockout) admit(ctx context.Context, provider, username, clientIP string) (*attempt, error) {
	return l.begin(ctx, provider, username, clientIP, false)
}

// admitCode begins an attempt that offers a second factor (with a
// password, or alone by a person signed in already): as admit, except that
// the account-wide locks (the name's and the account's, reached by
// failures from every address) do not refuse it. The code's own lock-out
// must then decide (mfalockout.go).
func (l *lockout) admitCode(ctx context.Context, provider, username, clientIP string) (*attempt, error) {
	return l.begin(ctx, provider, username, clientIP, true)
}

// begin is admit, or admitCode with code.
func (l *lockout) begin(ctx context.Context, provider, username, clientIP string, code bool) (*attempt, error) {
	if l == nil || l.cfg.Disabled {
		return &attempt{}, nil
	}
	a := &attempt{l: l, provider: provider, username: username, clientIP: clientIP,
		buckets: l.buckets(provider, username, clientIP), start: time.Now(), code: code}
	return a, a.check(ctx, a.buckets)
}

// protected reports whether the attempt is under the protection (off: every
// step lets it through).
func (a *attempt) protected() bool { return a.l != nil }

// admitAccount checks the account the username names (its key; "" when
// none matched, which is counted under the typed name), from this address
// and from every address, with admit's answers. From here on a refused
// password counts against the account too.
func (a *attempt) admitAccount(ctx context.Context, key string) error {
	if a.l == nil {
		return nil
	}
	bs := a.l.accountBuckets(a.provider, a.username, key, a.clientIP)
	a.buckets = append(a.buckets, bs...)
	return a.check(ctx, bs)
}

// check refuses the attempt when one of bs is locked or cannot be read
// (an account-wide lock does not refuse an attempt that offers a second
// factor: it is remembered in passedWide).
func (a *attempt) check(ctx context.Context, bs []bucket) error {
	which, passed, err := a.l.locked(ctx, bs, a.code)
	a.passedWide = a.passedWide || passed
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	case which != "":
		return a.lockedAnswer(ctx, which)
	}
	return nil
}

// lockedAnswer is the refusal of a locked attempt: the wrong-password
// answer, after about as long as a refused login takes.
func (a *attempt) lockedAnswer(ctx context.Context, which string) error {
	a.l.delay(ctx, a.provider, a.start)
	return fmt.Errorf("%w: %w (%s)", providers.ErrInvalidCredentials, errLocked, which)
}

// record counts the outcome of the password try (tried is how long it
// took) and returns it: a refused password counts in every bucket
// (ErrUnavailable when the store cannot count it), any other error passes
// uncounted, and a success resets the name's and the account's counters —
// unless a second factor is still to be checked, which then decides.
func (a *attempt) record(ctx context.Context, id providers.Identity, err error, tried time.Duration) (providers.Identity, error) {
	if a.l == nil {
		return id, err
	}
	switch {
	case err == nil:
		if !a.code {
			a.reset(ctx, a.buckets)
		}
		return id, nil
	case errors.Is(err, providers.ErrInvalidCredentials):
		a.l.observe(a.provider, time.Since(a.start), tried)
		if serr := a.l.failed(ctx, a.provider, a.username, a.buckets); serr != nil {
			return providers.Identity{}, fmt.Errorf("%w: %w (after: %v)", providers.ErrUnavailable, serr, err)
		}
		return providers.Identity{}, err
	default:
		return providers.Identity{}, err
	}
}

// reset clears the counters of bs after a success.
func (a *attempt) reset(ctx context.Context, bs []bucket) {
	if err := a.l.succeeded(ctx, bs); err != nil {
		// The login is good; stale counters only make later locks
		// stricter, so this is logged rather than refused.
		a.l.log.WarnContext(ctx, "login protection: counters not reset", slog.Any("err", err))
	}
}

// checkCode runs the check of the code offered with a right password for
// id. A right code resets the counters of the name, the account and the
// address's name and account — but not the account-wide ones when their
// lock was passed over (the strangers stay held). A refusal is the check's,
// or, while an account-wide lock was passed over, the locked answer: the
// password was right, and nothing may say so.
func (a *attempt) checkCode(ctx context.Context, id providers.Identity, code secondFactor) (providers.Identity, error) {
	err := code(ctx, id)
	if a.l == nil {
		if err != nil {
			return providers.Identity{}, err
		}
		return id, nil
	}
	if err == nil {
		var reset []bucket
		for _, b := range a.buckets {
			if !b.wide() || !a.passedWide {
				reset = append(reset, b)
			}
		}
		a.reset(ctx, reset)
		return id, nil
	}
	if a.passedWide && !errors.Is(err, errLocked) {
		a.l.log.DebugContext(ctx, "login protection: refused past an account-wide lock", slog.Any("err", err))
		return providers.Identity{}, a.lockedAnswer(ctx, kindAccount)
	}
	return providers.Identity{}, err
}

// lockedUntil is when the account-wide lock of the name username at
// provider ends (failures from every address); zero when it is not locked.
// The per-address locks, the account's (keyed by the directory entry) and
// the second factor's (mfalockout.go) are not included.
func (l *lockout) lockedUntil(ctx context.Context, provider, username string, now time.Time) (time.Time, error) {
	if l == nil || l.cfg.Disabled {
		return time.Time{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	ttl, err := l.store.TTL(ctx, l.buckets(provider, username, "")[1].key("lock"))
	if err != nil {
		return time.Time{}, fmt.Errorf("login protection: %w", err)
	}
	if ttl <= 0 {
		return time.Time{}, nil
	}
	return now.Add(ttl), nil
}
