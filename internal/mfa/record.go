package mfa

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// enrolment is a confirmed TOTP enrolment as it is sealed into the store.
type enrolment struct {
	// ID names this enrolment (random): its recovery codes' use counters
	// and its reset marker are keyed by it, so a new enrolment after a
	// reset starts clean.
	ID string `json:"id"`
	// Secret is the TOTP secret (base32, as the otpauth URI carries it).
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
	// Recovery are the keyed hashes of the recovery codes; Used marks
	// those consumed (the store's counters decide; this keeps the mark
	// after the counters expire, see save).
	Recovery [][]byte `json:"recovery"`
	Used     []bool   `json:"used"`
}

// pending is a begun enrolment waiting for its Confirm.
type pending struct {
	// Nonce makes each Begin's record distinct, so that one Confirm of
	// it wins (claimed in the store).
	Nonce  string `json:"nonce"`
	Secret string `json:"secret"`
}

// enrolmentLifetime is how long the store keeps an enrolment after it was
// last written; every successful Verify more than a day after the last
// write writes it again, so an enrolment in use never lapses.
const (
	enrolmentLifetime = store.MaxLifetime - time.Hour
	refreshAfter      = 24 * time.Hour
)

// purpose is the additional data of a sealed record: what it is, whose,
// and under which id (a record moved to another id or person does not
// open).
func purpose(kind, id string, p Person) []byte {
	return []byte("idbroker mfa " + kind + " v1\x00" + id + "\x00" + p.key())
}

func (s *Service) seal(kind, id string, p Person, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("mfa: encode: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("mfa: nonce: %w", err)
	}
	return s.aead.Seal(nonce, nonce, plain, purpose(kind, id, p)), nil
}

func (s *Service) open(kind, id string, p Person, sealed []byte, v any) error {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return ErrUnreadable
	}
	plain, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], purpose(kind, id, p))
	if err != nil {
		return ErrUnreadable
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return ErrUnreadable
	}
	return nil
}

// load reads p's enrolment and the store's expiry of its record.
// ErrNotEnrolled when there is none; ErrUnreadable when it does not open.
func (s *Service) load(ctx context.Context, p Person) (*enrolment, time.Time, error) {
	id := s.enrolledID(p)
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	rec, err := s.st.GetSession(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, time.Time{}, ErrNotEnrolled
	case err != nil:
		return nil, time.Time{}, unavailable("read the enrolment", err)
	}
	var e enrolment
	if err := s.open("enrolment", id, p, rec.Data, &e); err != nil {
		return nil, time.Time{}, err
	}
	if e.ID == "" || e.Secret == "" || len(e.Recovery) != len(e.Used) {
		return nil, time.Time{}, ErrUnreadable
	}
	return &e, rec.Expires, nil
}

// save writes e for p until enrolmentLifetime from now. A Reset that
// raced this write (its marker is set) wins: the record is deleted again,
// and the answer is ErrNotEnrolled.
func (s *Service) save(ctx context.Context, p Person, e *enrolment) error {
	id := s.enrolledID(p)
	data, err := s.seal("enrolment", id, p, e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.st.PutSession(ctx, store.SessionRecord{ID: id, Data: data, Expires: s.now().Add(enrolmentLifetime)}); err != nil {
		return unavailable("write the enrolment", err)
	}
	reset, err := s.st.Get(ctx, resetKey(e.ID))
	if err != nil {
		return unavailable("read the reset marker", err)
	}
	if reset == 0 {
		return nil
	}
	if err := s.st.DeleteSession(ctx, id); err != nil {
		return unavailable("delete a reset enrolment", err)
	}
	return ErrNotEnrolled
}

// refresh writes e again when its record was last written more than
// refreshAfter ago (expires is the record's expiry as read), folding in
// the recovery codes used since, so that the enrolment outlives the
// counters that mark them. A failure is logged: the use it follows was
// good.
func (s *Service) refresh(ctx context.Context, p Person, e *enrolment, expires time.Time) {
	if expires.Sub(s.now()) > enrolmentLifetime-refreshAfter {
		return
	}
	if err := s.foldUsed(ctx, e); err != nil {
		s.log.WarnContext(ctx, "mfa: the enrolment could not be refreshed", "err", err)
		return
	}
	if err := s.save(ctx, p, e); err != nil && !errors.Is(err, ErrNotEnrolled) {
		s.log.WarnContext(ctx, "mfa: the enrolment could not be refreshed", "err", err)
	}
}

// foldUsed marks in e the recovery codes whose use counter is set.
func (s *Service) foldUsed(ctx context.Context, e *enrolment) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	for i := range e.Used {
		if e.Used[i] {
			continue
		}
		n, err := s.st.Get(ctx, recoveryUsedKey(e.ID, i))
		if err != nil {
			return unavailable("read a recovery code's use", err)
		}
		e.Used[i] = n > 0
	}
	return nil
}

// touch records now as p's last use.
func (s *Service) touch(ctx context.Context, p Person, at time.Time) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.st.SetTTL(ctx, s.lastUsedKey(p), at.Unix(), enrolmentLifetime); err != nil {
		s.log.WarnContext(ctx, "mfa: the last use could not be recorded", "err", err)
	}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("mfa: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
