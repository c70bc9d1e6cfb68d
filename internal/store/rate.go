package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Rate limits: TakeRate is GCRA (the generic cell rate algorithm, a token
// bucket kept as one time stamp per limit). A limit's state is its
// theoretical arrival time (TAT): the time at which it would be empty
// again. An event of cost c at now is admitted when
//
//	max(TAT, now) + c·Interval − now ≤ Burst·Interval
//
// and then moves TAT there; otherwise it waits the excess. A limit
// untouched for Burst·Interval has forgotten everything, so its key expires
// with its TAT. Several limits are decided together: all are charged, or
// none is (a request refused by one limit uses up nothing of the others).

// MaxRates is the most limits one TakeRate call decides.
const MaxRates = 8

// Bounds of a Rate: an interval below a millisecond cannot be kept exactly
// by every backend, and a burst above MaxRateBurst (or a window over
// MaxLifetime) is a configuration mistake rather than a limit.
const (
	MinRateInterval = time.Millisecond
	MaxRateBurst    = 1_000_000
)

// Rate is one limit of a TakeRate call.
type Rate struct {
	// Key names the limit's state, in the namespace of the counters
	// (Incr, Get): 1 to MaxIndexKeyLen bytes without NUL. Callers prefix
	// their keys ("rate:user:…") so they meet no counter.
	Key string
	// Interval is the time one event takes back from the limit: the
	// limit's period divided by its rate (10 per minute: 6s).
	Interval time.Duration
	// Burst is how many events the limit admits at once after a quiet
	// period of Burst·Interval.
	Burst int
	// Cost is how many events this call counts (0 counts one). A cost above
	// Burst is never admitted.
	Cost int
}

// RateResult is the answer of TakeRate.
type RateResult struct {
	// Allowed is true when every limit admitted the call (each is charged).
	Allowed bool
	// RetryAfter is, for a refused call, how long until every limit that
	// refused would admit it (0 when allowed).
	RetryAfter time.Duration
	// Refused is the index in the call's rates of the first limit that
	// refused (-1 when allowed).
	Refused int
}

// checkRates refuses a TakeRate call the backends cannot decide.
func checkRates(rates []Rate) error {
	if len(rates) == 0 || len(rates) > MaxRates {
		return fmt.Errorf("%w: %d rates, want 1 to %d", ErrInvalid, len(rates), MaxRates)
	}
	for i, r := range rates {
		if err := checkIndexKey(r.Key); err != nil {
			return fmt.Errorf("%w (rate key)", err)
		}
		for _, earlier := range rates[:i] {
			if earlier.Key == r.Key {
				return fmt.Errorf("%w: rate key %q given twice", ErrInvalid, r.Key)
			}
		}
		if r.Burst < 1 || r.Burst > MaxRateBurst {
			return fmt.Errorf("%w: rate burst %d, want 1 to %d", ErrInvalid, r.Burst, MaxRateBurst)
		}
		if r.Interval < MinRateInterval || r.Interval > MaxLifetime/time.Duration(r.Burst) {
			return fmt.Errorf("%w: rate interval %s out of range", ErrInvalid, r.Interval)
		}
		if r.Cost < 0 || r.Cost > MaxRateBurst {
			return fmt.Errorf("%w: rate cost %d out of range", ErrInvalid, r.Cost)
		}
	}
	return nil
}

// cost is r.Cost, or one.
func (r Rate) cost() int64 { return max(int64(r.Cost), 1) }

// gcra decides one TakeRate call at now, given each limit's TAT (the zero
// time when it has none), for Memory and File; Redis runs the same steps
// in its script. next holds the TATs to store when the call is allowed.
func gcra(now time.Time, tats []time.Time, rates []Rate) (next []time.Time, res RateResult) {
	next = make([]time.Time, len(rates))
	res = RateResult{Allowed: true, Refused: -1}
	for i, r := range rates {
		tat := tats[i]
		if tat.Before(now) {
			tat = now
		}
		next[i] = tat.Add(time.Duration(r.cost()) * r.Interval)
		tolerance := time.Duration(r.Burst) * r.Interval
		if over := next[i].Sub(now) - tolerance; over > 0 {
			if res.Allowed {
				res.Allowed, res.Refused = false, i
			}
			res.RetryAfter = max(res.RetryAfter, over)
		}
	}
	if !res.Allowed {
		return nil, res
	}
	return next, res
}

// TakeRate implements Store.
func (m *Memory) TakeRate(_ context.Context, rates []Rate) (RateResult, error) {
	if err := checkRates(rates); err != nil {
		return RateResult{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	tats := make([]time.Time, len(rates))
	for i, r := range rates {
		if e, ok := m.live(r.Key); ok {
			tats[i] = time.Unix(0, e.value)
		}
	}
	next, res := gcra(m.now(), tats, rates)
	for i, r := range rates[:len(next)] {
		m.entries[r.Key] = memEntry{value: next[i].UnixNano(), expires: next[i]}
	}
	return res, nil
}

// TakeRate implements Store in one write transaction.
func (f *File) TakeRate(ctx context.Context, rates []Rate) (RateResult, error) {
	if err := checkRates(rates); err != nil {
		return RateResult{}, err
	}
	var res RateResult
	err := f.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV)
		tats := make([]time.Time, len(rates))
		for i, r := range rates {
			if v, ok := f.kvLive(b, r.Key); ok {
				tats[i] = time.Unix(0, v.value)
			}
		}
		var next []time.Time
		next, res = gcra(f.now(), tats, rates)
		for i, r := range rates[:len(next)] {
			if err := b.Put([]byte(r.Key), kvValue{expires: next[i], value: next[i].UnixNano()}.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return RateResult{}, err
	}
	return res, nil
}

// CountSessions implements Store: one pass over the map, under the lock.
func (m *Memory) CountSessions(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, n := m.now(), 0
	for _, s := range m.sessions {
		if now.Before(s.Expires) {
			n++
		}
	}
	return n, nil
}

// CountSessions implements Store: one read transaction over the sessions
// (bbolt readers never wait for the writer).
func (f *File) CountSessions(ctx context.Context) (int, error) {
	n := 0
	err := f.view(ctx, func(tx *bolt.Tx) error {
		now := f.now()
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			// Only the expiry is read: the header, then Unix ms.
			d := decoder{b: v}
			d.header(kindSession)
			if exp := d.varint(); d.err == nil && exp > now.UnixMilli() {
				n++
			}
			return nil
		})
	})
	return n, err
}
