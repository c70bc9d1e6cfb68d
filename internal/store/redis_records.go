package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The scripts below keep each session write atomic: a record, its expiry
// and its index entries change in one step, so a concurrent listing or
// update never sees (or loses) half of it. Index sorted sets are scored by
// the record's expiry in Unix ms, which makes every stale entry an entry
// scored in the past: ZREMRANGEBYSCORE removes them without racing a
// concurrent update (an update rescores its entry). Each set expires with
// its latest member, so an index nobody lists again does not linger.
//
// "now" inside a script is the server's TIME, the clock its key expiry uses.
// The index sets' names are derived inside the scripts, which standalone
// Redis and Valkey allow (a cluster would need hash-tagged names).

const luaNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// luaList adds member ARGV[1] with score ARGV[3] to sorted set z, drops
// its expired members and lets z expire with its latest member.
const luaList = `
local function list(z)
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  redis.call('ZADD', z, ARGV[3], ARGV[1])
  local top = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', z, math.floor(tonumber(top[2])))
end
`

// putSessionScript: KEYS[1] record, KEYS[2] all-sessions set; ARGV[1] id,
// ARGV[2] data, ARGV[3] expiry ms, ARGV[4] index keys joined by NUL,
// ARGV[5] index set prefix.
var putSessionScript = redis.NewScript(luaNow + luaList + `
local new = {}
for k in string.gmatch(ARGV[4], '[^%z]+') do new[k] = true end
local old = redis.call('HGET', KEYS[1], 'i')
if old then
  for k in string.gmatch(old, '[^%z]+') do
    if not new[k] then redis.call('ZREM', ARGV[5] .. k, ARGV[1]) end
  end
end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'e', ARGV[3], 'i', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
list(KEYS[2])
for k in pairs(new) do list(ARGV[5] .. k) end
return 1`)

// deleteSessionScript: KEYS[1] record, KEYS[2] all-sessions set; ARGV[1]
// id, ARGV[2] index set prefix.
var deleteSessionScript = redis.NewScript(`
local old = redis.call('HGET', KEYS[1], 'i')
if old then
  for k in string.gmatch(old, '[^%z]+') do redis.call('ZREM', ARGV[2] .. k, ARGV[1]) end
end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])`)

