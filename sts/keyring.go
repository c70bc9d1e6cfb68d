package sts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// KeyRing holds the symmetric keys that seal session tokens and derive the
// secret access keys of minted credentials. One key seals new tokens; every
// key of the ring verifies the tokens it sealed. Nothing about issued
// credentials is stored: any replica holding the same key ring can verify
// any session token.
//
// A ring is either held only in memory (GenerateKeyRing; the key with the
// greatest id seals) or loaded from a key directory (LoadKeyRing; see
// keydir.go for the on-disk format and the rotation schedule it records).
// A directory-backed ring follows its directory: Reload re-reads it and
// Watch does so whenever it changes, swapping the ring's content at once.
//
// The request path (opening a token, picking the sealing key) reads one
// immutable snapshot through an atomic pointer and takes no lock; writers
// (AddKey, RemoveKey, Rotate, reloads) build a new snapshot under a mutex
// and publish it.
type KeyRing struct {
	state atomic.Pointer[ringState]
	// now is the clock of the rotation schedule (pending keys start sealing
	// at their activation time); nil is time.Now.
	now func() time.Time

	mu  sync.Mutex // serialises writers; guards the fields below
	dir string     // the key directory, "" for a ring held only in memory
	// loaded is the digest of the directory contents last loaded (a reload
	// of identical contents changes nothing).
	loaded [sha256.Size]byte
	// retired are the ids this process has seen retired (keys retire): they
	// never verify again here, whatever a later read of the directory says.
	retired map[string]bool
	// unlisted are the key files the last load ignored (not in keyring.json).
	unlisted []string
}

// ringState is one immutable snapshot of the ring.
type ringState struct {
	keys map[string]*ringKey
	// active seals until the first entry of pending is due.
	active *ringKey
	// pending are keys that start sealing later, by activation time
	// (a rotation scheduled so that every replica knows the key first).
	pending []pendingKey
	// refresh is when the snapshot must be rebuilt from the directory
	// because a key reaches its retirement; zero means never.
	refresh time.Time
}

type pendingKey struct {
	at  time.Time
	key *ringKey
}

type ringKey struct {
	id     string
	aead   cipher.AEAD
	secret []byte // HMAC key for deriving secret access keys
	// secretMAC is HMAC-SHA256 keyed with secret and never written to:
	// deriveSecret clones it, so that the key's inner padding block is
	// hashed once per key rather than once per secret.
	secretMAC hash.Hash
}

const keySize = 32

var keyIDPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$`)

func newRingKey(id string, material []byte) (*ringKey, error) {
	if !keyIDPattern.MatchString(id) {
		return nil, fmt.Errorf("sts: key id %q: must look like 20260301T120000Z-0123abcd", id)
	}
	if len(material) != keySize {
		return nil, fmt.Errorf("sts: key %q: want %d bytes of key material, got %d", id, keySize, len(material))
	}
	enc := deriveSubkey(material, "idbroker sts session-token encryption v1")
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, fmt.Errorf("sts: key %q: %w", id, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sts: key %q: %w", id, err)
	}
	secret := deriveSubkey(material, "idbroker sts secret-access-key v1")
	return &ringKey{id: id, aead: aead, secret: secret, secretMAC: hmac.New(sha256.New, secret)}, nil
}

func deriveSubkey(material []byte, label string) []byte {
	m := hmac.New(sha256.New, material)
	m.Write([]byte(label))
	return m.Sum(nil)
}

func newKeyID(now time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sts: key id: %w", err)
	}
	return now.UTC().Format(keyIDTimeFormat) + "-" + hex.EncodeToString(b[:]), nil
}

// keyIDTimeFormat is the creation-time prefix of a key id.
const keyIDTimeFormat = "20060102T150405Z"

func newKeyMaterial() ([]byte, error) {
	b := make([]byte, keySize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("sts: key material: %w", err)
	}
	return b, nil
}

// GenerateKeyRing returns a key ring with one fresh random key, held only in
// memory (for demos and tests: sessions die with the process and replicas
// cannot share it).
func GenerateKeyRing() (*KeyRing, error) {
	kr := &KeyRing{}
	if _, err := kr.Rotate(time.Now()); err != nil {
		return nil, err
	}
	return kr, nil
}

// Rotate adds a freshly generated key with an id stamped at now and makes it
// the sealing key if it is the newest. It returns the new key's id. On a
// directory-backed ring the next reload replaces it with the directory's
// keys: rotate a directory with RotateKeyDir.
func (k *KeyRing) Rotate(now time.Time) (string, error) {
	id, err := newKeyID(now)
	if err != nil {
		return "", err
	}
	material, err := newKeyMaterial()
	if err != nil {
		return "", err
	}
	return id, k.AddKey(id, material)
}

// AddKey adds a key with the given id (format "YYYYMMDDTHHMMSSZ-<8 hex>") and
// 32 bytes of key material. The key with the greatest id seals. Adding an id
// that already exists, or one retired in this process, is an error.
func (k *KeyRing) AddKey(id string, material []byte) error {
	rk, err := newRingKey(id, material)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.retired[id] {
		return fmt.Errorf("sts: key %q was retired and never verifies again", id)
	}
	old := k.snapshot()
	if _, ok := old.keys[id]; ok {
		return fmt.Errorf("sts: key %q already in the key ring", id)
	}
	next := old.clone()
	next.keys[id] = rk
	next.pending = nil
	next.active = nil
	for _, key := range next.keys {
		if next.active == nil || key.id > next.active.id {
			next.active = key
		}
	}
	k.state.Store(next)
	return nil
}

// RemoveKey drops a key: tokens it sealed stop verifying. The sealing key
// cannot be removed.
func (k *KeyRing) RemoveKey(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.snapshot()
	if _, ok := old.keys[id]; !ok {
		return fmt.Errorf("sts: key %q not in the key ring", id)
	}
	if sk := old.sealing(k.clock()); sk != nil && sk.id == id {
		return fmt.Errorf("sts: key %q is the sealing key and cannot be removed", id)
	}
	next := old.clone()
	delete(next.keys, id)
	pending := next.pending[:0:0]
	for _, p := range next.pending {
		if p.key.id != id {
			pending = append(pending, p)
		}
	}
	next.pending = pending
	k.state.Store(next)
	return nil
}

// KeyIDs lists the key ids, oldest first.
func (k *KeyRing) KeyIDs() []string {
	st := k.snapshot()
	ids := make([]string, 0, len(st.keys))
	for id := range st.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ActiveKeyID is the id of the key that seals new tokens now.
func (k *KeyRing) ActiveKeyID() string {
	if rk := k.sealingKey(); rk != nil {
		return rk.id
	}
	return ""
}

// Dir is the key directory the ring follows, or "" for a ring held only in
// memory.
func (k *KeyRing) Dir() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dir
}

// sealingKey is the key that seals now (nil for an empty ring).
func (k *KeyRing) sealingKey() *ringKey {
	st := k.state.Load()
	if st == nil {
		return nil
	}
	if len(st.pending) == 0 {
		return st.active
	}
	return st.sealing(k.clock())
}

// key is the ring's key with that id, or nil.
func (k *KeyRing) key(id string) *ringKey {
	st := k.state.Load()
	if st == nil {
		return nil
	}
	return st.keys[id]
}

func (k *KeyRing) clock() time.Time {
	if k.now != nil {
		return k.now()
	}
	return time.Now()
}

// snapshot is the current state, never nil.
func (k *KeyRing) snapshot() *ringState {
	if st := k.state.Load(); st != nil {
		return st
	}
	return &ringState{keys: map[string]*ringKey{}}
}

// sealing is the key that seals at now: the last pending key due, else active.
func (s *ringState) sealing(now time.Time) *ringKey {
	key := s.active
	for _, p := range s.pending {
		if now.Before(p.at) {
			break
		}
		key = p.key
	}
	return key
}

func (s *ringState) clone() *ringState {
	c := &ringState{keys: make(map[string]*ringKey, len(s.keys)+1), active: s.active, refresh: s.refresh}
	for id, key := range s.keys {
		c.keys[id] = key
	}
	c.pending = append([]pendingKey(nil), s.pending...)
	return c
}
