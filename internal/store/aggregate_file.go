package store

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// aggregateKey is the bucketAggregates key of id in set (sets hold no NUL).
func aggregateKey(set, id string) []byte {
	k := make([]byte, 0, len(set)+1+len(id))
	k = append(k, set...)
	k = append(k, 0)
	return append(k, id...)
}

// UpdateAggregates implements Store in one write transaction.
func (f *File) UpdateAggregates(ctx context.Context, updates []AggregateUpdate) error {
	us, err := checkAggregateBatch(updates, f.now())
	if err != nil {
		return err
	}
	if len(us) == 0 {
		return nil
	}
	return f.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAggregates)
		now := f.now()
		for _, u := range us {
			key := aggregateKey(u.Set, u.ID)
			fields := map[string]AggregateValue{}
			if raw := b.Get(key); raw != nil {
				// A record that does not decode is replaced: an aggregate
				// is a summary, and a corrupt one is worth less than none.
				if rec, err := decodeAggregate(u.Set, u.ID, raw); err == nil && now.Before(rec.Expires) {
					fields = rec.Fields
				}
			}
			applyAggregateOps(fields, u.Ops)
			if err := b.Put(key, encodeAggregate(fields, u.Expires)); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetAggregate implements Store.
func (f *File) GetAggregate(ctx context.Context, set, id string) (AggregateRecord, error) {
	if err := checkAggregateSet(set); err != nil {
		return AggregateRecord{}, err
	}
	var rec AggregateRecord
	found := false
	err := f.view(ctx, func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketAggregates).Get(aggregateKey(set, id))
		if raw == nil {
			return nil
		}
		r, err := decodeAggregate(set, id, raw)
		if err != nil {
			return fmt.Errorf("aggregate %q of %q: %w", id, set, err)
		}
		rec, found = r, f.now().Before(r.Expires)
		return nil
	})
	if err != nil {
		return AggregateRecord{}, err
	}
	if !found {
		return AggregateRecord{}, fmt.Errorf("aggregate %q of %q: %w", id, set, ErrNotFound)
	}
	return rec, nil
}

// ListAggregates implements Store in one read transaction. Records that do
// not decode are skipped (the sweep removes them).
func (f *File) ListAggregates(ctx context.Context, set string) ([]AggregateRecord, error) {
	if err := checkAggregateSet(set); err != nil {
		return nil, err
	}
	out := []AggregateRecord{}
	truncated := false
	err := f.view(ctx, func(tx *bolt.Tx) error {
		out, truncated = out[:0], false
		prefix := aggregateKey(set, "")
		now := f.now()
		c := tx.Bucket(bucketAggregates).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rec, err := decodeAggregate(set, string(k[len(prefix):]), v)
			if err != nil || !now.Before(rec.Expires) {
				continue
			}
			if len(out) == f.lim.listAggregates {
				truncated = true
				return nil
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if truncated {
		return out, fmt.Errorf("aggregates of %q: %w", set, ErrTruncated)
	}
	return out, nil
}
