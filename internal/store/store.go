// Package store is the small state every idbroker replica shares: the replay
// caches (SAML assertion IDs, JWT ids), the login failure counters, broker
// sessions, revocations and the reports' aggregates.
//
// Three backends implement Store:
//   - Memory serves one process and forgets everything when it stops (the demo);
//   - File (bbolt) serves one process and keeps everything across restarts;
//   - Redis (or Valkey) is shared by several replicas.
//
// Session and revocation payloads are opaque bytes: the broker seals them
// before they reach the store, so the store never sees a secret in clear.
// Every backend fails closed: when it cannot answer it returns an error
// wrapping ErrUnavailable, never a guess.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrUnavailable means the store could not be reached or could not answer
// within the caller's context. Callers fail closed.
var ErrUnavailable = errors.New("state store unavailable")

// ErrNotFound is returned by GetSession for a session that is absent,
// deleted or expired.
var ErrNotFound = errors.New("store: not found")

// ErrInvalid wraps every refusal of a malformed record or argument (empty or
// oversized id, too many index keys, an expiry in the past, …).
var ErrInvalid = errors.New("store: invalid record")

// ErrTruncated is returned, together with the records found, when a listing
// hit its cap (MaxListSessions, MaxRevocations): the records returned are
// valid, and more exist.
var ErrTruncated = errors.New("store: listing truncated")

// Limits on what the store accepts and returns. They bound the work of every
// call and the size of every reply.
const (
	// MaxIDLen is the longest session or revocation id, in bytes.
	MaxIDLen = 256
	// MaxIndexKeyLen is the longest session index key, in bytes.
	MaxIndexKeyLen = 512
	// MaxIndexKeys is how many index keys one session may be listed under.
	MaxIndexKeys = 32
	// MaxDataLen is the largest session or revocation payload, in bytes.
	MaxDataLen = 1 << 20
	// MaxLifetime is the furthest in the future a session or revocation
	// may expire (sessions last hours, revocations as long as the longest
	// credential); a later Expires is a caller's mistake.
	MaxLifetime = 366 * 24 * time.Hour
	// MaxListSessions is the most records one ListSessions call returns;
	// past it the call returns those records and ErrTruncated.
	MaxListSessions = 1000
	// MaxRevocations is the most records one Revocations call returns;
	// past it the call returns those records and ErrTruncated.
	MaxRevocations = 100000
)

