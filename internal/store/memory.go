package store

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is an in-process Store for a single replica; it forgets everything
// when the process stops.
type Memory struct {
	mu       sync.Mutex
	now      func() time.Time
	entries  map[string]memEntry
	sessions map[string]SessionRecord
	// index maps each index key to the ids listed under it. Put and Delete
	// keep it exact, so its only stale entries are expired sessions.
	index map[string]map[string]struct{}
	revs  map[string]RevocationRecord
	// aggs holds the aggregate records by set, then id.
	aggs  map[string]map[string]AggregateRecord
	ops   int
	lim   limits
	watch fanout
}

type memEntry struct {
	value   int64
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store; now may be nil (time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now: now, entries: map[string]memEntry{}, sessions: map[string]SessionRecord{},
		index: map[string]map[string]struct{}{}, revs: map[string]RevocationRecord{},
		aggs: map[string]map[string]AggregateRecord{}, lim: defaultLimits,
	}
}

// live returns the entry if present and unexpired; the caller holds mu.
func (m *Memory) live(key string) (memEntry, bool) {
	e, ok := m.entries[key]
	if ok && !m.now().Before(e.expires) {
		delete(m.entries, key)
		return memEntry{}, false
	}
	return e, ok
}

// sweep drops expired entries of every kind now and then; the caller holds mu.
func (m *Memory) sweep() {
	m.ops++
	if m.ops%1024 != 0 {
		return
	}
	now := m.now()
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
	}
	for id, s := range m.sessions {
		if !now.Before(s.Expires) {
			m.dropSession(id)
		}
	}
	for id, r := range m.revs {
		if !now.Before(r.Expires) {
			delete(m.revs, id)
		}
	}
	m.sweepAggregates(now)
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	if _, ok := m.live(key); ok {
		return false, nil
	}
	if !until.After(m.now()) {
		until = m.now().Add(time.Second)
	}
	m.entries[key] = memEntry{value: 1, expires: until}
	return true, nil
}

// Incr implements Store.
func (m *Memory) Incr(_ context.Context, key string, ttl time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	e, ok := m.live(key)
	if !ok {
		e = memEntry{expires: m.now().Add(ttl)}
	}
	e.value++
	m.entries[key] = e
	return e.value, nil
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, _ := m.live(key)
	return e.value, nil
}

// SetTTL implements Store.
func (m *Memory) SetTTL(_ context.Context, key string, value int64, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	m.entries[key] = memEntry{value: value, expires: m.now().Add(ttl)}
	return nil
}

// TTL implements Store.
func (m *Memory) TTL(_ context.Context, key string) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.live(key)
	if !ok {
		return 0, nil
	}
	return e.expires.Sub(m.now()), nil
}

// Delete implements Store.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

// PutSession implements Store.
func (m *Memory) PutSession(_ context.Context, s SessionRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := normalizeSession(s, m.now())
	if err != nil {
		return err
	}
	m.sweep()
	m.dropSession(s.ID)
	m.sessions[s.ID] = s
	for _, k := range s.Index {
		ids := m.index[k]
		if ids == nil {
			ids = map[string]struct{}{}
			m.index[k] = ids
		}
		ids[s.ID] = struct{}{}
	}
	return nil
}

// dropSession removes id and its index entries; the caller holds mu.
func (m *Memory) dropSession(id string) {
	old, ok := m.sessions[id]
	if !ok {
		return
	}
	delete(m.sessions, id)
	for _, k := range old.Index {
		delete(m.index[k], id)
		if len(m.index[k]) == 0 {
			delete(m.index, k)
		}
	}
}

// liveSession returns session id if present and unexpired, dropping it when
// expired; the caller holds mu.
func (m *Memory) liveSession(id string) (SessionRecord, bool) {
	s, ok := m.sessions[id]
	if ok && !m.now().Before(s.Expires) {
		m.dropSession(id)
		return SessionRecord{}, false
	}
	return s, ok
}

// GetSession implements Store.
func (m *Memory) GetSession(_ context.Context, id string) (SessionRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.liveSession(id)
	if !ok {
		return SessionRecord{}, ErrNotFound
	}
	return cloneSession(s), nil
}

// DeleteSession implements Store.
func (m *Memory) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropSession(id)
	return nil
}

// ListSessions implements Store.
func (m *Memory) ListSessions(_ context.Context, index string) ([]SessionRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SessionRecord
	add := func(id string) bool {
		s, ok := m.liveSession(id)
		if !ok {
			return true
		}
		if len(out) == m.lim.listSessions {
			return false
		}
		out = append(out, cloneSession(s))
		return true
	}
	if index == "" {
		for id := range m.sessions {
			if !add(id) {
				return out, ErrTruncated
			}
		}
		return out, nil
	}
	for id := range m.index[index] {
		if !add(id) {
			return out, ErrTruncated
		}
	}
	return out, nil
}

// ListSessionsPage implements Store: the page is the ids after cursor in
// byte order, so every record present for the whole walk is met once.
func (m *Memory) ListSessionsPage(_ context.Context, index, cursor string, limit int) ([]SessionRecord, string, error) {
	if err := checkCursor(cursor); err != nil {
		return nil, "", err
	}
	limit = m.lim.pageLimit(limit)
	m.mu.Lock()
	defer m.mu.Unlock()
	var after []string
	consider := func(id string) {
		if id > cursor {
			after = append(after, id)
		}
	}
	if index == "" {
		for id := range m.sessions {
			consider(id)
		}
	} else {
		for id := range m.index[index] {
			consider(id)
		}
	}
	slices.Sort(after)
	var out []SessionRecord
	for i, id := range after {
		if len(out) == limit {
			return out, after[i-1], nil
		}
		if s, ok := m.liveSession(id); ok {
			out = append(out, cloneSession(s))
		}
	}
	return out, "", nil
}

// AddRevocation implements Store.
func (m *Memory) AddRevocation(_ context.Context, r RevocationRecord) error {
	m.mu.Lock()
	r, err := normalizeRevocation(r, m.now())
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.sweep()
	m.revs[r.ID] = r
	m.mu.Unlock()
	m.watch.publish(r)
	return nil
}

// Revocations implements Store.
func (m *Memory) Revocations(context.Context) ([]RevocationRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []RevocationRecord
	for id, r := range m.revs {
		if !now.Before(r.Expires) {
			delete(m.revs, id)
			continue
		}
		if len(out) == m.lim.revocations {
			return out, ErrTruncated
		}
		r.Data = clone(r.Data)
		out = append(out, r)
	}
	return out, nil
}

// WatchRevocations implements Store with an in-process fan-out.
func (m *Memory) WatchRevocations(ctx context.Context) (<-chan RevocationRecord, error) {
	return m.watch.watch(ctx)
}

// Shared implements Store: a memory store serves one process only.
func (m *Memory) Shared() bool { return false }

// Ping implements Store.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store: it ends every watch; the data stays usable.
func (m *Memory) Close() error {
	m.watch.close()
	return nil
}