// listSessionsScript: KEYS[1] the index (or all-sessions) set; ARGV[1] how
// many ids to read at most, ARGV[2] record key prefix. It returns flat
// quadruples id, data, expiry ms, index keys. An id whose record is gone
// (removed behind the store's back) is dropped from the set.
var listSessionsScript = redis.NewScript(luaNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', ARGV[2] .. id, 'd', 'e', 'i')
  if r[1] and r[2] and r[3] then
    out[#out + 1] = id
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
    out[#out + 1] = r[3]
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out`)

// pageSessionsScript: KEYS[1] the index (or all-sessions) set; ARGV[1] the
// ZSCAN cursor, ARGV[2] its COUNT, ARGV[3] record key prefix. It returns
// the next cursor, then flat quadruples id, data, expiry ms, index keys of
// the live records of one ZSCAN step. It writes nothing.
var pageSessionsScript = redis.NewScript(luaNow + `
local r = redis.call('ZSCAN', KEYS[1], ARGV[1], 'COUNT', tonumber(ARGV[2]))
local out = {r[1]}
local m = r[2]
for i = 1, #m, 2 do
  if tonumber(m[i + 1]) > now then
    local h = redis.call('HMGET', ARGV[3] .. m[i], 'd', 'e', 'i')
    if h[1] and h[2] and h[3] then
      out[#out + 1] = m[i]
      out[#out + 1] = h[1]
      out[#out + 1] = h[2]
      out[#out + 1] = h[3]
    end
  end
end
return out`)

// addRevocationScript: KEYS[1] record, KEYS[2] revocations set; ARGV[1]
// id, ARGV[2] encoded record, ARGV[3] expiry ms, ARGV[4] channel. The
// record is stored, listed and announced in one step.
var addRevocationScript = redis.NewScript(luaNow + luaList + `
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
list(KEYS[2])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1`)

// PutSession implements Store.
func (r *Redis) PutSession(ctx context.Context, s SessionRecord) error {
	s, err := normalizeSession(s, time.Now())
	if err != nil {
		return err
	}
	err = putSessionScript.Run(ctx, r.c, []string{redisSession + s.ID, redisSessionsAll},
		s.ID, s.Data, s.Expires.UnixMilli(), strings.Join(s.Index, "\x00"), redisSessionIdx).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// GetSession implements Store.
func (r *Redis) GetSession(ctx context.Context, id string) (SessionRecord, error) {
	if checkID("session", id) != nil {
		return SessionRecord{}, ErrNotFound
	}
	v, err := r.c.HMGet(ctx, redisSession+id, "d", "e", "i").Result()
	if err != nil {
		return SessionRecord{}, unavailable(err)
	}
	if len(v) != 3 || v[0] == nil {
		return SessionRecord{}, ErrNotFound
	}
	return sessionFromRedis(id, v[0], v[1], v[2])
}

// sessionFromRedis rebuilds a record from the fields of its hash.
func sessionFromRedis(id string, data, exp, index any) (SessionRecord, error) {
	d, ok1 := data.(string)
	e, ok2 := exp.(string)
	i, ok3 := index.(string)
	ms, err := strconv.ParseInt(e, 10, 64)
	if !ok1 || !ok2 || !ok3 || err != nil {
		return SessionRecord{}, fmt.Errorf("session %q: %w", id, errCorrupt)
	}
	s := SessionRecord{ID: id, Data: clone([]byte(d)), Expires: time.UnixMilli(ms)}
	if i != "" {
		s.Index = strings.Split(i, "\x00")
	}
	return s, nil
}

// DeleteSession implements Store.
func (r *Redis) DeleteSession(ctx context.Context, id string) error {
	if checkID("session", id) != nil {
		return nil
	}
	err := deleteSessionScript.Run(ctx, r.c, []string{redisSession + id, redisSessionsAll}, id, redisSessionIdx).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// ListSessions implements Store; one script call reads at most the cap
// plus one ids.
func (r *Redis) ListSessions(ctx context.Context, index string) ([]SessionRecord, error) {
	set := redisSessionsAll
	if index != "" {
		if checkIndexKey(index) != nil {
			return nil, nil
		}
		set = redisSessionIdx + index
	}
	v, err := listSessionsScript.Run(ctx, r.c, []string{set}, r.lim.listSessions+1, redisSession).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	var out []SessionRecord
	for i := 0; i+3 < len(v); i += 4 {
		id, _ := v[i].(string)
		s, err := sessionFromRedis(id, v[i+1], v[i+2], v[i+3])
		if err != nil {
			return nil, err
		}
		if len(out) == r.lim.listSessions {
			return out, ErrTruncated
		}
		out = append(out, s)
	}
	return out, nil
}

// ListSessionsPage implements Store with ZSCAN, whose guarantee is the
// contract's: a full iteration returns every member present from its
// start to its end, some possibly twice. The cursor is ZSCAN's.
func (r *Redis) ListSessionsPage(ctx context.Context, index, cursor string, limit int) ([]SessionRecord, string, error) {
	if cursor == "" {
		cursor = "0"
	} else if _, err := strconv.ParseUint(cursor, 10, 64); err != nil || cursor == "0" {
		return nil, "", fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	set := redisSessionsAll
	if index != "" {
		if checkIndexKey(index) != nil {
			return nil, "", nil
		}
		set = redisSessionIdx + index
	}
	v, err := pageSessionsScript.Run(ctx, r.c, []string{set}, cursor, r.lim.pageLimit(limit), redisSession).Slice()
	if err != nil {
		return nil, "", unavailable(err)
	}
	if len(v) == 0 {
		return nil, "", fmt.Errorf("%w: empty reply to a page of sessions", errCorrupt)
	}
	next, _ := v[0].(string)
	if next == "0" {
		next = ""
	}
	var out []SessionRecord
	for i := 1; i+3 < len(v); i += 4 {
		id, _ := v[i].(string)
		s, err := sessionFromRedis(id, v[i+1], v[i+2], v[i+3])
		if err != nil {
			return nil, "", err
		}
		out = append(out, s)
	}
	return out, next, nil
}

// AddRevocation implements Store: stored and published in one script.
func (r *Redis) AddRevocation(ctx context.Context, rev RevocationRecord) error {
	rev, err := normalizeRevocation(rev, time.Now())
	if err != nil {
		return err
	}
	err = addRevocationScript.Run(ctx, r.c, []string{redisRevocation + rev.ID, redisRevocations},
		rev.ID, encodeRevocation(rev), rev.Expires.UnixMilli(), r.channel).Err()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// revocationBatch is how many records one MGET of Revocations reads.
const revocationBatch = 500

// Revocations implements Store: the live ids from the sorted set in one
// read, then their records in batches. A record that expires between the
// two reads is left out.
func (r *Redis) Revocations(ctx context.Context) ([]RevocationRecord, error) {
	now := time.Now().UnixMilli()
	ids, err := r.c.ZRangeByScore(ctx, redisRevocations, &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(now, 10), Max: "+inf", Count: int64(r.lim.revocations) + 1,
	}).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	truncated := len(ids) > r.lim.revocations
	if truncated {
		ids = ids[:r.lim.revocations]
	}
	out := make([]RevocationRecord, 0, len(ids))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), revocationBatch)]
		ids = ids[len(batch):]
		keys := make([]string, len(batch))
		for i, id := range batch {
			keys[i] = redisRevocation + id
		}
		vals, err := r.c.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, unavailable(err)
		}
		for i, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue // expired since the ids were read
			}
			rec, err := decodeRevocation([]byte(s))
			if err != nil {
				return nil, fmt.Errorf("revocation %q: %w", batch[i], err)
			}
			out = append(out, rec)
		}
	}
	if truncated {
		return out, ErrTruncated
	}
	return out, nil
}

// WatchRevocations implements Store with a pub/sub subscription that
// carries each record. The call returns once the subscription is
// confirmed, so a revocation added after it returns is delivered. go-redis
// pings the subscription every few seconds and, when its connection is lost
// or hangs, reconnects and resubscribes by itself; what was published in
// between is not replayed (the caller's periodic resync heals it).
func (r *Redis) WatchRevocations(ctx context.Context) (<-chan RevocationRecord, error) {
	ps := r.c.Subscribe(ctx, r.channel)
	if _, err := ps.ReceiveTimeout(ctx, redisTimeout); err != nil {
		_ = ps.Close()
		return nil, unavailable(err)
	}
	msgs := ps.Channel(redis.WithChannelSize(watchBuffer))
	out := make(chan RevocationRecord, watchBuffer)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return // the client was closed
				}
				rec, err := decodeRevocation([]byte(m.Payload))
				if err != nil || !rec.Expires.After(time.Now()) {
					continue // not ours, or already over
				}
				select {
				case out <- rec:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
