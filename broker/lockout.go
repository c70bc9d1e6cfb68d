package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
)

// Tuning of the lock-out that is not configurable.
const (
	lockoutStrikeMemory       = 24 * time.Hour
	lockoutStoreTimeout       = 2 * time.Second
	lockoutMinLatencySample   = 100 * time.Microsecond
	lockoutMaxDelay           = 3 * time.Second
	lockoutInitialDelayMicros = 2000
)

// errLocked is the private reason of a refusal while locked; callers see
// providers.ErrInvalidCredentials (the same answer as a wrong password).
var errLocked = errors.New("too many failed logins: temporarily locked")

// lockout implements LoginProtection on a Store.
type lockout struct {
	cfg   LoginProtection
	store store.Store
	log   *slog.Logger
	// latency holds, per provider, a moving average (µs) of how long a
	// refused login takes upstream, so that a locked answer takes about as
	// long. The map is filled once in newLockout and only read afterwards.
	latency map[string]*atomic.Int64
}

func newLockout(cfg LoginProtection, st store.Store, provs []Provider, log *slog.Logger, now func() time.Time) (*lockout, error) {
	cfg = cfg.WithDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("login protection: %w", errors.Join(errs...))
	}
	if st == nil {
		// A broker without a shared store still protects its own logins.
		st = store.NewMemory(now)
	}
	l := &lockout{cfg: cfg, store: st, log: log, latency: make(map[string]*atomic.Int64, len(provs))}
	for _, p := range provs {
		l.latency[p.Name] = &atomic.Int64{} // 0: no sample yet
	}
	return l, nil
}

// bucket is one counted subject: a typed username, an account or a client
// address.
type bucket struct {
	kind      string // "user" | "account" | "ip"
	id        string // hashed key material
	threshold int
	// who names the subject in the audit log (the username or the
	// account; the address's id is its own name).
	who string
}

func (b bucket) key(part string) string { return "login:" + b.kind + ":" + part + ":" + b.id }

// buckets returns the account and address buckets of an attempt. The
// username is trimmed and lower-cased (directories usually match it
// case-insensitively, so JDOE and jdoe share a bucket) and hashed, so keys
// have a fixed size and never carry what was typed (a mistyped password).
func (l *lockout) buckets(provider, username, clientIP string) []bucket {
	u := sha256.Sum256([]byte(provider + "\x00" + strings.ToLower(strings.TrimSpace(username))))
	return []bucket{
		{kind: "user", id: provider + ":" + hex.EncodeToString(u[:16]), threshold: l.cfg.UserThreshold, who: username},
		{kind: "ip", id: addressKey(clientIP), threshold: l.cfg.IPThreshold},
	}
}

// accountBucket is the bucket of the account a username resolved to. When
// none matched (account == "") it is keyed on the typed name in a separate
// namespace, so that an unknown user costs the same store work as a known
// one (one read before the password is tried, one count after) and the
// answers cannot be told apart by their timing.
func (l *lockout) accountBucket(provider, username, account string) bucket {
	material, ns, who := account, "dn", account
	if account == "" {
		material, ns, who = strings.ToLower(strings.TrimSpace(username)), "typed", username
	}
	h := sha256.Sum256([]byte(provider + "\x00" + ns + "\x00" + material))
	return bucket{kind: "account", id: provider + ":" + ns + ":" + hex.EncodeToString(h[:16]), threshold: l.cfg.UserThreshold, who: who}
}

// addressKey is the client address, IPv6 reduced to its /64 (one host
// usually owns a whole /64).
func addressKey(clientIP string) string {
	ip := net.ParseIP(clientIP)
	switch {
	case ip == nil:
		return "raw:" + clientIP
	case ip.To4() != nil:
		return ip.To4().String()
	default:
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
}

// locked reports whether the attempt must be refused without trying. A
// store error is returned (the caller fails closed).
func (l *lockout) locked(ctx context.Context, bs []bucket) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	for _, b := range bs {
		v, err := l.store.Get(ctx, b.key("lock"))
		if err != nil {
			return "", fmt.Errorf("login protection: %w", err)
		}
		if v > 0 {
			return b.kind, nil
		}
	}
	return "", nil
}

// failed counts a refused attempt in every bucket and locks those that
// reached their threshold.
func (l *lockout) failed(ctx context.Context, provider, username string, bs []bucket) error {
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	for _, b := range bs {
		n, err := l.store.Incr(ctx, b.key("fail"), l.cfg.Window)
		if err != nil {
			return fmt.Errorf("login protection: %w", err)
		}
		if n < int64(b.threshold) {
			continue
		}
		strikes, err := l.store.Incr(ctx, b.key("strikes"), lockoutStrikeMemory)
		if err != nil {
			return fmt.Errorf("login protection: %w", err)
		}
		d := l.lockFor(strikes)
		if err := l.store.SetTTL(ctx, b.key("lock"), strikes, d); err != nil {
			return fmt.Errorf("login protection: %w", err)
		}
		attrs := []any{slog.String("event", "login.locked"), slog.String("bucket", b.kind), slog.String("provider", provider),
			slog.Int64("failures", n), slog.Int64("lock_number", strikes), slog.Duration("lock", d)}
		switch b.kind {
		case "user":
			attrs = append(attrs, slog.String("user", username))
		case "account":
			attrs = append(attrs, slog.String("user", username), slog.String("account", b.who))
		default:
			attrs = append(attrs, slog.String("client", b.id))
		}
		l.log.WarnContext(ctx, "audit", attrs...)
	}
	return nil
}

