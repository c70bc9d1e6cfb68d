// Package mfa keeps the broker's own second factor: TOTP enrolments
// (RFC 6238 with github.com/pquerna/otp: 6 digits, 30-second steps, one
// step of drift either way) and their recovery codes, in the shared state
// store so that every replica agrees.
//
// A person (provider, username) enrols in two steps: Begin makes a secret
// that stays pending for ten minutes, Confirm turns it into the enrolment
// when a code computed from it comes back, and returns ten recovery codes,
// shown once. Verify then checks a TOTP code or a recovery code.
//
// What it guarantees:
//   - secrets are sealed (AES-GCM) with the key given to New before they
//     reach the store, bound to the person and to the record, so that a
//     record copied to another person's key does not open; they are never
//     logged and never returned again after Begin;
//   - every TOTP code works once on every replica: a good code claims its
//     (person, time step) in the store (store.Claim, atomic), so a replay
//     is refused wherever it is sent;
//   - each recovery code works once: the store keeps only its keyed hash,
//     and its use is counted atomically (store.Incr) before it is accepted;
//   - a store that cannot answer refuses (errors wrapping
//     store.ErrUnavailable), never guesses.
//
// Records live in the store's session records under ids that start with
// RecordPrefix (no session id does); they carry no index key.
package mfa

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/store"
)

// Errors of the service. Store failures wrap store.ErrUnavailable.
var (
	// ErrInvalidCode: the code is wrong, was used already, or is not a code
	// at all (neither six digits nor a recovery code).
	ErrInvalidCode = errors.New("mfa: invalid or already used code")
	// ErrNotEnrolled: the person has no confirmed TOTP enrolment.
	ErrNotEnrolled = errors.New("mfa: not enrolled")
	// ErrEnrolled: Begin or Confirm for a person already enrolled (an
	// administrator's Reset comes first).
	ErrEnrolled = errors.New("mfa: already enrolled")
	// ErrNoPending: Confirm without a pending enrolment (none was begun, it
	// is older than PendingTTL, or it was confirmed already).
	ErrNoPending = errors.New("mfa: no enrolment pending")
	// ErrUnreadable: the enrolment exists but does not open with this key
	// (the broker's cookie key changed): an administrator resets it.
	ErrUnreadable = errors.New("mfa: the enrolment does not open with the broker's key")
)

// Parameters of the codes (RFC 6238 as authenticator apps expect them).
const (
	// Digits is the length of a TOTP code.
	Digits = 6
	// Period is the TOTP time step.
	Period = 30 * time.Second
	// Skew is how many steps before and after the current one are
	// accepted (clock drift between the phone and the broker).
	Skew = 1
	// PendingTTL is how long a begun enrolment waits for its Confirm.
	PendingTTL = 10 * time.Minute
	// RecoveryCodes is how many recovery codes an enrolment has.
	RecoveryCodes = 10
	// secretBytes is the TOTP secret's size (160 bits, RFC 4226 §4).
	secretBytes = 20
	// storeTimeout bounds each store call.
	storeTimeout = 2 * time.Second
)

// RecordPrefix starts the id of every store record of this package (the
// store lists them with the sessions: listings skip ids with this prefix).
const RecordPrefix = "mfa-"

// IsRecord reports whether a record of the store's session listing is an
// MFA record rather than a session.
func IsRecord(id string) bool { return strings.HasPrefix(id, RecordPrefix) }

// Person names whose enrolment it is: the provider's configured name and
// the username, compared as the broker's user index compares them
// (casefold.Unicode), so "Alice" and "alice" share one enrolment.
type Person struct{ Provider, Username string }

// key is the person's canonical form, bound into every sealed record.
func (p Person) key() string { return p.Provider + "\x00" + casefold.Unicode(p.Username) }

// Options tune a Service; zero fields take the defaults.
type Options struct {
	// Issuer is the otpauth:// issuer label authenticator apps show
	// (default "idbroker").
	Issuer string
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
	// Logger receives warnings (never a code or secret); default: discard.
	Logger *slog.Logger
}

// Service keeps TOTP enrolments in a store. It is safe for concurrent use
// and holds no state of its own: several Services (replicas) sharing a
// store agree on everything.
type Service struct {
	st       store.Store
	aead     cipher.AEAD
	recovery []byte // keys the recovery codes' hashes
	issuer   string
	now      func() time.Time
	log      *slog.Logger
}

