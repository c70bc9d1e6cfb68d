package saml

import (
	"context"
	"sync"
	"time"
)

// ReplayCache remembers assertion IDs until they expire (SAML Profiles
// §4.1.4.5). Claim must be an atomic check-and-set: for a given id exactly
// one caller gets fresh == true until `until` has passed. The integrator
// passes a shared (Redis-backed) implementation; MemoryReplayCache serves a
// single process and tests.
type ReplayCache interface {
	Claim(ctx context.Context, id string, until time.Time) (fresh bool, err error)
}

// MemoryReplayCache is an in-process ReplayCache.
type MemoryReplayCache struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]time.Time
	claims  int
}

// NewMemoryReplayCache returns an empty cache; now may be nil (time.Now).
func NewMemoryReplayCache(now func() time.Time) *MemoryReplayCache {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayCache{now: now, entries: make(map[string]time.Time)}
}

// Claim records id until `until`; it reports false when id is already held.
func (c *MemoryReplayCache) Claim(_ context.Context, id string, until time.Time) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claims++
	if c.claims%1024 == 0 {
		for k, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, k)
			}
		}
	}
	if exp, ok := c.entries[id]; ok && now.Before(exp) {
		return false, nil
	}
	c.entries[id] = until
	return true, nil
}

// Len returns the number of entries held (expired ones may linger until the next sweep).
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
