package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Recovery codes: RecoveryCodes per enrolment, each 10 characters of
// Crockford's base32 (50 random bits) shown as "xxxxx-xxxxx". The store
// keeps only an HMAC of each (keyed by the broker's key and the
// enrolment), so a copy of the store cannot be searched offline.

const (
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryLen      = 10
	// maxCodeInput bounds what is looked at of a typed code.
	maxCodeInput = 64
)

// newRecoveryCodes returns the codes of a new enrolment eid and their
// hashes, in the same order.
func (s *Service) newRecoveryCodes(eid string) ([]string, [][]byte, error) {
	codes := make([]string, 0, RecoveryCodes)
	hashes := make([][]byte, 0, RecoveryCodes)
	buf := make([]byte, recoveryLen)
	for range RecoveryCodes {
		if _, err := rand.Read(buf); err != nil {
			return nil, nil, fmt.Errorf("mfa: random: %w", err)
		}
		var b strings.Builder
		for i, c := range buf {
			if i == recoveryLen/2 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[c&31])
		}
		code := b.String()
		norm, _ := normalizeRecovery(code)
		codes = append(codes, code)
		hashes = append(hashes, s.recoveryHash(eid, norm))
	}
	return codes, hashes, nil
}

// normalizeRecovery reads a typed recovery code: case, spaces and dashes
// do not matter, and the letters Crockford's base32 leaves out are read as
// the digits they look like (i, l as 1; o as 0). ok is false for anything
// that is not a recovery code.
func normalizeRecovery(code string) (string, bool) {
	if len(code) > maxCodeInput {
		return "", false
	}
	var b strings.Builder
	for _, c := range strings.ToLower(code) {
		switch {
		case c == '-' || c == ' ':
			continue
		case c == 'i' || c == 'l':
			c = '1'
		case c == 'o':
			c = '0'
		}
		if c > 0x7f || !strings.ContainsRune(recoveryAlphabet, c) {
			return "", false
		}
		b.WriteRune(c)
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}

func (s *Service) recoveryHash(eid, norm string) []byte {
	m := hmac.New(sha256.New, s.recovery)
	m.Write([]byte(eid + "\x00" + norm))
	return m.Sum(nil)
}

// VerifyRecovery checks a recovery code of p's enrolment and uses it up:
// each code works once, on every replica (its use is counted in the store
// before it is accepted). ErrInvalidCode, ErrNotEnrolled, ErrUnreadable, or
// a store error.
func (s *Service) VerifyRecovery(ctx context.Context, p Person, code string) (time.Time, error) {
	if err := checkPerson(p); err != nil {
		return time.Time{}, err
	}
	e, _, err := s.load(ctx, p)
	if err != nil {
		return time.Time{}, err
	}
	norm, ok := normalizeRecovery(code)
	if !ok {
		return time.Time{}, ErrInvalidCode
	}
	h := s.recoveryHash(e.ID, norm)
	found := -1
	for i, stored := range e.Recovery {
		if subtle.ConstantTimeCompare(stored, h) == 1 {
			found = i
		}
	}
	if found < 0 || e.Used[found] {
		return time.Time{}, ErrInvalidCode
	}
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	n, err := s.st.Incr(cctx, recoveryUsedKey(e.ID, found), enrolmentLifetime)
	cancel()
	if err != nil {
		return time.Time{}, unavailable("count the recovery code's use", err)
	}
	if n != 1 {
		return time.Time{}, ErrInvalidCode
	}
	now := s.now()
	s.touch(ctx, p, now)
	// The use is written into the record at once (not only at the daily
	// refresh): the counter lapses before an enrolment in use does.
	e.Used[found] = true
	if err := s.foldUsed(ctx, e); err == nil {
		if err := s.save(ctx, p, e); err != nil && !errors.Is(err, ErrNotEnrolled) {
			s.log.WarnContext(ctx, "mfa: a recovery code's use could not be written into the enrolment (its counter still holds it)", "err", err)
		}
	}
	return now, nil
}

// RecoveryLeft is how many of p's recovery codes are unused.
func (s *Service) RecoveryLeft(ctx context.Context, p Person) (int, error) {
	if err := checkPerson(p); err != nil {
		return 0, err
	}
	e, _, err := s.load(ctx, p)
	if err != nil {
		return 0, err
	}
	if err := s.foldUsed(ctx, e); err != nil {
		return 0, err
	}
	left := 0
	for _, u := range e.Used {
		if !u {
			left++
		}
	}
	return left, nil
}
