package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// allowedAlgs is the fixed signature allow-list: RSA PKCS#1 v1.5 and ECDSA.
// "none", HMAC, PSS and EdDSA are refused.
var allowedAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512,
}

func algAllowed(alg string) bool {
	for _, a := range allowedAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// keyFitsAlg reports whether key is a public key of the type and size the
// algorithm requires (RSA >= 2048 bits for RS*, the matching curve for ES*).
func keyFitsAlg(key crypto.PublicKey, alg string) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512":
			return k.N != nil && k.N.BitLen() >= 2048
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	}
	return false
}

// gate runs an operation at most once at a time and at most once per
// interval. Callers arriving while it runs wait for its result; callers
// arriving within the interval after it finished get errThrottled wrapping
// the last error without anything being run. The operation runs on a
// context detached from the caller's cancellation, so one impatient caller
// cannot fail it for the others.
type gate struct {
	interval time.Duration

	mu          sync.Mutex
	inflight    *flight
	lastAttempt time.Time
	lastErr     error // of the last finished run
	finished    int   // runs finished
}

type flight struct {
	done chan struct{}
	err  error
}

var errThrottled = errors.New("refresh throttled")

func (g *gate) run(ctx context.Context, timeout time.Duration, fn func(context.Context) error) error {
	g.mu.Lock()
	fl := g.inflight
	if fl == nil {
		if !g.lastAttempt.IsZero() && time.Since(g.lastAttempt) < g.interval {
			last := g.lastErr
			g.mu.Unlock()
			if last != nil {
				return fmt.Errorf("%w (last attempt: %w)", errThrottled, last)
			}
			return errThrottled
		}
		fl = &flight{done: make(chan struct{})}
		g.inflight = fl
		g.lastAttempt = time.Now()
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		go func() {
			defer cancel()
			err := fn(runCtx)
			g.mu.Lock()
			g.lastErr = err
			g.finished++
			g.inflight = nil
			g.mu.Unlock()
			fl.err = err
			close(fl.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-fl.done:
		return fl.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lastOK reports whether a run has finished and the last one to finish
// succeeded.
func (g *gate) lastOK() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.finished > 0 && g.lastErr == nil
}

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

	url  func() string // jwks_uri, known after discovery
	gate gate

	mu        sync.RWMutex
	byKID     map[string]jose.JSONWebKey
	ambiguous map[string]bool
	keys      []jose.JSONWebKey
	fetchedAt time.Time
}

// maxJWKSKeys bounds how many keys of a JWKS are kept.
const maxJWKSKeys = 100

// fetch fetches the JWKS and, when it holds usable keys, replaces the set.
func (c *keyCache) fetch(ctx context.Context) error {
	u := c.url()
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
	byKID := map[string]jose.JSONWebKey{}
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
				if !publicKeysEqual(prev.Key, k.Key) {
					ambiguous[k.KeyID] = true
				}
				continue
			}
			byKID[k.KeyID] = k
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
// ErrInvalid) only when the most recent fetch succeeded; while the JWKS
// cannot be fetched it is ErrKeyUnavailable, since the issuer may have
// published the key since.
func (c *keyCache) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	before := c.cached(kid)
	if len(before.cands) > 0 && before.fresh {
		return before.cands, nil
	}
	err := c.gate.run(ctx, c.timeout, c.fetch)
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
			return nil, errorf(ErrInvalid, "kid %s names several different keys", quote(kid))
		}
		return nil, errorf(ErrKeyNotFound, "no key for kid %s in the issuer's current key set", quote(kid))
	}
	if err != nil {
		return nil, wrapErr(ErrKeyUnavailable, err, "no key for kid %s", quote(kid))
	}
	return nil, errorf(ErrKeyUnavailable, "no key for kid %s after JWKS refresh", quote(kid))
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
		if k, ok := c.byKID[kid]; ok {
			v.cands = []jose.JSONWebKey{k}
		}
	}
	return v
}

// tokenKeySet is one issuer's keys (its JWKS cache, or static keys) as a
// go-oidc KeySet. go-oidc's IDTokenVerifier calls VerifySignature after its
// own parse and algorithm check; the key set parses the compact JWS with
// go-jose, as go-oidc's own key sets do, picks this issuer's keys that may
// verify it (kid, JWKS alg, key type and size) and lets go-jose check the
// signature.
type tokenKeySet struct {
	remote *keyCache
	static []crypto.PublicKey
}

var _ gooidc.KeySet = (*tokenKeySet)(nil)

// verifyState is put in the context of one IDTokenVerifier.Verify call by
// Verifier.verify. go-oidc flattens a key set's error with %v; the key set
// records its classified error (ErrInvalid or ErrKeyUnavailable) here, and
// the payload it verified.
type verifyState struct {
	payload []byte // nil unless verified
	err     error
}

type verifyStateKey struct{}

// VerifySignature implements gooidc.KeySet.
func (s *tokenKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := s.verify(ctx, jwt)
	if st, ok := ctx.Value(verifyStateKey{}).(*verifyState); ok {
		st.payload, st.err = payload, err
	}
	return payload, err
}

func (s *tokenKeySet) verify(ctx context.Context, raw string) ([]byte, error) {
	// A compact JWS has exactly one signature, and go-jose refuses an alg
	// outside allowedAlgs.
	jws, err := jose.ParseSignedCompact(raw, allowedAlgs)
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "malformed JWS")
	}
	hdr := jws.Signatures[0].Protected
	alg := hdr.Algorithm
	var keys []crypto.PublicKey
	if s.remote != nil {
		jwks, err := s.remote.lookup(ctx, hdr.KeyID)
		if err != nil {
			return nil, err
		}
		for _, k := range jwks {
			if k.Algorithm != "" && k.Algorithm != alg {
				continue
			}
			keys = append(keys, k.Key)
		}
	} else {
		keys = s.static
	}
	tried := 0
	for _, k := range keys {
		if !keyFitsAlg(k, alg) {
			continue
		}
		tried++
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	if tried == 0 {
		return nil, errorf(ErrInvalid, "no key of the right type for algorithm %s", alg)
	}
	return nil, errorf(ErrInvalid, "signature verification failed")
}