// New returns a Service on st whose records are sealed with key (32 bytes,
// from the broker's keys: see broker.MFAKey).
func New(st store.Store, key []byte, opts Options) (*Service, error) {
	if st == nil {
		return nil, errors.New("mfa: a store is required")
	}
	if len(key) != 32 {
		return nil, errors.New("mfa: the key must be 32 bytes")
	}
	block, err := aes.NewCipher(derive(key, "idbroker mfa seal v1"))
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	if opts.Issuer == "" {
		opts.Issuer = "idbroker"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		st: st, aead: aead, recovery: derive(key, "idbroker mfa recovery v1"),
		issuer: opts.Issuer, now: opts.Now, log: opts.Logger,
	}, nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// personID is the person's part of the store ids: a hash, so ids have a
// fixed length whatever the username. It is not keyed: under another key
// (a new cookie key) the enrolment is still found, and refused as
// unreadable rather than taken for none (which would let a password alone
// enrol a new device where MFA is required).
func (s *Service) personID(p Person) string {
	sum := sha256.Sum256([]byte("idbroker mfa person v1\x00" + p.key()))
	return hex.EncodeToString(sum[:20])
}

// Store ids and keys. Enrolments and pending enrolments are session
// records (sealed payloads); the rest are counters and claims.
func (s *Service) enrolledID(p Person) string { return RecordPrefix + "totp:" + s.personID(p) }
func (s *Service) pendingID(p Person) string  { return RecordPrefix + "totp-pending:" + s.personID(p) }
func (s *Service) lastUsedKey(p Person) string {
	return RecordPrefix + "totp-last-used:" + s.personID(p)
}
func (s *Service) stepKey(p Person, step int64) string {
	return fmt.Sprintf("%stotp-step:%s:%d", RecordPrefix, s.personID(p), step)
}
func resetKey(enrolmentID string) string { return RecordPrefix + "totp-reset:" + enrolmentID }
func recoveryUsedKey(enrolmentID string, i int) string {
	return fmt.Sprintf("%stotp-recovery-used:%s:%d", RecordPrefix, enrolmentID, i)
}

// checkPerson refuses a person the store could not key sensibly.
func checkPerson(p Person) error {
	if p.Provider == "" || p.Username == "" {
		return errors.New("mfa: provider and username are required")
	}
	return nil
}

// unavailable wraps a store error so that it always wraps
// store.ErrUnavailable (fail closed).
func unavailable(what string, err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("mfa: %s: %w", what, err)
	}
	return fmt.Errorf("mfa: %s: %w: %w", what, store.ErrUnavailable, err)
}

// Enrolled reports whether p has a confirmed enrolment (one that does not
// open with this key still counts: it must be reset, not skipped).
func (s *Service) Enrolled(ctx context.Context, p Person) (bool, error) {
	if err := checkPerson(p); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	_, err := s.st.GetSession(ctx, s.enrolledID(p))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, unavailable("read the enrolment", err)
	}
	return true, nil
}

// LastUsed is when p last passed Verify (zero: never, or not enrolled).
func (s *Service) LastUsed(ctx context.Context, p Person) (time.Time, error) {
	if err := checkPerson(p); err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	v, err := s.st.Get(ctx, s.lastUsedKey(p))
	if err != nil {
		return time.Time{}, unavailable("read the last use", err)
	}
	if v == 0 {
		return time.Time{}, nil
	}
	return time.Unix(v, 0).UTC(), nil
}

// MFAStatus is what the credential report shows of a person: enrolled, and
// when the TOTP or a recovery code was last used (zero: never).
func (s *Service) MFAStatus(ctx context.Context, provider, username string) (enrolled bool, lastUsed time.Time, err error) {
	p := Person{Provider: provider, Username: username}
	if enrolled, err = s.Enrolled(ctx, p); err != nil || !enrolled {
		return enrolled, time.Time{}, err
	}
	lastUsed, err = s.LastUsed(ctx, p)
	return enrolled, lastUsed, err
}

// Reset removes p's enrolment (and any pending one), on every replica:
// first a marker that no concurrent rewrite of the record can undo (see
// save), then the records. Resetting a person not enrolled is no error.
func (s *Service) Reset(ctx context.Context, p Person) error {
	if err := checkPerson(p); err != nil {
		return err
	}
	e, _, err := s.load(ctx, p)
	switch {
	case errors.Is(err, ErrNotEnrolled), errors.Is(err, ErrUnreadable):
	case err != nil:
		return err
	default:
		cctx, cancel := context.WithTimeout(ctx, storeTimeout)
		err := s.st.SetTTL(cctx, resetKey(e.ID), 1, store.MaxLifetime)
		cancel()
		if err != nil {
			return unavailable("mark the enrolment reset", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	for _, id := range []string{s.enrolledID(p), s.pendingID(p)} {
		if err := s.st.DeleteSession(ctx, id); err != nil {
			return unavailable("delete the enrolment", err)
		}
	}
	if err := s.st.Delete(ctx, s.lastUsedKey(p)); err != nil {
		return unavailable("delete the last use", err)
	}
	return nil
}
