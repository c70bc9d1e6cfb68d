package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// indexEntry is the bucketSessionIndex key listing id under index.
func indexEntry(index, id string) []byte {
	k := make([]byte, 0, len(index)+1+len(id))
	k = append(k, index...)
	k = append(k, 0)
	return append(k, id...)
}

func msBytes(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli()))
}

// expiredMs reports whether a stored expiry (Unix ms) is past at now.
func expiredMs(raw []byte, now time.Time) bool {
	return len(raw) != 8 || int64(binary.BigEndian.Uint64(raw)) <= now.UnixMilli()
}

// storedSession decodes session id from tx; ok is false when it is absent.
func storedSession(tx *bolt.Tx, id []byte) (s SessionRecord, ok bool, err error) {
	raw := tx.Bucket(bucketSessions).Get(id)
	if raw == nil {
		return SessionRecord{}, false, nil
	}
	s, err = decodeSession(string(id), raw)
	if err != nil {
		return SessionRecord{}, false, fmt.Errorf("session %q: %w", id, err)
	}
	return s, true, nil
}

// dropSession removes session id and its index entries inside tx. A record
// that cannot be decoded is removed all the same; its index entries, if
// any, no longer match a record and are dropped when met or swept.
func dropSession(tx *bolt.Tx, id string) error {
	old, ok, _ := storedSession(tx, []byte(id))
	if ok {
		idx := tx.Bucket(bucketSessionIndex)
		for _, k := range old.Index {
			if err := idx.Delete(indexEntry(k, id)); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketSessions).Delete([]byte(id))
}

// PutSession implements Store in one write transaction.
func (f *File) PutSession(ctx context.Context, s SessionRecord) error {
	s, err := normalizeSession(s, f.now())
	if err != nil {
		return err
	}
	return f.update(ctx, func(tx *bolt.Tx) error { return putSession(tx, s) })
}

// putSession writes the normalized record s and its index entries in tx.
func putSession(tx *bolt.Tx, s SessionRecord) error {
	if err := dropSession(tx, s.ID); err != nil {
		return err
	}
	if err := tx.Bucket(bucketSessions).Put([]byte(s.ID), encodeSession(s)); err != nil {
		return err
	}
	idx := tx.Bucket(bucketSessionIndex)
	exp := msBytes(s.Expires)
	for _, k := range s.Index {
		if err := idx.Put(indexEntry(k, s.ID), exp); err != nil {
			return err
		}
	}
	return nil
}

// GetSession implements Store.
func (f *File) GetSession(ctx context.Context, id string) (SessionRecord, error) {
	if checkID("session", id) != nil {
		return SessionRecord{}, ErrNotFound
	}
	var s SessionRecord
	err := f.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		var err error
		s, ok, err = storedSession(tx, []byte(id))
		if err != nil {
			return err
		}
		if !ok || !f.now().Before(s.Expires) {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return SessionRecord{}, err
	}
	return s, nil
}

// DeleteSession implements Store.
func (f *File) DeleteSession(ctx context.Context, id string) error {
	if checkID("session", id) != nil {
		return nil
	}
	return f.update(ctx, func(tx *bolt.Tx) error { return dropSession(tx, id) })
}

// ListSessions implements Store. It reads in one transaction; the stale
// index entries it meets (at most sweepBatch) are removed afterwards in a
// write transaction that checks each is still stale.
func (f *File) ListSessions(ctx context.Context, index string) ([]SessionRecord, error) {
	if index != "" && checkIndexKey(index) != nil {
		return nil, nil
	}
	var (
		out   []SessionRecord
		stale [][]byte
		trunc bool
	)
	err := f.view(ctx, func(tx *bolt.Tx) error {
		out, stale, trunc = nil, nil, false
		now := f.now()
		add := func(s SessionRecord) bool {
			if len(out) == f.lim.listSessions {
				trunc = true
				return false
			}
			out = append(out, s)
			return true
		}
		if index == "" {
			c := tx.Bucket(bucketSessions).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				s, err := decodeSession(string(k), v)
				if err != nil {
					return fmt.Errorf("session %q: %w", k, err)
				}
				if now.Before(s.Expires) && !add(s) {
					break
				}
			}
			return nil
		}
		prefix := indexEntry(index, "")
		c := tx.Bucket(bucketSessionIndex).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if expiredMs(v, now) {
				stale = appendStale(stale, k)
				continue
			}
			s, ok, err := storedSession(tx, k[len(prefix):])
			if err != nil {
				return err
			}
			if !ok || !now.Before(s.Expires) || !contains(s.Index, index) {
				stale = appendStale(stale, k)
				continue
			}
			if !add(s) {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(stale) > 0 {
		// Best effort: the listing is right without it, and the sweeper
		// retries.
		_ = f.update(ctx, func(tx *bolt.Tx) error { return f.dropStaleIndex(tx, index, stale) })
	}
	if trunc {
		return out, ErrTruncated
	}
	return out, nil
}

// ListSessionsPage implements Store: bbolt keeps keys in byte order, so a
// page is the ids after cursor (the previous page's last), read in one
// transaction; stale index entries met are removed as by ListSessions.
func (f *File) ListSessionsPage(ctx context.Context, index, cursor string, limit int) ([]SessionRecord, string, error) {
	if err := checkCursor(cursor); err != nil {
		return nil, "", err
	}
	if index != "" && checkIndexKey(index) != nil {
		return nil, "", nil
	}
	limit = f.lim.pageLimit(limit)
	var (
		out   []SessionRecord
		stale [][]byte
		next  string
	)
	err := f.view(ctx, func(tx *bolt.Tx) error {
		out, stale, next = nil, nil, ""
		now := f.now()
		var c *bolt.Cursor
		prefix := []byte{}
		if index == "" {
			c = tx.Bucket(bucketSessions).Cursor()
		} else {
			c = tx.Bucket(bucketSessionIndex).Cursor()
			prefix = indexEntry(index, "")
		}
		start := append(bytes.Clone(prefix), cursor...)
		k, v := c.Seek(start)
		if cursor != "" && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		last := ""
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(out) == limit {
				next = last
				return nil
			}
			id := k[len(prefix):]
			last = string(id)
			if index == "" {
				s, err := decodeSession(string(k), v)
				if err != nil {
					return fmt.Errorf("session %q: %w", k, err)
				}
				if now.Before(s.Expires) {
					out = append(out, s)
				}
				continue
			}
			if expiredMs(v, now) {
				stale = appendStale(stale, k)
				continue
			}
			s, ok, err := storedSession(tx, id)
			if err != nil {
				return err
			}
			if !ok || !now.Before(s.Expires) || !contains(s.Index, index) {
				stale = appendStale(stale, k)
				continue
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if len(stale) > 0 {
		_ = f.update(ctx, func(tx *bolt.Tx) error { return f.dropStaleIndex(tx, index, stale) })
	}
	return out, next, nil
}

func appendStale(stale [][]byte, k []byte) [][]byte {
	if len(stale) >= sweepBatch {
		return stale
	}
	return append(stale, bytes.Clone(k))
}

// dropStaleIndex deletes the entries of index named by keys that are still
// stale inside tx: a concurrent PutSession may have listed the id again.
func (f *File) dropStaleIndex(tx *bolt.Tx, index string, keys [][]byte) error {
	idx := tx.Bucket(bucketSessionIndex)
	now := f.now()
	prefix := len(index) + 1
	for _, k := range keys {
		v := idx.Get(k)
		if v == nil {
			continue
		}
		if !expiredMs(v, now) {
			s, ok, _ := storedSession(tx, k[prefix:])
			if ok && now.Before(s.Expires) && contains(s.Index, index) {
				continue
			}
		}
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// AddRevocation implements Store: stored, then announced to this
// process's watchers.
func (f *File) AddRevocation(ctx context.Context, r RevocationRecord) error {
	r, err := normalizeRevocation(r, f.now())
	if err != nil {
		return err
	}
	val := encodeRevocation(r)
	if err := f.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRevocations).Put([]byte(r.ID), val)
	}); err != nil {
		return err
	}
	f.watch.publish(r)
	return nil
}

// Revocations implements Store.
func (f *File) Revocations(ctx context.Context) ([]RevocationRecord, error) {
	var (
		out   []RevocationRecord
		trunc bool
	)
	err := f.view(ctx, func(tx *bolt.Tx) error {
		out, trunc = nil, false
		now := f.now()
		c := tx.Bucket(bucketRevocations).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			r, err := decodeRevocation(v)
			if err != nil {
				return fmt.Errorf("revocation %q: %w", k, err)
			}
			if !now.Before(r.Expires) {
				continue
			}
			if len(out) == f.lim.revocations {
				trunc = true
				break
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if trunc {
		return out, ErrTruncated
	}
	return out, nil
}

// WatchRevocations implements Store with an in-process fan-out: the file
// has one writer, this process.
func (f *File) WatchRevocations(ctx context.Context) (<-chan RevocationRecord, error) {
	return f.watch.watch(ctx)
}

// sweep removes expired entries from every bucket, sweepBatch per write
// transaction, until none is left or ctx ends.
func (f *File) sweep(ctx context.Context) error {
	for {
		var n int
		err := f.update(ctx, func(tx *bolt.Tx) error {
			var err error
			n, err = f.sweepOnce(tx)
			return err
		})
		if err != nil || n < sweepBatch {
			return err
		}
	}
}

// sweepOnce removes at most sweepBatch expired entries and returns how many.
func (f *File) sweepOnce(tx *bolt.Tx) (int, error) {
	now := f.now()
	var dead [][]byte
	var deadSessions []string
	collect := func(bucket []byte, expired func(k, v []byte) bool) {
		c := tx.Bucket(bucket).Cursor()
		for k, v := c.First(); k != nil && len(dead)+len(deadSessions) < sweepBatch; k, v = c.Next() {
			if expired(k, v) {
				if bytes.Equal(bucket, bucketSessions) {
					deadSessions = append(deadSessions, string(k))
				} else {
					dead = append(dead, bytes.Clone(k))
				}
			}
		}
	}
	del := func(bucket []byte) error {
		for _, k := range dead {
			if err := tx.Bucket(bucket).Delete(k); err != nil {
				return err
			}
		}
		dead = dead[:0]
		return nil
	}
	removed := 0

	collect(bucketKV, func(_, v []byte) bool {
		return len(v) != 16 || !now.Before(time.Unix(0, int64(binary.BigEndian.Uint64(v))))
	})
	removed += len(dead)
	if err := del(bucketKV); err != nil {
		return 0, err
	}
	collect(bucketSessions, func(k, v []byte) bool {
		s, err := decodeSession(string(k), v)
		return err != nil || !now.Before(s.Expires)
	})
	removed += len(deadSessions)
	for _, id := range deadSessions {
		if err := dropSession(tx, id); err != nil {
			return 0, err
		}
	}
	collect(bucketSessionIndex, func(_, v []byte) bool { return expiredMs(v, now) })
	removed += len(dead)
	if err := del(bucketSessionIndex); err != nil {
		return 0, err
	}
	collect(bucketRevocations, func(_, v []byte) bool {
		r, err := decodeRevocation(v)
		return err != nil || !now.Before(r.Expires)
	})
	removed += len(dead)
	if err := del(bucketRevocations); err != nil {
		return 0, err
	}
	collect(bucketAggregates, func(_, v []byte) bool {
		exp, err := aggregateExpiry(v)
		return err != nil || !now.Before(exp)
	})
	removed += len(dead)
	if err := del(bucketAggregates); err != nil {
		return 0, err
	}
	return removed, nil
}
