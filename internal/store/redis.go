package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store shared by several replicas (Redis or Valkey, standalone).
//
// Key layout: claims and counters live at "idbroker:"+key; sessions at
// "idbroker/session/"+id (a hash: d data, e expiry in Unix ms, i index keys
// joined by NUL), each index key's members in the sorted set
// "idbroker/sidx/"+key and all sessions in "idbroker/sessions" (member id,
// score expiry); revocations at "idbroker/rev/"+id with the sorted set
// "idbroker/revs", announced on the channel "idbroker/revocations/<db>".
// The two prefixes differ at their ninth byte, so no caller-chosen key can
// reach a session or revocation.
type Redis struct {
	c *redis.Client
	// prefix is for claims and counters; sessions and revocations use the
	// names of the key layout above.
	prefix string
	// channel is per database: pub/sub is server-wide, and two deployments
	// on one server with different databases must not hear each other.
	channel string
	lim     limits
}

var _ Store = (*Redis)(nil)

// The Redis key names of sessions and revocations.
const (
	redisSession     = "idbroker/session/"
	redisSessionIdx  = "idbroker/sidx/"
	redisSessionsAll = "idbroker/sessions"
	redisRevocation  = "idbroker/rev/"
	redisRevocations = "idbroker/revs"
	redisChannel     = "idbroker/revocations/"
)

// redisTimeout bounds each network read and write, and the dial, whatever
// the caller's context says; a shorter context deadline wins.
const redisTimeout = time.Second

// NewRedis connects to rawURL (redis:// or rediss://). It does not dial
// until first use; call Ping to check. Errors never repeat the URL, which
// may hold a password.
func NewRedis(rawURL string) (*Redis, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return nil, errors.New("must be a redis:// or rediss:// URL")
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.Redacted(), err)
	}
	if opts.DialTimeout == 0 || opts.DialTimeout > 2*time.Second {
		opts.DialTimeout = 2 * time.Second
	}
	opts.ReadTimeout = redisTimeout
	opts.WriteTimeout = redisTimeout
	// Honour the caller's deadline on every network operation, so a hung
	// server costs a caller no more than its own context allows.
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = 1
	return &Redis{
		c: redis.NewClient(opts), prefix: "idbroker:",
		channel: fmt.Sprintf("%s%d", redisChannel, opts.DB),
		lim:     defaultLimits,
	}, nil
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

// Shared implements Store: every replica pointed at the server shares it.
func (r *Redis) Shared() bool { return true }

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close implements Store. Watches end as their subscriptions close with the
// client.
func (r *Redis) Close() error { return r.c.Close() }
