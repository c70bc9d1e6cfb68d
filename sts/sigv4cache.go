package sts

import (
	"crypto/sha256"
	"sync"
)

// maxSigningKeys bounds the signing-key cache: one entry per credential,
// day and region in use. When it is full an arbitrary entry makes room.
const maxSigningKeys = 4096

// signingKeyCache keeps derived SigV4 signing keys (four chained HMACs per
// request otherwise), keyed by the SHA-256 of the secret, the scope date
// and the region. Only keys that have just verified a signature are added,
// so unauthenticated requests cannot fill it. The zero value is ready.
type signingKeyCache struct {
	mu sync.Mutex
	m  map[signingKeyID][]byte
}

type signingKeyID struct {
	secret       [sha256.Size]byte
	date, region string
}

func newSigningKeyID(secret, date, region string) signingKeyID {
	return signingKeyID{secret: sha256.Sum256([]byte(secret)), date: date, region: region}
}

// get returns the cached key, if any. The slice must not be modified.
func (c *signingKeyCache) get(id signingKeyID) ([]byte, bool) {
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	return k, ok
}

// put stores a key that has verified a signature.
func (c *signingKeyCache) put(id signingKeyID, key []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[signingKeyID][]byte)
	}
	if _, ok := c.m[id]; !ok && len(c.m) >= maxSigningKeys {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[id] = key
}

func (c *signingKeyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
