package revocation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/sts"
)

// DefaultResync is how often Run reads every entry again by default: a
// revocation whose announcement a replica missed is applied there within
// about this long.
const DefaultResync = time.Second

// syncTimeout bounds one resync of Run.
const syncTimeout = 5 * time.Second

// generationKey is the store counter Add increments after each entry it
// records: a periodic resync reads it (one small read) and lists every
// entry only when it moved, so that a resync that finds nothing new costs
// next to nothing however many entries there are. generationTTL keeps it
// as long as the store allows.
const (
	generationKey = "revocation/generation"
	generationTTL = store.MaxLifetime
)

// fullResyncEvery: every this many periodic resyncs list every entry even
// when the generation did not move (an entry whose counter increment was
// lost, a counter that expired).
const fullResyncEvery = 30

// Options configure a Set.
type Options struct {
	// Logger receives what goes wrong (a store that cannot be read, a
	// record that does not decode); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Resync is how often Run reads every entry again; 0 means
	// DefaultResync.
	Resync time.Duration
	// SessionProviders are the provider ARNs whose credentials carry the
	// broker's own session ids (its OIDC provider and its SAML provider).
	// A credential's SessionID is matched only when its Provider is one of
	// them, so that an outside IdP's sid can never match a broker session.
	SessionProviders []string
}

// Set is the revocation set of one replica. Create it with New, fill it
// with Sync before serving, keep it in step with Run. It implements
// sts.RevocationChecker and is safe for concurrent use.
type Set struct {
	st        store.Store
	log       *slog.Logger
	now       func() time.Time
	period    time.Duration
	providers []string

	ix atomic.Pointer[index] // nil until the first write
	mu sync.Mutex            // serialises writers of ix

	// syncMu serialises resyncs; it guards what follows.
	syncMu sync.Mutex
	// gen is the generation read before the last full listing (genKnown:
	// there was one); sinceFull counts the resyncs since.
	gen       int64
	genKnown  bool
	sinceFull int

	// lastSync is when the store last answered a resync (Unix ns; 0:
	// never).
	lastSync atomic.Int64
}

