package policy

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
)

// Cache is a bounded least-recently-used cache of compiled policies, for
// documents that arrive again and again (the session policy sealed in a
// session token, evaluated on every request made with the session). It is
// keyed by the SHA-256 of the kind, the name and the document text, holds
// only documents that parsed, and is safe for concurrent use. The policies
// it returns are shared: do not call SetName on them.
type Cache struct {
	max int

	mu    sync.Mutex
	order *list.List // of *cacheEntry, most recently used first
	byKey map[[sha256.Size]byte]*list.Element

	hits, parses atomic.Uint64
}

type cacheEntry struct {
	key [sha256.Size]byte
	p   *Policy
}

// NewCache returns a cache of at most max policies (at least 1).
func NewCache(max int) *Cache {
	if max < 1 {
		max = 1
	}
	return &Cache{max: max, order: list.New(), byKey: make(map[[sha256.Size]byte]*list.Element, max)}
}

// Parse is Parse(doc, kind) followed by SetName(name), answered from the
// cache when the same document was parsed as the same kind and name before.
// Errors are *MalformedError and are not cached.
func (c *Cache) Parse(doc []byte, kind Kind, name string) (*Policy, error) {
	key := cacheKey(doc, kind, name)
	c.mu.Lock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		p := el.Value.(*cacheEntry).p
		c.mu.Unlock()
		c.hits.Add(1)
		return p, nil
	}
	c.mu.Unlock()

	// Parse outside the lock: two goroutines missing on the same document
	// both parse it, and the second one's result is dropped.
	c.parses.Add(1)
	p, err := Parse(doc, kind)
	if err != nil {
		return nil, err
	}
	p.SetName(name)

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cacheEntry).p, nil
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, p: p})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*cacheEntry).key)
	}
	return p, nil
}

// Len is the number of cached policies.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Stats returns how many Parse calls were answered from the cache and how
// many parsed the document.
func (c *Cache) Stats() (hits, parses uint64) { return c.hits.Load(), c.parses.Load() }

// cacheKey is SHA-256(kind, len(name), name, doc): the length prefix keeps
// name and document from running into each other.
func cacheKey(doc []byte, kind Kind, name string) [sha256.Size]byte {
	h := sha256.New()
	var hdr [16]byte
	binary.BigEndian.PutUint64(hdr[:8], uint64(kind))
	binary.BigEndian.PutUint64(hdr[8:], uint64(len(name)))
	h.Write(hdr[:])
	_, _ = io.WriteString(h, name)
	h.Write(doc)
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}
