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

// LoginProtection configures the brute-force protection of password logins
// (the browser form, the JSON API and AssumeRoleWithLDAPIdentity alike).
//
// Failures are counted per (provider, username) and per client address in
// the shared Store, and, for providers that tell which directory entry a
// name resolved to (AccountLoginer), per (provider, account) too: a user
// filter that accepts uid or mail gives one account several names, and
// each name must not get its own allowance. When a counter reaches its threshold within Window the
// account (or address) is locked for LockDuration; every further lock
// doubles the duration up to MaxLockDuration. While locked, logins are
// answered exactly like a wrong password and the upstream is not called. A
// successful login resets the account's counters (not the address's).
// Zero fields take the defaults below.
type LoginProtection struct {
	// Disabled turns the protection off.
	Disabled bool
	// Window is how long failures are counted (default 15m).
	Window time.Duration
	// UserThreshold is the number of failures for one username at one
	// provider that locks it (default 5).
	UserThreshold int
	// IPThreshold is the number of failures from one client address (an
	// IPv6 /64) that locks it (default 50).
	IPThreshold int
	// LockDuration is the first lock (default 1m).
	LockDuration time.Duration
	// MaxLockDuration caps the doubling (default 1h).
	MaxLockDuration time.Duration
}

// Defaults of LoginProtection.
const (
	DefaultLockoutWindow      = 15 * time.Minute
	DefaultUserThreshold      = 5
	DefaultIPThreshold        = 50
	DefaultLockDuration       = time.Minute
	DefaultMaxLockDuration    = time.Hour
	lockoutStrikeMemory       = 24 * time.Hour
	lockoutStoreTimeout       = 2 * time.Second
	lockoutMinLatencySample   = 100 * time.Microsecond
	lockoutMaxDelay           = 3 * time.Second
	lockoutInitialDelayMicros = 2000
)

// WithDefaults returns c with every zero field set to its default.
func (c LoginProtection) WithDefaults() LoginProtection {
	if c.Window == 0 {
		c.Window = DefaultLockoutWindow
	}
	if c.UserThreshold == 0 {
		c.UserThreshold = DefaultUserThreshold
	}
	if c.IPThreshold == 0 {
		c.IPThreshold = DefaultIPThreshold
	}
	if c.LockDuration == 0 {
		c.LockDuration = DefaultLockDuration
	}
	if c.MaxLockDuration == 0 {
		c.MaxLockDuration = DefaultMaxLockDuration
	}
	return c
}

// Validate reports nonsensical settings (after defaults), each naming the
// YAML key of the login_protection block.
func (c LoginProtection) Validate() []error {
	c = c.WithDefaults()
	var errs []error
	if c.Window < time.Second {
		errs = append(errs, fmt.Errorf("window: %s must be at least 1s", c.Window))
	}
	if c.UserThreshold < 1 {
		errs = append(errs, fmt.Errorf("user_threshold: %d must be at least 1", c.UserThreshold))
	}
	if c.IPThreshold < 1 {
		errs = append(errs, fmt.Errorf("ip_threshold: %d must be at least 1", c.IPThreshold))
	}
	if c.LockDuration < time.Second {
		errs = append(errs, fmt.Errorf("lock_duration: %s must be at least 1s", c.LockDuration))
	}
	if c.MaxLockDuration < c.LockDuration {
		errs = append(errs, fmt.Errorf("max_lock_duration: %s must not be shorter than lock_duration (%s)", c.MaxLockDuration, c.LockDuration))
	}
	return errs
}

// errLocked is the private reason of a refusal while locked; callers see
// providers.ErrInvalidCredentials (the same answer as a wrong password).
var errLocked = errors.New("too many failed logins: temporarily locked")

// lockout implements LoginProtection on a Store.
type lockout struct {
	cfg   LoginProtection
	store Store
	log   *slog.Logger
	// latency holds, per provider, a moving average (µs) of how long a
	// refused login takes upstream, so that a locked answer takes about as
	// long. The map is filled once in newLockout and only read afterwards.
	latency map[string]*atomic.Int64
}

