package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// File is a durable Store for a single server, kept in one bbolt file: one
// process writes it at a time (bbolt's lock), and sessions, revocations,
// claims and lock-out counters survive a restart. Expired entries are never
// served and are swept at open and every few minutes.
//
// bbolt calls cannot be interrupted, so File bounds them by the caller's
// context from outside: a call whose context ends first returns
// ErrUnavailable, while a write already handed to bbolt still completes.
type File struct {
	db    *bolt.DB
	path  string
	now   func() time.Time
	lim   limits
	watch fanout

	stopSweep chan struct{}
	swept     chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*File)(nil)

// The buckets of the file and what they hold.
var (
	// bucketMeta holds "format", the layout version of the other buckets.
	bucketMeta = []byte("meta")
	// bucketKV holds claims and counters: key → expiry (Unix ns) and value,
	// two big-endian int64s.
	bucketKV = []byte("kv")
	// bucketSessions holds id → encodeSession.
	bucketSessions = []byte("sessions")
	// bucketSessionIndex holds index key, NUL, id → expiry (Unix ms).
	bucketSessionIndex = []byte("session_index")
	// bucketRevocations holds id → encodeRevocation.
	bucketRevocations = []byte("revocations")
	// bucketAggregates holds set, NUL, id → encodeAggregate.
	bucketAggregates = []byte("aggregates")

	fileFormat = []byte("1")
)

const (
	// fileLockTimeout is how long NewFile waits for another process to
	// release the file before it gives up.
	fileLockTimeout = time.Second
	// sweepInterval is how often expired entries are removed from disk.
	sweepInterval = 5 * time.Minute
	// sweepBatch is how many entries one sweep transaction removes, so a
	// sweep never holds the writer's lock for long.
	sweepBatch = 1000
)

// NewFile opens (or creates, mode 0600) the store file at path; now may be
// nil (time.Now). A file held by another process is refused after a
// second with an error saying so and naming the path.
func NewFile(path string, now func() time.Time) (*File, error) {
	if path == "" {
		return nil, errors.New("the store file path is empty")
	}
	if now == nil {
		now = time.Now
	}
	opts := *bolt.DefaultOptions
	opts.Timeout = fileLockTimeout
	db, err := bolt.Open(path, 0o600, &opts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s is in use by another process (no lock within %s): %w", path, fileLockTimeout, err)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, err // names the path already
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The file may predate this process with a looser mode; records are
	// sealed, but nobody else has reason to read them.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = db.Close()
		return nil, err
	}
	f := &File{
		db: db, path: path, now: now, lim: defaultLimits,
		stopSweep: make(chan struct{}), swept: make(chan struct{}),
	}
	if err := db.Update(f.initBuckets); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.sweep(context.Background()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	go f.sweeper()
	return f, nil
}

// initBuckets creates the buckets of a new file and refuses a file of
// another layout.
func (f *File) initBuckets(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	switch v := meta.Get([]byte("format")); {
	case v == nil:
		if err := meta.Put([]byte("format"), fileFormat); err != nil {
			return err
		}
	case string(v) != string(fileFormat):
		return fmt.Errorf("store file format %q, this build reads %q", v, fileFormat)
	}
	for _, b := range [][]byte{bucketKV, bucketSessions, bucketSessionIndex, bucketRevocations, bucketAggregates} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}

// sweeper sweeps every sweepInterval until Close.
func (f *File) sweeper() {
	defer close(f.swept)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-f.stopSweep:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = f.sweep(ctx) // retried at the next tick; expired entries are never served meanwhile
			cancel()
		}
	}
}

// fileErr passes the store's own sentinels through and reports everything
// else (I/O, a closed database) as the store being unavailable.
func fileErr(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound),
		errors.Is(err, ErrUnavailable), errors.Is(err, errCorrupt):
		return err
	case errors.Is(err, bolterrors.ErrKeyRequired), errors.Is(err, bolterrors.ErrKeyTooLarge):
		return fmt.Errorf("%w: key: %w", ErrInvalid, err)
	}
	return unavailable(err)
}

