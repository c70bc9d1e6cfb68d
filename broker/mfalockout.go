package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/providers"
)

// The lock-out of the second factor. A wrong TOTP or recovery code counts
// twice:
//   - in the password login's counters (the name's and the address's,
//     through attempt.record), as a wrong password would;
//   - in a counter of the person's second factor, which only a right code
//     resets. A right password resets the name's counters, so a thief who
//     has the password could otherwise guess codes for ever, a few at a
//     time between right passwords; this counter locks the second factor
//     after LoginProtection.UserThreshold wrong codes within Window, with
//     the same doubling lock. Only someone past the first factor (a right
//     password, or a session) can move it.
//
// While the name, the address or the second factor is locked, a code is
// refused like a wrong one, after about as long, without being checked.

// mfaAttempt is the lock-out state of one second-factor check.
type mfaAttempt struct {
	a  *attempt
	l  *lockout
	id string // the person's hashed key ("" when the protection is off)
}

func (m *mfaAttempt) key(part string) string { return "login:mfa:" + part + ":" + m.id }

// admitMFA begins a second-factor check of username at provider from
// clientIP: refused (providers.ErrInvalidCredentials, after the usual
// delay) while the name from this address, the address or the person's
// second factor is locked; providers.ErrUnavailable when the store cannot
// say. The name's account-wide lock (failures from every address) does not
// refuse it (admitCode): the person's own second factor decides.
func (l *lockout) admitMFA(ctx context.Context, provider, username, clientIP string) (*mfaAttempt, error) {
	a, err := l.admitCode(ctx, provider, username, clientIP)
	if err != nil {
		return nil, err
	}
	m := &mfaAttempt{a: a, l: l}
	if l == nil || l.cfg.Disabled {
		return m, nil
	}
	h := sha256.Sum256([]byte(provider + "\x00" + casefold.Unicode(username)))
	m.id = provider + ":" + hex.EncodeToString(h[:16])
	cctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	v, err := l.store.Get(cctx, m.key("lock"))
	cancel()
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: login protection: %w", providers.ErrUnavailable, err)
	case v > 0:
		l.delay(ctx, provider, a.start)
		return nil, fmt.Errorf("%w: %w (mfa)", providers.ErrInvalidCredentials, errLocked)
	}
	return m, nil
}

// failed counts a wrong code (see above) and locks what reached its
// threshold. An error means the store could not count it (the caller
// refuses as unavailable).
func (m *mfaAttempt) failed(ctx context.Context) error {
	if _, err := m.a.record(ctx, providers.Identity{}, fmt.Errorf("%w: wrong second factor", providers.ErrInvalidCredentials), 0); err != nil && !isInvalidCredentials(err) {
		return err
	}
	if m.id == "" {
		return nil
	}
	l := m.l
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	n, err := l.store.Incr(ctx, m.key("fail"), l.cfg.Window)
	if err != nil {
		return fmt.Errorf("%w: login protection: %w", providers.ErrUnavailable, err)
	}
	if n < int64(l.cfg.UserThreshold) {
		return nil
	}
	strikes, err := l.store.Incr(ctx, m.key("strikes"), lockoutStrikeMemory)
	if err != nil {
		return fmt.Errorf("%w: login protection: %w", providers.ErrUnavailable, err)
	}
	d := l.lockFor(strikes)
	if err := l.store.SetTTL(ctx, m.key("lock"), strikes, d); err != nil {
		return fmt.Errorf("%w: login protection: %w", providers.ErrUnavailable, err)
	}
	l.recordLock(ctx, m.a.provider, m.a.username, []slog.Attr{slog.String("bucket", "mfa"),
		slog.Int64("failures", n), slog.Int64("lock_number", strikes), slog.Duration("lock", d)})
	return nil
}

// succeeded clears the second factor's counters (a right code). The
// name's and the address's stay as they are: a right code proves the
// second factor, not the password.
func (m *mfaAttempt) succeeded(ctx context.Context) {
	if m.id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	for _, part := range []string{"fail", "strikes"} {
		if err := m.l.store.Delete(ctx, m.key(part)); err != nil {
			m.l.log.WarnContext(ctx, "login protection: second-factor counters not reset", slog.Any("err", err))
			return
		}
	}
}

// isInvalidCredentials reports whether err is the wrong-credentials answer
// record hands back after counting (not a failure to count).
func isInvalidCredentials(err error) bool {
	return err != nil && errors.Is(err, providers.ErrInvalidCredentials) && !errors.Is(err, providers.ErrUnavailable)
}

// mfaLockTTL is how long the second factor of provider/username stays
// locked (0: not locked), for tests and the credential report.
func (l *lockout) mfaLockTTL(ctx context.Context, provider, username string) (time.Duration, error) {
	h := sha256.Sum256([]byte(provider + "\x00" + casefold.Unicode(username)))
	m := &mfaAttempt{id: provider + ":" + hex.EncodeToString(h[:16])}
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	return l.store.TTL(ctx, m.key("lock"))
}
