package broker

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// sealer encrypts and authenticates values the broker hands out or stores:
// login state and role choices the browser carries, and the session records
// of the store. The purpose is bound as additional
// data, so a value sealed for one use is refused for another.
type sealer struct {
	aead cipher.AEAD
	csrf []byte
	// oneShot keys the ids of one-shot sessions (oneshot.go).
	oneShot []byte
	now     func() time.Time
}

func newSealer(key []byte, now func() time.Time) (*sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("cookie key must be 32 bytes")
	}
	sealKey := derive(key, "idbroker cookie seal v1")
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("cookie cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("cookie cipher: %w", err)
	}
	return &sealer{aead: aead, csrf: derive(key, "idbroker csrf v1"), oneShot: derive(key, "idbroker one-shot session v1"), now: now}, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

type envelope struct {
	Exp int64           `json:"exp"`
	V   json.RawMessage `json:"v"`
}

var errSealed = errors.New("sealed value invalid or expired")

// seal returns a URL-safe sealed form of v, valid for ttl.
func (s *sealer) seal(purpose string, v any, ttl time.Duration) (string, error) {
	inner, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	plain, err := json.Marshal(envelope{Exp: s.now().Add(ttl).Unix(), V: inner})
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	out := s.aead.Seal(nonce, nonce, plain, []byte(purpose))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// maxSealedCookie bounds what open accepts: a cookie or form value.
const maxSealedCookie = 8192

// open reverses seal; it fails for another purpose, a modified value or an
// expired one.
func (s *sealer) open(purpose, sealed string, v any) error {
	return s.openMax(purpose, sealed, maxSealedCookie, v)
}

// openMax is open for values of at most maxLen bytes sealed (the session
// records of the store are larger than any cookie).
func (s *sealer) openMax(purpose, sealed string, maxLen int, v any) error {
	if len(sealed) > maxLen {
		return errSealed
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return errSealed
	}
	ns := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], []byte(purpose))
	if err != nil {
		return errSealed
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil {
		return errSealed
	}
	if s.now().Unix() >= env.Exp {
		return errSealed
	}
	if err := json.Unmarshal(env.V, v); err != nil {
		return errSealed
	}
	return nil
}

// csrfToken derives the form token for a browser's CSRF cookie value.
func (s *sealer) csrfToken(cookieValue string) string {
	m := hmac.New(sha256.New, s.csrf)
	m.Write([]byte(cookieValue))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares in constant time.
func (s *sealer) checkCSRF(cookieValue, formToken string) bool {
	if cookieValue == "" || formToken == "" {
		return false
	}
	return hmac.Equal([]byte(s.csrfToken(cookieValue)), []byte(formToken))
}
