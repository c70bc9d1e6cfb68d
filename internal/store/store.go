// Package store is the small shared state every idbroker replica needs: the
// replay caches (SAML assertion IDs, JWT ids) and the login failure counters.
// Memory serves one process; Redis (or Valkey) serves several replicas.
//
// Nothing about issued credentials is stored: they are verified from the
// session token alone.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable means the store could not be reached. Callers fail closed.
var ErrUnavailable = errors.New("state store unavailable")

// Store is implemented by Memory and Redis.
type Store interface {
	// Claim records key until the given time. It returns true when the key
	// was new and false when it was already there (a replay). Claims are
	// atomic: of many concurrent claims of one key exactly one wins.
	Claim(ctx context.Context, key string, until time.Time) (bool, error)
	// Incr adds one to the counter key and returns the new value. A new
	// counter expires ttl after its first increment.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Get returns the counter's value (0 when absent or expired).
	Get(ctx context.Context, key string) (int64, error)
	// SetTTL stores value under key for ttl.
	SetTTL(ctx context.Context, key string, value int64, ttl time.Duration) error
	// TTL returns how long key has left (0 when absent).
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Delete removes key.
	Delete(ctx context.Context, key string) error
	// Ping checks the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases connections.
	Close() error
}

// Memory is an in-process Store for a single replica.
type Memory struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memEntry
	ops     int
}

type memEntry struct {
	value   int64
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store; now may be nil (time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, entries: map[string]memEntry{}}
}

// live returns the entry if present and unexpired; the caller holds mu.
func (m *Memory) live(key string) (memEntry, bool) {
	e, ok := m.entries[key]
	if ok && !m.now().Before(e.expires) {
		delete(m.entries, key)
		return memEntry{}, false
	}
	return e, ok
}

// sweep drops expired entries now and then; the caller holds mu.
func (m *Memory) sweep() {
	m.ops++
	if m.ops%1024 != 0 {
		return
	}
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
	}
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	if _, ok := m.live(key); ok {
		return false, nil
	}
	if !until.After(m.now()) {
		until = m.now().Add(time.Second)
	}
	m.entries[key] = memEntry{value: 1, expires: until}
	return true, nil
}

// Incr implements Store.
func (m *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	e, ok := m.live(key)
	if !ok {
		e = memEntry{expires: m.now().Add(ttl)}
	}
	e.value++
	m.entries[key] = e
	return e.value, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, _ := m.live(key)
	return e.value, nil
}

// SetTTL implements Store.
func (m *Memory) SetTTL(_ context.Context, key string, value int64, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	m.entries[key] = memEntry{value: value, expires: m.now().Add(ttl)}
	return nil
}

// TTL implements Store.
func (m *Memory) TTL(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok {
		return 0, nil
	}
	return e.expires.Sub(m.now()), nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store.
func (m *Memory) Close() error { return nil }

// Redis is a Store shared by several replicas.
type Redis struct {
	c      *redis.Client
	prefix string
}

var _ Store = (*Redis)(nil)

// NewRedis connects to rawURL (redis:// or rediss://). It does not dial
// until first use; call Ping to check.
func NewRedis(rawURL string) (*Redis, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, fmt.Errorf("store url %q: must be redis:// or rediss://", rawURL)
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store url: %w", err)
	}
	if opts.DialTimeout == 0 || opts.DialTimeout > 2*time.Second {
		opts.DialTimeout = 2 * time.Second
	}
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.MaxRetries = 1
	return &Redis{c: redis.NewClient(opts), prefix: "idbroker:"}, nil
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// Claim implements Store with SET NX PX.
func (r *Redis) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	ttl := time.Until(until)
	if ttl < time.Second {
		ttl = time.Second
	}
	ok, err := r.c.SetNX(ctx, r.prefix+key, 1, ttl).Result()
	if err != nil {
		return false, unavailable(err)
	}
	return ok, nil
}

var incrScript = redis.NewScript(`
local v = redis.call('INCR', KEYS[1])
if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v`)

// Incr implements Store; the expiry is set atomically with the first increment.
func (r *Redis) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	v, err := incrScript.Run(ctx, r.c, []string{r.prefix + key}, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, unavailable(err)
	}
	return v, nil
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) (int64, error) {
	v, err := r.c.Get(ctx, r.prefix+key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable(err)
	}
	return v, nil
}

// SetTTL implements Store.
func (r *Redis) SetTTL(ctx context.Context, key string, value int64, ttl time.Duration) error {
	if err := r.c.Set(ctx, r.prefix+key, value, ttl).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// TTL implements Store.
func (r *Redis) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := r.c.PTTL(ctx, r.prefix+key).Result()
	if err != nil {
		return 0, unavailable(err)
	}
	if d < 0 {
		return 0, nil
	}
	return d, nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.c.Del(ctx, r.prefix+key).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }
