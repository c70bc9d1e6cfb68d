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
	// onLock records a lock as it is set: the broker's audit (so the
	// credential report counts it); nil logs it here.
	onLock func(ctx context.Context, provider, username string, attrs []slog.Attr)
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

// The counted subjects (bucket kinds). Failures count per account from
// each client address first (kindUserAddr, kindAccountAddr:
// LoginProtection.UserThreshold), so that a stranger who knows a username
// locks it only for the stranger's own address; per account from every
// address only at a higher threshold (kindUser, kindAccount:
// AccountThreshold); and per address over every account (kindAddr:
// IPThreshold).
const (
	kindUserAddr    = "user-ip"    // a typed username, from one address
	kindAccountAddr = "account-ip" // the account it names, from one address
	kindUser        = "user"       // a typed username, from every address
	kindAccount     = "account"    // the account it names, from every address
	kindAddr        = "ip"         // a client address (an IPv6 /64)
)

// bucket is one counted subject.
type bucket struct {
	kind      string
	id        string // hashed key material
	threshold int
	// who names the subject in the audit log (the username or the
	// account); addr is the client address of the per-address kinds.
	who, addr string
}

func (b bucket) key(part string) string { return "login:" + b.kind + ":" + part + ":" + b.id }

// wide reports whether b counts an account's password failures from every
// address: its lock does not hold an attempt that offers a second factor
// (the second factor's own lock, which nothing passes over, holds that one
// instead: mfalockout.go).
func (b bucket) wide() bool { return b.kind == kindUser || b.kind == kindAccount }

// typedName is a username as the buckets key it: trimmed and lower-cased
// (directories usually match it case-insensitively, so JDOE and jdoe share
// a bucket).
func typedName(username string) string { return strings.ToLower(strings.TrimSpace(username)) }

// hashID is the bucket id of key material under provider: hashed, so keys
// have a fixed size and never carry what was typed (a mistyped password).
func hashID(provider string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(provider))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return provider + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// buckets returns the buckets of an attempt by username at provider from
// clientIP: the name from this address, the name from every address, and
// the address.
func (l *lockout) buckets(provider, username, clientIP string) []bucket {
	name, addr := typedName(username), addressKey(clientIP)
	return []bucket{
		{kind: kindUserAddr, id: hashID(provider, name, addr), threshold: l.cfg.UserThreshold, who: username, addr: addr},
		{kind: kindUser, id: hashID(provider, name), threshold: l.cfg.AccountThreshold, who: username},
		{kind: kindAddr, id: addr, threshold: l.cfg.IPThreshold, addr: addr},
	}
}

// accountBuckets are the buckets of the account a username resolved to,
// from clientIP and from every address. When none matched (account == "")
// they are keyed on the typed name in a separate namespace, so that an
// unknown user costs the same store work as a known one (one read before
// the password is tried, one count after) and the answers cannot be told
// apart by their timing.
func (l *lockout) accountBuckets(provider, username, account, clientIP string) []bucket {
	material, ns, who := account, "dn", account
	if account == "" {
		material, ns, who = typedName(username), "typed", username
	}
	addr := addressKey(clientIP)
	return []bucket{
		{kind: kindAccountAddr, id: hashID(provider, ns, material, addr), threshold: l.cfg.UserThreshold, who: who, addr: addr},
		{kind: kindAccount, id: hashID(provider, ns, material), threshold: l.cfg.AccountThreshold, who: who},
	}
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

// locked reports which of bs is locked ("" for none). With passWide, the
// locks of account-wide buckets do not count (an attempt that offers a
// second factor); passed then says whether one of them was locked. A store
// error is returned (the caller fails closed).
func (l *lockout) locked(ctx context.Context, bs []bucket, passWide bool) (which string, passed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	for _, b := range bs {
		v, err := l.store.Get(ctx, b.key("lock"))
		if err != nil {
			return "", false, fmt.Errorf("login protection: %w", err)
		}
		switch {
		case v <= 0:
		case passWide && b.wide():
			passed = true
		default:
			return b.kind, passed, nil
		}
	}
	return "", passed, nil
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
		attrs := []slog.Attr{slog.String("bucket", b.kind), slog.Int64("failures", n), slog.Int64("lock_number", strikes), slog.Duration("lock", d)}
		if b.kind == kindAccount || b.kind == kindAccountAddr {
			attrs = append(attrs, slog.String("account", b.who))
		}
		if b.addr != "" {
			attrs = append(attrs, slog.String("client", b.addr))
		}
		l.recordLock(ctx, provider, username, attrs)
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

// succeeded clears the counters of bs, but never an address's: one good
// account must not launder an address's failures.
func (l *lockout) succeeded(ctx context.Context, bs []bucket) error {
	ctx, cancel := context.WithTimeout(ctx, lockoutStoreTimeout)
	defer cancel()
	var errs []error
	for _, b := range bs {
		if b.kind == kindAddr {
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

// recordLock records a lock just set on provider's username.
func (l *lockout) recordLock(ctx context.Context, provider, username string, attrs []slog.Attr) {
	if l.onLock != nil {
		l.onLock(ctx, provider, username, attrs)
		return
	}
	l.log.LogAttrs(ctx, slog.LevelWarn, "audit", append([]slog.Attr{slog.String("event", "login.locked"),
		slog.String("provider", provider), slog.String("user", username)}, attrs...)...)
}
