package revocation

import (
	"bytes"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// held is one store record as the Set holds it: the record's bytes (so a
// resync recognises an unchanged record without decoding it), its expiry,
// and its entry, or bad for a record that does not decode (held so that it
// is logged once, not at every resync, until the record expires).
type held struct {
	raw     []byte
	expires time.Time
	entry   Entry
	bad     bool
}

// index is one immutable state of the Set. Revoked reads it without a
// lock; writers build a new one and swap the pointer.
type index struct {
	// synced: a full resync has succeeded (before that Revoked refuses
	// everything: it cannot know what is revoked).
	synced bool
	// records by entry id, bad ones included.
	records map[string]*held
	// sessions, roles and keys map a session id, role ARN and access key
	// id to the cutoff (Unix seconds) of the latest entry naming it:
	// credentials issued before the cutoff are revoked.
	sessions, roles, keys map[string]int64
	// nextExpiry is the earliest Expires of the entries (zero when none).
	nextExpiry time.Time
}

// empty reports whether no entry is held.
func (ix *index) empty() bool {
	return len(ix.sessions) == 0 && len(ix.roles) == 0 && len(ix.keys) == 0
}

// unchanged reports whether merging recs into ix at now would change
// nothing: every record is held with the same bytes and no entry has
// expired. This is the common case of a periodic resync, answered
// without decoding or allocating.
func (ix *index) unchanged(recs []store.RevocationRecord, now time.Time) bool {
	if !ix.nextExpiry.IsZero() && !now.Before(ix.nextExpiry) {
		return false
	}
	for _, r := range recs {
		if !ix.holds(r) {
			return false
		}
	}
	return true
}

// holds reports whether r is held with the same bytes.
func (ix *index) holds(r store.RevocationRecord) bool {
	h, ok := ix.records[r.ID]
	return ok && bytes.Equal(h.raw, r.Data)
}

// merge returns a new index: ix's records with add merged in (a record
// with new bytes replaces the held one), expired entries dropped, and the
// lookup maps rebuilt. Records absent from add are kept: entries are never
// deleted, they expire, so a listing that lacks one (a store that lost it,
// a truncated listing) must not bring revoked credentials back.
func (ix *index) merge(add map[string]*held, now time.Time, synced bool) *index {
	out := &index{synced: synced || (ix != nil && ix.synced)}
	n := len(add)
	if ix != nil {
		n += len(ix.records)
	}
	out.records = make(map[string]*held, n)
	if ix != nil {
		for id, h := range ix.records {
			out.records[id] = h
		}
	}
	for id, h := range add {
		out.records[id] = h
	}
	out.sessions, out.roles, out.keys = map[string]int64{}, map[string]int64{}, map[string]int64{}
	for id, h := range out.records {
		exp := h.expires
		if !h.bad {
			exp = h.entry.Expires
		}
		if !now.Before(exp) {
			delete(out.records, id)
			continue
		}
		if out.nextExpiry.IsZero() || exp.Before(out.nextExpiry) {
			out.nextExpiry = exp
		}
		if h.bad {
			continue
		}
		e := &h.entry
		c := e.cutoff()
		for _, sid := range e.SessionIDs {
			raise(out.sessions, sid, c)
		}
		if e.RoleARN != "" {
			raise(out.roles, e.RoleARN, c)
		}
		if e.AccessKeyID != "" {
			raise(out.keys, e.AccessKeyID, c)
		}
	}
	return out
}

// raise sets m[k] to c unless it already holds a later cutoff.
func raise(m map[string]int64, k string, c int64) {
	if old, ok := m[k]; !ok || c > old {
		m[k] = c
	}
}

// revoked reports whether a credential issued at iat (Unix seconds) is
// revoked by an entry naming k in m.
func revoked(m map[string]int64, k string, iat int64) bool {
	c, ok := m[k]
	return ok && iat < c
}
