package sts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// KeyRing holds the symmetric keys that seal session tokens and derive the
// secret access keys of minted credentials. The newest key (the greatest key
// id; ids start with a UTC timestamp) seals new tokens; every key verifies
// the tokens it sealed. Nothing about issued credentials is stored: any
// replica holding the same key ring can verify any session token.
//
// # On-disk format
//
// A key directory (mode 0700, created by InitKeyDir) holds one file per key,
// named "<id>.key" (mode 0600, never group- or world-readable), whose content
// is one line: the standard base64 encoding of 32 random bytes. The id is
// "YYYYMMDDTHHMMSSZ-<8 hex>" (creation time, UTC). Other files, and dotfiles,
// are ignored. Example:
//
//	/etc/idbroker/sts-keys/20260301T120000Z-3fa9c2d1.key   ->  "q8V0...=\n"
//
// # Rotation
//
// To rotate, add a new key (InitKeyDir on the existing directory does so, or
// write a file as above) and restart or reload every replica: the new key
// seals from then on and the old ones keep verifying. Remove an old key only
// after the longest session it may have sealed has expired (at most the
// longest role MaxSessionDuration, 12 hours, after the rotation). Removing a
// key invalidates every live session it sealed (InvalidClientTokenId).
// Copy the directory to every replica; all must hold the same keys.
type KeyRing struct {
	mu     sync.RWMutex
	keys   map[string]*ringKey
	active *ringKey
}

type ringKey struct {
	id     string
	aead   cipher.AEAD
	secret []byte // HMAC key for deriving secret access keys
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
	return &ringKey{id: id, aead: aead, secret: deriveSubkey(material, "idbroker sts secret-access-key v1")}, nil
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
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), nil
}

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
	kr := &KeyRing{keys: map[string]*ringKey{}}
	if _, err := kr.Rotate(time.Now()); err != nil {
		return nil, err
	}
	return kr, nil
}

// Rotate adds a freshly generated key with an id stamped at now and makes it
// the sealing key if it is the newest. It returns the new key's id.
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
// that already exists is an error.
func (k *KeyRing) AddKey(id string, material []byte) error {
	rk, err := newRingKey(id, material)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]*ringKey{}
	}
	if _, ok := k.keys[id]; ok {
		return fmt.Errorf("sts: key %q already in the key ring", id)
	}
	k.keys[id] = rk
	if k.active == nil || id > k.active.id {
		k.active = rk
	}
	return nil
}

// RemoveKey drops a key: tokens it sealed stop verifying. The sealing key
// cannot be removed.
func (k *KeyRing) RemoveKey(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.keys[id]; !ok {
		return fmt.Errorf("sts: key %q not in the key ring", id)
	}
	if k.active != nil && k.active.id == id {
		return fmt.Errorf("sts: key %q is the sealing key and cannot be removed", id)
	}
	delete(k.keys, id)
	return nil
}

// KeyIDs lists the key ids, oldest first.
func (k *KeyRing) KeyIDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ActiveKeyID is the id of the key that seals new tokens.
func (k *KeyRing) ActiveKeyID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.active == nil {
		return ""
	}
	return k.active.id
}

func (k *KeyRing) sealingKey() *ringKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.active
}

func (k *KeyRing) key(id string) *ringKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[id]
}

// InitKeyDir creates dir (mode 0700) if needed and writes a new key file
// (mode 0600) into it. On an existing directory this is the rotation step:
// the new key becomes the sealing key at the next LoadKeyRing.
func InitKeyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sts: key dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("sts: key dir: %w", err)
	}
	id, err := newKeyID(time.Now())
	if err != nil {
		return err
	}
	material, err := newKeyMaterial()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, id+".key")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sts: key file: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(material) + "\n"); err != nil {
		_ = f.Close()
		return fmt.Errorf("sts: write key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sts: write key file %s: %w", path, err)
	}
	return nil
}

// LoadKeyRing loads every "<id>.key" file of dir (see KeyRing for the
// format). It fails if the directory holds no key, if a key file is
// group- or world-accessible, or if a file is malformed (the error names it).
func LoadKeyRing(dir string) (*KeyRing, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("sts: key dir: %w", err)
	}
	kr := &KeyRing{keys: map[string]*ringKey{}}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".key") || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("sts: key file: %w", err)
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("sts: key file %s: not a regular file", path)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("sts: key file %s: mode %v is accessible by group or others; chmod 600 it", path, info.Mode().Perm())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("sts: key file: %w", err)
		}
		material, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("sts: key file %s: not base64: %w", path, err)
		}
		if err := kr.AddKey(strings.TrimSuffix(name, ".key"), material); err != nil {
			return nil, fmt.Errorf("sts: key file %s: %w", path, err)
		}
	}
	if kr.active == nil {
		return nil, errors.New("sts: key dir " + dir + " holds no key (run InitKeyDir / 'idbroker keys init')")
	}
	return kr, nil
}