// view runs fn in a read transaction. Reads never wait for the writer
// (bbolt is multi-version), so they run inline.
func (f *File) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	return fileErr(f.db.View(fn))
}

// update runs fn in the write transaction, returning early with
// ErrUnavailable when ctx ends while it waits for the writer's lock or for
// the disk. fn may run more than once only if bbolt retries it; it must
// set its results afresh each time.
func (f *File) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if ctx.Done() == nil {
		return fileErr(f.db.Update(fn))
	}
	done := make(chan error, 1)
	go func() { done <- f.db.Update(fn) }()
	select {
	case err := <-done:
		return fileErr(err)
	case <-ctx.Done():
		return unavailable(ctx.Err())
	}
}

// kvValue is a claim or counter as stored in bucketKV.
type kvValue struct {
	expires time.Time
	value   int64
}

func (v kvValue) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(v.expires.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(v.value))
	return b
}

// kvLive returns the unexpired entry under key, if any.
func (f *File) kvLive(b *bolt.Bucket, key string) (kvValue, bool) {
	raw := b.Get([]byte(key))
	if len(raw) != 16 {
		return kvValue{}, false
	}
	v := kvValue{
		expires: time.Unix(0, int64(binary.BigEndian.Uint64(raw))),
		value:   int64(binary.BigEndian.Uint64(raw[8:])),
	}
	if !f.now().Before(v.expires) {
		return kvValue{}, false
	}
	return v, true
}

// Claim implements Store.
func (f *File) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	var fresh bool
	err := f.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV)
		_, held := f.kvLive(b, key)
		fresh = !held
		if held {
			return nil
		}
		if now := f.now(); !until.After(now) {
			until = now.Add(time.Second)
		}
		return b.Put([]byte(key), kvValue{expires: until, value: 1}.encode())
	})
	if err != nil {
		return false, err
	}
	return fresh, nil
}

// Incr implements Store.
func (f *File) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	var n int64
	err := f.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV)
		v, ok := f.kvLive(b, key)
		if !ok {
			v = kvValue{expires: f.now().Add(ttl)}
		}
		v.value++
		n = v.value
		return b.Put([]byte(key), v.encode())
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Get implements Store.
func (f *File) Get(ctx context.Context, key string) (int64, error) {
	var n int64
	err := f.view(ctx, func(tx *bolt.Tx) error {
		v, _ := f.kvLive(tx.Bucket(bucketKV), key)
		n = v.value
		return nil
	})
	return n, err
}

// SetTTL implements Store.
func (f *File) SetTTL(ctx context.Context, key string, value int64, ttl time.Duration) error {
	return f.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKV).Put([]byte(key), kvValue{expires: f.now().Add(ttl), value: value}.encode())
	})
}

// TTL implements Store.
func (f *File) TTL(ctx context.Context, key string) (time.Duration, error) {
	var d time.Duration
	err := f.view(ctx, func(tx *bolt.Tx) error {
		if v, ok := f.kvLive(tx.Bucket(bucketKV), key); ok {
			d = v.expires.Sub(f.now())
		}
		return nil
	})
	return d, err
}

// Delete implements Store.
func (f *File) Delete(ctx context.Context, key string) error {
	return f.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKV).Delete([]byte(key))
	})
}

// Shared implements Store: the file serves the one process holding it.
func (f *File) Shared() bool { return false }

// Ping implements Store: it fails once the file is closed.
func (f *File) Ping(ctx context.Context) error {
	return f.view(ctx, func(*bolt.Tx) error { return nil })
}

// Close implements Store: it stops the sweeper, ends every watch and
// releases the file for the next process.
func (f *File) Close() error {
	f.closeOnce.Do(func() {
		close(f.stopSweep)
		<-f.swept
		f.watch.close()
		f.closeErr = f.db.Close()
	})
	return f.closeErr
}