// lockFor is LockDuration doubled per earlier lock, capped.
func (l *lockout) lockFor(strikes int64) time.Duration {
	d := l.cfg.LockDuration
	for i := int64(1); i < strikes && d < l.cfg.MaxLockDuration; i++ {
		d *= 2
	}
	return min(d, l.cfg.MaxLockDuration)
}

// succeeded clears the username's and the account's counters. The address's stay: one good
// account must not launder an address's failures.
func (l *lockout) succeeded(ctx context.Context, bs []bucket) error {
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	var errs []error
	for _, b := range bs {
		if b.kind == "ip" {
			continue
		}
		for _, part := range []string{"fail", "strikes"} {
			if err := l.store.Delete(ctx, b.key(part)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// observe feeds the duration d of a refused login into the provider's
// moving average. tried is how long the password try took: a refusal the
// provider decided without asking upstream (a malformed username, an empty
// password) is much faster, and is not counted.
func (l *lockout) observe(provider string, d, tried time.Duration) {
	v := l.latency[provider]
	if v == nil || tried < lockoutMinLatencySample {
		return
	}
	us := min(d, lockoutMaxDelay).Microseconds()
	for {
		old := v.Load()
		next := us
		if old > 0 {
			next = old + (us-old)/8
		}
		if v.CompareAndSwap(old, next) {
			return
		}
	}
}

// delay waits until about as long after since (when the attempt began) as
// a refused login takes (wait), so that a locked account cannot be told from
// a wrong password by timing.
func (l *lockout) delay(ctx context.Context, provider string, since time.Time) {
	t := time.NewTimer(l.wait(provider, time.Since(since)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// wait is how much longer an attempt that began elapsed ago waits before a
// locked answer: the provider's average refused login (or a default before
// the first sample), jittered by ±15% and capped, less what has passed (a
// lock found after the account look-up waits only for the rest).
func (l *lockout) wait(provider string, elapsed time.Duration) time.Duration {
	us := int64(lockoutInitialDelayMicros)
	if v := l.latency[provider]; v != nil && v.Load() > 0 {
		us = v.Load()
	}
	d := time.Duration(float64(us)*(0.85+0.3*rand.Float64())) * time.Microsecond
	return min(d, lockoutMaxDelay) - elapsed
}

// attempt is the lock-out state of one password login: the counters it is
// checked and counted in, and when it began. The login is one straight
// sequence (authenticate in login.go): admit by name and address, find the
// account, admit the account, try the password, record the outcome. With
// the protection off (l nil) every step lets the attempt through.
type attempt struct {
	l        *lockout
	provider string
	username string
	buckets  []bucket
	start    time.Time
}

// admit begins an attempt by username at provider from clientIP. While the
// name or the address is locked it refuses with the wrong-password answer
// (errLocked inside ErrInvalidCredentials) after the usual delay; a store
// that cannot be read refuses with ErrUnavailable, never skipping the check.
func (l *lockout) admit(ctx context.Context, provider, username, clientIP string) (*attempt, error) {
	if l == nil || l.cfg.Disabled {
		return &attempt{}, nil
	}
	a := &attempt{l: l, provider: provider, username: username, buckets: l.buckets(provider, username, clientIP), start: time.Now()}
	return a, a.check(ctx, a.buckets)
}

// protected reports whether the attempt is under the protection (off: every
// step lets it through).
func (a *attempt) protected() bool { return a.l != nil }

// admitAccount checks the account the username names (its key; "" when
// none matched, which is counted under the typed name), with admit's
// answers. From here on a refused password counts against the account too.
func (a *attempt) admitAccount(ctx context.Context, key string) error {
	if a.l == nil {
		return nil
	}
	b := a.l.accountBucket(a.provider, a.username, key)
	a.buckets = append(a.buckets, b)
	return a.check(ctx, []bucket{b})
}

// check refuses the attempt when one of bs is locked or cannot be read.
func (a *attempt) check(ctx context.Context, bs []bucket) error {
	which, err := a.l.locked(ctx, bs)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	case which != "":
		a.l.delay(ctx, a.provider, a.start)
		return fmt.Errorf("%w: %w (%s)", providers.ErrInvalidCredentials, errLocked, which)
	}
	return nil
}

// record counts the outcome of the password try (tried is how long it
// took) and returns it: a success resets the name's and the account's
// counters, a refused password counts in every bucket (ErrUnavailable when
// the store cannot count it), any other error passes uncounted.
func (a *attempt) record(ctx context.Context, id providers.Identity, err error, tried time.Duration) (providers.Identity, error) {
	if a.l == nil {
		return id, err
	}
	switch {
	case err == nil:
		if err := a.l.succeeded(ctx, a.buckets); err != nil {
			// The login is good; stale counters only make later locks
			// stricter, so this is logged rather than refused.
			a.l.log.WarnContext(ctx, "login protection: counters not reset", slog.Any("err", err))
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
