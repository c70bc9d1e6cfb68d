package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// keyCache holds one issuer's JWKS. Keys are indexed by kid; a kid that
// appears twice in the set with different keys is ambiguous and verifies
// nothing. Only RSA and EC public keys meant for signatures are kept.
type keyCache struct {
	client   *http.Client
	maxBytes int64
	timeout  time.Duration
	ttl      time.Duration // soft: refresh on use after this
	hardTTL  time.Duration // keys older than this are not used when refreshes fail
	logger   *slog.Logger
	issuer   string

	// jwksURL runs discovery when it has not succeeded yet (an
	// ErrKeyUnavailable on failure) and returns the jwks_uri.
	jwksURL func(context.Context) (string, error)
	gate    gate

	mu        sync.RWMutex
	byKID     map[string][]jose.JSONWebKey // one key each, ready to hand out
	ambiguous map[string]bool
	keys      []jose.JSONWebKey
	fetchedAt time.Time
}

// maxJWKSKeys bounds how many keys of a JWKS are kept.
const maxJWKSKeys = 100

// fetch fetches the JWKS at u and, when it holds usable keys, replaces the set.
func (c *keyCache) fetch(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("building JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return fmt.Errorf("reading JWKS: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The body is deliberately not echoed.
		return fmt.Errorf("fetching JWKS: HTTP status %d", resp.StatusCode)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("decoding JWKS: %w", err)
	}
	byKID := map[string][]jose.JSONWebKey{}
	ambiguous := map[string]bool{}
	var keys []jose.JSONWebKey
	skipped := 0
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			skipped++
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			skipped++
			continue
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		default: // symmetric, private, OKP: never trusted
			skipped++
			continue
		}
		if !k.Valid() || (k.Algorithm != "" && !algAllowed(k.Algorithm)) {
			skipped++
			continue
		}
		if len(keys) >= maxJWKSKeys {
			skipped++
			continue
		}
		keys = append(keys, k)
		if k.KeyID != "" {
			if prev, dup := byKID[k.KeyID]; dup {
				if !publicKeysEqual(prev[0].Key, k.Key) {
					ambiguous[k.KeyID] = true
				}
				continue
			}
			byKID[k.KeyID] = []jose.JSONWebKey{k}
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("JWKS has no usable signing keys (%d skipped)", skipped)
	}
	if skipped > 0 {
		c.logger.Debug("oidc: ignored unusable JWKS entries", "issuer", c.issuer, "skipped", skipped)
	}
	c.mu.Lock()
	c.byKID, c.ambiguous, c.keys, c.fetchedAt = byKID, ambiguous, keys, time.Now()
	c.mu.Unlock()
	return nil
}

func publicKeysEqual(a, b any) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	if x, ok := a.(eq); ok {
		return x.Equal(b)
	}
	return false
}

// lookup returns candidate keys for kid (all keys when kid is empty and the
// set has exactly one key). A miss, or keys older than the TTL, trigger one
// throttled refresh.
//
// A failed or throttled refresh leaves the set as it was, so its keys stay
// in use (last known good) until KeysHardTTL; a successful one replaces
// it, so a key the issuer has just removed verifies nothing once a set
// without it is in hand. A kid missing from the set is ErrKeyNotFound (an
// ErrInvalidToken) only when the most recent fetch succeeded; while the JWKS
// cannot be fetched it is ErrKeyUnavailable, since the issuer may have
// published the key since.
func (c *keyCache) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	before := c.cached(kid)
	if len(before.cands) > 0 && before.fresh {
		return before.cands, nil
	}
	u, err := c.jwksURL(ctx)
	if err != nil {
		return nil, err
	}
	err = c.gate.run(ctx, c.timeout, func(ctx context.Context) error { return c.fetch(ctx, u) })
	if err != nil && !errors.Is(err, errThrottled) {
		c.logger.Warn("oidc: JWKS refresh failed", "issuer", c.issuer, "error", err.Error())
	}
	after := c.cached(kid)
	if len(after.cands) > 0 && after.usable {
		return after.cands, nil
	}
	if after.usable && c.gate.lastOK() {
		// The issuer's current key set was obtained and does not hold this
		// kid: the token is not one of the issuer's (a forgery, or signed by
		// a retired key), not an outage.
		if after.ambiguous {
			return nil, errorf(awsspec.ErrInvalidToken, "kid %s names several different keys", quote(kid))
		}
		return nil, errorf(awsspec.ErrKeyNotFound, "no key for kid %s in the issuer's current key set", quote(kid))
	}
	if err != nil {
		return nil, wrapErr(awsspec.ErrKeyUnavailable, err, "no key for kid %s", quote(kid))
	}
	return nil, errorf(awsspec.ErrKeyUnavailable, "no key for kid %s after JWKS refresh", quote(kid))
}

// cacheView is what cached found for one kid.
type cacheView struct {
	cands     []jose.JSONWebKey
	fresh     bool // set younger than ttl
	usable    bool // set younger than hardTTL
	ambiguous bool // kid names different keys
}

// cached looks kid up in the current set.
func (c *keyCache) cached(kid string) cacheView {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var v cacheView
	if c.fetchedAt.IsZero() {
		return v
	}
	age := time.Since(c.fetchedAt)
	v.fresh, v.usable = age < c.ttl, age < c.hardTTL
	switch {
	case kid == "":
		if len(c.keys) == 1 {
			v.cands = c.keys
		}
	case c.ambiguous[kid]:
		v.ambiguous = true
	default:
		v.cands = c.byKID[kid]
	}
	return v
}
