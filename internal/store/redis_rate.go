package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeRateScript is gcra (rate.go) in one step on the server's clock, in
// microseconds: KEYS are the limits' TAT keys; ARGV holds, per limit, the
// cost times the interval and the tolerance (burst times the interval). It
// returns {1, 0, 0} when every limit admits the call (each TAT moved, and
// set to expire when it is reached), else {0, retry µs, index of the first
// refusing limit from 1} having written nothing. The TATs (about 1.8e15 µs)
// are exact in Lua's doubles.
var takeRateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local next = {}
local wait, refused = 0, 0
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  if tat < now then tat = now end
  local nt = tat + tonumber(ARGV[2 * i - 1])
  local over = nt - now - tonumber(ARGV[2 * i])
  if over > 0 then
    if refused == 0 then refused = i end
    if over > wait then wait = over end
  end
  next[i] = nt
end
if refused > 0 then return {0, wait, refused} end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.0f', next[i]), 'PX', math.ceil((next[i] - now) / 1000))
end
return {1, 0, 0}`)

// TakeRate implements Store with one script call.
func (r *Redis) TakeRate(ctx context.Context, rates []Rate) (RateResult, error) {
	if err := checkRates(rates); err != nil {
		return RateResult{}, err
	}
	keys := make([]string, len(rates))
	args := make([]any, 0, 2*len(rates))
	for i, rt := range rates {
		keys[i] = r.prefix + rt.Key
		us := rt.Interval.Microseconds()
		args = append(args, us*rt.cost(), us*int64(rt.Burst))
	}
	v, err := takeRateScript.Run(ctx, r.c, keys, args...).Int64Slice()
	if err != nil {
		return RateResult{}, unavailable(err)
	}
	if len(v) != 3 {
		return RateResult{}, unavailable(fmt.Errorf("rate script answered %d values", len(v)))
	}
	if v[0] == 1 {
		return RateResult{Allowed: true, Refused: -1}, nil
	}
	return RateResult{RetryAfter: time.Duration(v[1]) * time.Microsecond, Refused: int(v[2]) - 1}, nil
}

// CountSessions implements Store with ZCOUNT on the set of every session,
// scored by expiry: O(log n) on the server, whatever the number.
func (r *Redis) CountSessions(ctx context.Context) (int, error) {
	n, err := r.c.ZCount(ctx, redisSessionsAll, "("+strconv.FormatInt(time.Now().UnixMilli(), 10), "+inf").Result()
	if err != nil {
		return 0, unavailable(err)
	}
	return int(n), nil
}
