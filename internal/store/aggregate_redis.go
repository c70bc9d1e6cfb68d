package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Aggregates on Redis: each record is the hash "idbroker/agg/<set>\0<id>"
// (sets and ids hold no NUL) whose fields are the record's, each value "<N>\n<Text>",
// expiring at the record's expiry; the sorted set "idbroker/aggs/<set>"
// lists the ids of a set scored by expiry (Unix ms) and expires with its
// latest member. Lua numbers are doubles: N is exact within ±2^53 (times in
// Unix ms and counters are far inside).
const (
	redisAggregate  = "idbroker/agg/"
	redisAggregates = "idbroker/aggs/"
)

// luaAggregateField reads field f of hash KEYS[1] as its number and text
// (nil when absent).
const luaAggregateField = `
local function field(f)
  local s = redis.call('HGET', KEYS[1], f)
  if not s then return nil, nil end
  local i = string.find(s, '\n', 1, true)
  if not i then return tonumber(s) or 0, '' end
  return tonumber(string.sub(s, 1, i - 1)) or 0, string.sub(s, i + 1)
end
`

// updateAggregateScript: KEYS[1] record, KEYS[2] the set's sorted set;
// ARGV[1] id, ARGV[2] most fields, ARGV[3] expiry ms, then quadruples
// operation (a add, x max, m min), field, N, text. Operations as
// applyAggregateOps.
var updateAggregateScript = redis.NewScript(luaNow + luaList + luaAggregateField + `
local maxf = tonumber(ARGV[2])
local count = redis.call('HLEN', KEYS[1])
for i = 4, #ARGV, 4 do
  local op, f, n, t = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local cur, txt = field(f)
  if cur or count < maxf then
    local nn, nt = nil, nil
    if op == 'a' then
      nn, nt = (cur or 0) + n, (txt or '')
    elseif op == 'x' then
      if (not cur) or n >= cur then nn, nt = n, t end
    else
      if (not cur) or n < cur then nn, nt = n, t end
    end
    if nn then
      if not cur then count = count + 1 end
      redis.call('HSET', KEYS[1], f, string.format('%.0f', nn) .. '\n' .. nt)
    end
  end
end
if count > 0 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  list(KEYS[2])
end
return count`)

// getAggregateScript: KEYS[1] record, KEYS[2] the set's sorted set; ARGV[1]
// id. It returns the record's fields and its expiry, or false.
var getAggregateScript = redis.NewScript(`
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then return false end
  local t = redis.call('TIME')
  s = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
end
return {h, tostring(s)}`)

// listAggregatesScript: KEYS[1] the set's sorted set; ARGV[1] how many ids
// to read at most, ARGV[2] record key prefix. It returns flat triples id,
// expiry ms, fields. An id whose record is gone is dropped from the set.
var listAggregatesScript = redis.NewScript(luaNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for i = 1, #ids, 2 do
  local h = redis.call('HGETALL', ARGV[2] .. ids[i])
  if #h > 0 then
    out[#out + 1] = ids[i]
    out[#out + 1] = ids[i + 1]
    out[#out + 1] = h
  else
    redis.call('ZREM', KEYS[1], ids[i])
  end
end
return out`)

var aggregateOpNames = map[AggregateKind]string{AggregateAdd: "a", AggregateMax: "x", AggregateMin: "m"}

func redisAggregateKey(set, id string) string { return redisAggregate + set + "\x00" + id }

// UpdateAggregates implements Store: one script call per record, all in
// one pipeline.
func (r *Redis) UpdateAggregates(ctx context.Context, updates []AggregateUpdate) error {
	us, err := checkAggregateBatch(updates, time.Now())
	if err != nil {
		return err
	}
	if len(us) == 0 {
		return nil
	}
	// The pipeline calls the script by its hash: load it first (a no-op
	// when the server has it), since a pipelined EVALSHA is not retried.
	if err := updateAggregateScript.Load(ctx, r.c).Err(); err != nil {
		return unavailable(err)
	}
	cmds, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, u := range us {
			args := make([]any, 0, 3+4*len(u.Ops))
			args = append(args, u.ID, MaxAggregateFields, u.Expires.UnixMilli())
			for _, op := range u.Ops {
				args = append(args, aggregateOpNames[op.Kind], op.Field, op.N, op.Text)
			}
			updateAggregateScript.EvalSha(ctx, p, []string{redisAggregateKey(u.Set, u.ID), redisAggregates + u.Set}, args...)
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

// GetAggregate implements Store.
func (r *Redis) GetAggregate(ctx context.Context, set, id string) (AggregateRecord, error) {
	if err := checkAggregateSet(set); err != nil {
		return AggregateRecord{}, err
	}
	notFound := fmt.Errorf("aggregate %q of %q: %w", id, set, ErrNotFound)
	if checkID("aggregate", id) != nil {
		return AggregateRecord{}, notFound
	}
	v, err := getAggregateScript.Run(ctx, r.c, []string{redisAggregateKey(set, id), redisAggregates + set}, id).Slice()
	if errors.Is(err, redis.Nil) {
		return AggregateRecord{}, notFound
	}
	if err != nil {
		return AggregateRecord{}, unavailable(err)
	}
	if len(v) != 2 {
		return AggregateRecord{}, fmt.Errorf("aggregate %q of %q: %w", id, set, errCorrupt)
	}
	return aggregateFromRedis(set, id, v[1], v[0])
}

// ListAggregates implements Store; one script call reads at most the cap
// plus one records.
func (r *Redis) ListAggregates(ctx context.Context, set string) ([]AggregateRecord, error) {
	if err := checkAggregateSet(set); err != nil {
		return nil, err
	}
	v, err := listAggregatesScript.Run(ctx, r.c, []string{redisAggregates + set}, r.lim.listAggregates+1, redisAggregate+set+"\x00").Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := []AggregateRecord{}
	for i := 0; i+2 < len(v); i += 3 {
		id, _ := v[i].(string)
		rec, err := aggregateFromRedis(set, id, v[i+1], v[i+2])
		if err != nil {
			return nil, err
		}
		if len(out) == r.lim.listAggregates {
			return out, fmt.Errorf("aggregates of %q: %w", set, ErrTruncated)
		}
		out = append(out, rec)
	}
	return out, nil
}

// aggregateFromRedis rebuilds a record from its expiry (Unix ms as text)
// and its hash's flat field/value list.
func aggregateFromRedis(set, id string, exp, hash any) (AggregateRecord, error) {
	corrupt := fmt.Errorf("aggregate %q of %q: %w", id, set, errCorrupt)
	e, ok := exp.(string)
	if !ok {
		return AggregateRecord{}, corrupt
	}
	ms, err := strconv.ParseFloat(e, 64)
	if err != nil {
		return AggregateRecord{}, corrupt
	}
	h, ok := hash.([]any)
	if !ok || len(h)%2 != 0 {
		return AggregateRecord{}, corrupt
	}
	rec := AggregateRecord{Set: set, ID: id, Expires: time.UnixMilli(int64(ms)), Fields: make(map[string]AggregateValue, len(h)/2)}
	for i := 0; i < len(h); i += 2 {
		k, ok1 := h[i].(string)
		s, ok2 := h[i+1].(string)
		if !ok1 || !ok2 {
			return AggregateRecord{}, corrupt
		}
		num, text, _ := strings.Cut(s, "\n")
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return AggregateRecord{}, corrupt
		}
		rec.Fields[k] = AggregateValue{N: n, Text: text}
	}
	return rec, nil
}