// Store is implemented by Memory, File and Redis.
type Store interface {
	// Claim records key until the given time. It returns true when the key
	// was new and false when it was already there (a replay). Claims are
	// atomic: of many concurrent claims of one key exactly one wins. An
	// until in the past is held for one second.
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
	// TakeRate admits one event under every limit of rates at once, or
	// under none (GCRA, see rate.go): when each has room it charges each
	// and answers Allowed; otherwise it charges none and says how long
	// until all would have room. Atomic across replicas; Redis decides on
	// its own clock. Malformed rates are ErrInvalid.
	TakeRate(ctx context.Context, rates []Rate) (RateResult, error)
	// CountSessions returns how many sessions are live now (for the
	// active sessions gauge; Redis counts in O(log n), Memory and File
	// in one pass).
	CountSessions(ctx context.Context) (int, error)

	// PutSession creates or replaces the session s.ID atomically: its data,
	// expiry and index keys all change together, and it is listed under
	// exactly s.Index afterwards (keys of a replaced record that s.Index
	// lacks are dropped). The record disappears by itself at s.Expires.
	PutSession(ctx context.Context, s SessionRecord) error
	// GetSession returns the session id, or ErrNotFound when it is absent,
	// deleted or expired. Nothing is cached: a delete on any replica is seen
	// by the next call on every other.
	GetSession(ctx context.Context, id string) (SessionRecord, error)
	// DeleteSession removes the session id and its index entries; deleting
	// an absent session is not an error.
	DeleteSession(ctx context.Context, id string) error
	// ListSessions returns the live sessions listed under index, or every
	// live session when index is "". Expired and deleted records never
	// show; their stale index entries are cleaned as they are met. At most
	// MaxListSessions records are returned, in no particular order; when
	// more exist the call returns those with an error wrapping ErrTruncated
	// (a caller ending sessions deletes what it got and lists again).
	ListSessions(ctx context.Context, index string) ([]SessionRecord, error)
	// ListSessionsPage walks the sessions listed under index ("" = every
	// session) one page at a time, so that a caller who must reach every
	// one (a revocation by user or group) can, however many there are.
	// cursor is "" for the first page, then the next cursor the previous
	// page returned; next is "" when the walk is over. A page holds at
	// most limit records (a limit outside 1..MaxListSessions means
	// MaxListSessions; Redis may return a few more, or none while the walk
	// goes on). A complete walk returns at least once every record that
	// was live and listed under index from its start to its end (Redis
	// may return a record twice: callers deduplicate by ID); records put
	// or deleted during the walk may or may not be returned. Cursors are
	// opaque and valid for the same index only; a malformed one is
	// ErrInvalid.
	ListSessionsPage(ctx context.Context, index, cursor string, limit int) (page []SessionRecord, next string, err error)

	// AddRevocation records r until r.Expires (then it disappears by itself)
	// and announces it to every WatchRevocations channel of every replica
	// sharing the store. Adding an id again replaces the record.
	AddRevocation(ctx context.Context, r RevocationRecord) error
	// Revocations returns every live revocation (at most MaxRevocations,
	// then with ErrTruncated): the full resync of a replica's in-memory set.
	Revocations(ctx context.Context) ([]RevocationRecord, error)
	// WatchRevocations returns a channel of the revocations added from now
	// on, here and on every replica sharing the store, until ctx ends or the
	// store is closed; then the channel is closed. Delivery is best effort:
	// a record added while a Redis subscriber is reconnecting, or one a slow
	// reader left waiting, can be missed. Callers therefore also resync
	// with Revocations periodically; that resync is what guarantees
	// convergence, the watch only makes it fast.
	WatchRevocations(ctx context.Context) (<-chan RevocationRecord, error)

	// UpdateAggregates applies each update to its aggregate record (created
	// when absent), atomically per record, and sets the record's expiry to
	// the update's Expires. At most MaxAggregateBatch updates; an invalid
	// one refuses the whole batch (ErrInvalid) before anything is written.
	// A failure part-way (ErrUnavailable) may leave some updates applied.
	UpdateAggregates(ctx context.Context, updates []AggregateUpdate) error
	// GetAggregate returns the record id of set, or ErrNotFound when it is
	// absent or expired.
	GetAggregate(ctx context.Context, set, id string) (AggregateRecord, error)
	// ListAggregates returns the live records of set, in no particular
	// order: at most MaxListAggregates, then with ErrTruncated.
	ListAggregates(ctx context.Context, set string) ([]AggregateRecord, error)

	// Shared reports whether several broker processes can share this store
	// (true for Redis only). A caller configured for several replicas
	// refuses a store that is not shared.
	Shared() bool
	// Ping checks the store is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close releases connections and files and closes every watch channel.
	Close() error
}

// SessionRecord is a broker session as the store keeps it.
type SessionRecord struct {
	// ID is the session's key: 1 to MaxIDLen bytes, no NUL byte.
	ID string
	// Data is the broker's sealed session, opaque to the store (at most
	// MaxDataLen bytes).
	Data []byte
	// Index lists the lookup keys the session is listed under (for example
	// "user:corp/alice", "provider:corp"): each 1 to MaxIndexKeyLen bytes
	// without NUL, at most MaxIndexKeys of them; duplicates are dropped.
	Index []string
	// Expires is when the record disappears. Stores keep it to the
	// millisecond; when the record is put it must be in the future, at most
	// MaxLifetime away.
	Expires time.Time
}

// RevocationRecord is one revocation entry as the store keeps it.
type RevocationRecord struct {
	// ID names the revocation: 1 to MaxIDLen bytes, no NUL byte.
	ID string
	// Data is the broker's encoding of the revocation (selector, not-before
	// time, …), opaque to the store (at most MaxDataLen bytes).
	Data []byte
	// Expires is when the entry disappears: once the longest credential it
	// can cover has expired. Kept to the millisecond; must be in the future,
	// at most MaxLifetime away.
	Expires time.Time
}

// limits are the caps a store applies; tests lower them to exercise the
// truncation paths cheaply.
type limits struct {
	listSessions   int
	revocations    int
	listAggregates int
}

var defaultLimits = limits{listSessions: MaxListSessions, revocations: MaxRevocations, listAggregates: MaxListAggregates}