func newLockout(cfg LoginProtection, st Store, provs []Provider, log *slog.Logger, now func() time.Time) (*lockout, error) {
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

// AccountLoginer is a password provider that can name the account a typed
// username resolved to before it tries the password (providers/ldap does).
// before is called once per attempt, after the look-up and before the
// password is tried, with the account's canonical key ("" when no account
// matched); when it returns an error the password is not tried and the
// answer reads like a wrong password.
type AccountLoginer interface {
	LoginGuarded(ctx context.Context, username, password string, before func(ctx context.Context, account string) error) (providers.Identity, error)
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

// observe feeds the duration of a refused upstream login into the
// provider's moving average. Refusals decided locally (a malformed
// username, an empty password) are much faster and are not counted.
func (l *lockout) observe(provider string, d time.Duration) {
	v := l.latency[provider]
	if v == nil || d < lockoutMinLatencySample {
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

// delay waits about as long as a refused upstream login takes, so that a
// locked account cannot be told from a wrong password by timing.
func (l *lockout) delay(ctx context.Context, provider string) {
	us := int64(lockoutInitialDelayMicros)
	if v := l.latency[provider]; v != nil && v.Load() > 0 {
		us = v.Load()
	}
	d := time.Duration(float64(us)*(0.85+0.3*rand.Float64())) * time.Microsecond
	t := time.NewTimer(min(d, lockoutMaxDelay))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// guardAccount wraps one password login with the protection: check, login,
// count. It returns the login's result, or a refusal that reads like a
// wrong password while locked, or providers.ErrUnavailable when the store
// cannot be used (never skipping the check). A login that can report the
// account the username resolved to does so through the hook it is given
// (AccountLoginer.LoginGuarded):
// the hook refuses a locked account before its password is tried, and a
// refused password then counts against the account as well as the typed
// name and the address. A login that never calls the hook is guarded by
// name and address alone.
func (l *lockout) guardAccount(ctx context.Context, provider, username, clientIP string, login func(before func(context.Context, string) error) (providers.Identity, error)) (providers.Identity, error) {
	if l == nil || l.cfg.Disabled {
		return login(nil)
	}
	bs := l.buckets(provider, username, clientIP)
	which, err := l.locked(ctx, bs)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	}
	if which != "" {
		l.delay(ctx, provider)
		return providers.Identity{}, fmt.Errorf("%w: %w (%s)", providers.ErrInvalidCredentials, errLocked, which)
	}
	var (
		acct    *bucket
		hookErr error // the hook's refusal; it stands whatever login returns
	)
	before := func(ctx context.Context, account string) error {
		if acct != nil {
			return nil // called once per attempt; a second call changes nothing
		}
		b := l.accountBucket(provider, username, account)
		acct = &b
		switch which, err := l.locked(ctx, []bucket{b}); {
		case err != nil:
			hookErr = fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
		case which != "":
			hookErr = fmt.Errorf("%w: %w (%s)", providers.ErrInvalidCredentials, errLocked, which)
		}
		return hookErr
	}
	start := time.Now()
	id, err := login(before)
	if hookErr != nil {
		// The provider did not try the password (a locked account, or a
		// store that cannot say): no count, the refusal stands.
		return providers.Identity{}, hookErr
	}
	if acct != nil {
		bs = append(bs, *acct)
	}
	switch {
	case err == nil:
		if err := l.succeeded(ctx, bs); err != nil {
			// The login is good; stale counters only make later locks
			// stricter, so this is logged rather than refused.
			l.log.WarnContext(ctx, "login protection: counters not reset", slog.Any("err", err))
		}
		return id, nil
	case errors.Is(err, providers.ErrInvalidCredentials):
		l.observe(provider, time.Since(start))
		if serr := l.failed(ctx, provider, username, bs); serr != nil {
			return providers.Identity{}, fmt.Errorf("%w: %w (after: %v)", providers.ErrUnavailable, serr, err)
		}
		return providers.Identity{}, err
	default:
		return providers.Identity{}, err
	}
}