// LastSync is when the Set last heard from the store in full (a Sync, or a
// periodic resync that found the generation unchanged): the zero time
// before the first. A readiness check compares it with now.
func (s *Set) LastSync() time.Time {
	if ns := s.lastSync.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

var _ sts.RevocationChecker = (*Set)(nil)

// New returns an empty Set on st. It refuses every credential until its
// first successful Sync (it cannot know what is revoked before).
func New(st store.Store, opts Options) *Set {
	s := &Set{st: st, log: opts.Logger, now: opts.Now, period: opts.Resync,
		providers: slices.Clone(opts.SessionProviders)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.period <= 0 {
		s.period = DefaultResync
	}
	return s
}

// Revoked implements sts.RevocationChecker: whether an entry names the
// credential's access key or role and it was issued before the entry's
// NotBefore; or names the access key or role of a credential it was
// chained from, issued before NotBefore; or names its login session and
// the chain's root was issued before NotBefore (so credentials chained
// after a revocation from credentials issued before it are refused too).
// Times count in whole seconds: the same second counts as before. The
// session id counts only for credentials of Options.SessionProviders.
// Before the first successful Sync every credential is revoked (fail
// closed). No lock, no I/O, no allocation.
func (s *Set) Revoked(c sts.RevocationSubject) bool {
	ix := s.ix.Load()
	if ix == nil || !ix.synced {
		return true
	}
	if ix.empty() {
		return false
	}
	iat := c.IssuedAt.Unix()
	if revoked(ix.keys, c.AccessKeyID, iat) || revoked(ix.roles, c.RoleARN, iat) {
		return true
	}
	root := iat
	for i, k := range c.ParentAccessKeyIDs {
		t := parentIssued(c, i)
		root = min(root, t)
		if revoked(ix.keys, k, t) {
			return true
		}
	}
	for i, r := range c.ParentRoleARNs {
		t := parentIssued(c, i)
		root = min(root, t)
		if revoked(ix.roles, r, t) {
			return true
		}
	}
	if c.SessionID != "" && len(ix.sessions) > 0 && slices.Contains(s.providers, c.Provider) {
		return revoked(ix.sessions, c.SessionID, root)
	}
	return false
}

// parentIssued is the issue time (Unix seconds) of ancestor i, or the
// earliest time there is when the subject lacks it (fail closed).
func parentIssued(c sts.RevocationSubject, i int) int64 {
	if i < len(c.ParentIssuedAt) {
		return c.ParentIssuedAt[i].Unix()
	}
	return math.MinInt64
}

// List returns the live entries, oldest NotBefore first (copies).
func (s *Set) List() []Entry {
	ix := s.ix.Load()
	if ix == nil {
		return nil
	}
	now := s.now()
	out := make([]Entry, 0, len(ix.records))
	for _, h := range ix.records {
		if !h.bad && now.Before(h.entry.Expires) {
			out = append(out, h.entry.clone())
		}
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.NotBefore.Compare(b.NotBefore); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Add records e in the store, for every replica, and applies it here at
// once. Empty fields are filled: ID (NewID), NotBefore (now), Expires
// (NotBefore + Lifetime), the session id of a session selector, the key of
// an access_key_id selector; then e must be valid (ErrInvalid otherwise)
// and its NotBefore not in the future. When the store fails the entry
// still applies here (it can only refuse more) and the error, wrapping the
// store's, says that other replicas do not know it.
func (s *Set) Add(ctx context.Context, e Entry) error {
	now := s.now()
	e = e.clone()
	if err := e.complete(now); err != nil {
		return err
	}
	if err := e.validate(); err != nil {
		return err
	}
	if e.NotBefore.After(now.Add(ClockSkew)) {
		return fmt.Errorf("%w: not_before is in the future", ErrInvalid)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("revocation: encode entry: %w", err)
	}
	s.apply(map[string]*held{e.ID: {raw: raw, expires: e.Expires, entry: e}}, false)
	if s.st == nil {
		return errors.New("revocation: no store")
	}
	if err := s.st.AddRevocation(ctx, store.RevocationRecord{ID: e.ID, Data: raw, Expires: e.Expires}); err != nil {
		return fmt.Errorf("revocation: record %s: %w", e.ID, err)
	}
	// After the record, so that a replica that sees the new generation
	// finds the record in its listing.
	if _, err := s.st.Incr(ctx, generationKey, generationTTL); err != nil {
		// Recorded and announced; a replica that missed the announcement
		// finds it at its next full listing instead of its next resync.
		s.log.Warn("revocation: entry recorded, generation not advanced", "id", e.ID, "err", err)
	}
	return nil
}

// Sync reads every entry from the store now and merges it in (start-up:
// call it before serving; Run resyncs periodically). Entries are never
// removed by a resync, only by expiry: a record the store no longer lists
// stays until its Expires. A listing that changes nothing swaps nothing. A
// truncated listing is merged and reported with an error wrapping
// store.ErrTruncated.
func (s *Set) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.fullSync(ctx)
}

// resync is Run's periodic resync: it reads the generation and lists every
// entry only when it moved since the last listing (or every
// fullResyncEvery resyncs); otherwise it only drops expired entries.
func (s *Set) resync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.st == nil {
		return errors.New("revocation: no store")
	}
	if !s.genKnown || s.sinceFull >= fullResyncEvery {
		return s.fullSync(ctx)
	}
	gen, err := s.st.Get(ctx, generationKey)
	if err != nil {
		return fmt.Errorf("revocation: resync: %w", err)
	}
	if gen != s.gen {
		return s.fullSync(ctx)
	}
	s.sinceFull++
	s.merge(nil, false) // drops entries that expired meanwhile
	s.lastSync.Store(s.now().UnixNano())
	return nil
}

// fullSync lists every entry (syncMu held). The generation is read first:
// an Add counted in it recorded its entry before, so the listing has it.
func (s *Set) fullSync(ctx context.Context) error {
	if s.st == nil {
		return errors.New("revocation: no store")
	}
	gen, err := s.st.Get(ctx, generationKey)
	if err != nil {
		return fmt.Errorf("revocation: resync: %w", err)
	}
	recs, err := s.st.Revocations(ctx)
	if err != nil && !errors.Is(err, store.ErrTruncated) {
		return fmt.Errorf("revocation: resync: %w", err)
	}
	s.merge(recs, true)
	s.gen, s.genKnown, s.sinceFull = gen, true, 0
	if err != nil {
		return fmt.Errorf("revocation: resync: %w", err)
	}
	s.lastSync.Store(s.now().UnixNano())
	return nil
}

// merge decodes the records not already held and merges them in; synced
// says recs is a full listing.
func (s *Set) merge(recs []store.RevocationRecord, synced bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.ix.Load()
	now := s.now()
	if cur != nil && (cur.synced || !synced) && cur.unchanged(recs, now) {
		return
	}
	add := map[string]*held{}
	for _, r := range recs {
		if cur != nil && cur.holds(r) {
			continue
		}
		h := &held{raw: r.Data, expires: r.Expires}
		e, err := decodeEntry(r)
		if err != nil {
			h.bad = true
			s.log.Error("revocation: a stored entry cannot be applied", "id", r.ID, "err", err)
		} else {
			h.entry = e
		}
		add[r.ID] = h
	}
	s.ix.Store(cur.merge(add, now, synced))
}

// apply merges held entries under the writers' lock.
func (s *Set) apply(add map[string]*held, synced bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ix.Store(s.ix.Load().merge(add, s.now(), synced))
}
