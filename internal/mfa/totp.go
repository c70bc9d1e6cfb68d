package mfa

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/idbroker/idbroker/internal/store"
)

// Enrollment is a begun enrolment as the person sees it once: the secret
// (base32) and the otpauth:// URI that carries it to an authenticator app.
// Both are secrets: shown to the person, never logged.
type Enrollment struct {
	Secret string
	URI    string
}

// validateOpts are the TOTP parameters of every code.
var validateOpts = totp.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Begin makes a new secret for p, pending until Confirm (at most
// PendingTTL); a second Begin replaces the first. A person already
// enrolled is refused with ErrEnrolled.
func (s *Service) Begin(ctx context.Context, p Person) (Enrollment, error) {
	if err := checkPerson(p); err != nil {
		return Enrollment{}, err
	}
	enrolled, err := s.Enrolled(ctx, p)
	if err != nil {
		return Enrollment{}, err
	}
	if enrolled {
		return Enrollment{}, ErrEnrolled
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: s.issuer, AccountName: p.Username + "@" + p.Provider,
		Period: validateOpts.Period, SecretSize: secretBytes, Digits: validateOpts.Digits, Algorithm: validateOpts.Algorithm,
	})
	if err != nil {
		return Enrollment{}, fmt.Errorf("mfa: generate the secret: %w", err)
	}
	nonce, err := randomHex(16)
	if err != nil {
		return Enrollment{}, err
	}
	id := s.pendingID(p)
	data, err := s.seal("pending", id, p, pending{Nonce: nonce, Secret: key.Secret()})
	if err != nil {
		return Enrollment{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := s.st.PutSession(cctx, store.SessionRecord{ID: id, Data: data, Expires: s.now().Add(PendingTTL)}); err != nil {
		return Enrollment{}, unavailable("write the pending enrolment", err)
	}
	return Enrollment{Secret: key.Secret(), URI: key.URL()}, nil
}

// Confirm completes p's pending enrolment when code is a current code of
// its secret (the code is then used up), and returns the recovery codes:
// RecoveryCodes of them, shown once (only their keyed hashes are kept).
// ErrNoPending, ErrInvalidCode, ErrEnrolled, or a store error.
func (s *Service) Confirm(ctx context.Context, p Person, code string) ([]string, error) {
	if err := checkPerson(p); err != nil {
		return nil, err
	}
	id := s.pendingID(p)
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	rec, err := s.st.GetSession(cctx, id)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNoPending
	case err != nil:
		return nil, unavailable("read the pending enrolment", err)
	}
	var pe pending
	if err := s.open("pending", id, p, rec.Data, &pe); err != nil {
		return nil, ErrNoPending
	}
	enrolled, err := s.Enrolled(ctx, p)
	if err != nil {
		return nil, err
	}
	if enrolled {
		return nil, ErrEnrolled
	}
	now := s.now()
	if err := s.useTOTP(ctx, p, pe.Secret, code, now); err != nil {
		return nil, err
	}
	cctx, cancel = context.WithTimeout(ctx, storeTimeout)
	first, err := s.st.Claim(cctx, RecordPrefix+"totp-confirmed:"+pe.Nonce, now.Add(PendingTTL))
	cancel()
	if err != nil {
		return nil, unavailable("claim the confirmation", err)
	}
	if !first {
		return nil, ErrNoPending
	}
	eid, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := s.newRecoveryCodes(eid)
	if err != nil {
		return nil, err
	}
	e := &enrolment{ID: eid, Secret: pe.Secret, Created: now, Recovery: hashes, Used: make([]bool, len(hashes))}
	if err := s.save(ctx, p, e); err != nil {
		return nil, err
	}
	cctx, cancel = context.WithTimeout(ctx, storeTimeout)
	if err := s.st.DeleteSession(cctx, id); err != nil {
		// It lapses by itself; its Confirm is claimed already.
		s.log.WarnContext(ctx, "mfa: a confirmed pending enrolment could not be deleted", "err", err)
	}
	cancel()
	s.touch(ctx, p, now)
	return codes, nil
}

// Verify checks code for p: six digits are a TOTP code, anything else a
// recovery code (VerifyTOTP, VerifyRecovery). It returns when the MFA
// happened (now).
func (s *Service) Verify(ctx context.Context, p Person, code string) (time.Time, error) {
	if IsTOTPCode(normalizeCode(code)) {
		return s.VerifyTOTP(ctx, p, code)
	}
	return s.VerifyRecovery(ctx, p, code)
}

// VerifyTOTP checks a TOTP code of p's enrolment: the code of the current
// step or of one step either side, not used before (it is used up now, on
// every replica). ErrInvalidCode, ErrNotEnrolled, ErrUnreadable, or a store
// error.
func (s *Service) VerifyTOTP(ctx context.Context, p Person, code string) (time.Time, error) {
	if err := checkPerson(p); err != nil {
		return time.Time{}, err
	}
	e, expires, err := s.load(ctx, p)
	if err != nil {
		return time.Time{}, err
	}
	now := s.now()
	if err := s.useTOTP(ctx, p, e.Secret, code, now); err != nil {
		return time.Time{}, err
	}
	s.touch(ctx, p, now)
	s.refresh(ctx, p, e, expires)
	return now, nil
}

// IsTOTPCode reports whether code has the form of a TOTP code: exactly
// Digits ASCII digits.
func IsTOTPCode(code string) bool {
	if len(code) != Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// useTOTP accepts code when it is secret's code of the step of now or one
// step either side, and claims that step for p (so the code, and any other
// code of the same step, is refused from now on everywhere).
func (s *Service) useTOTP(ctx context.Context, p Person, secret, code string, now time.Time) error {
	code = normalizeCode(code)
	if !IsTOTPCode(code) {
		return ErrInvalidCode
	}
	step, ok := matchStep(secret, code, now)
	if !ok {
		return ErrInvalidCode
	}
	// The step's code is accepted until Skew steps after it; the claim
	// outlives that.
	until := time.Unix((step+Skew+2)*int64(Period/time.Second), 0)
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	first, err := s.st.Claim(ctx, s.stepKey(p, step), until)
	if err != nil {
		return unavailable("claim the code", err)
	}
	if !first {
		return ErrInvalidCode
	}
	return nil
}

// matchStep returns the time step, among now's and Skew either side, whose
// code is code. Every candidate is computed and compared in constant time.
func matchStep(secret, code string, now time.Time) (int64, bool) {
	period := int64(Period / time.Second)
	cur := now.Unix() / period
	var found int64
	ok := 0
	for d := int64(-Skew); d <= Skew; d++ {
		step := cur + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*period, 0), validateOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && ok == 0 {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// normalizeCode trims the spaces a person may type around a code.
func normalizeCode(code string) string { return strings.TrimSpace(code) }
