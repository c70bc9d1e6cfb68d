package sts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/idbroker/idbroker/sts/policy"
)

// Multi-factor authentication in the STS. A session is MFA-authenticated
// (aws:MultiFactorAuthPresent "true", aws:MultiFactorAuthAge the seconds
// since the MFA) when
//
//   - its web identity token's amr lists "mfa": the MFA happened at the
//     token's numeric claim mfa_time, else its auth_time, else its iat;
//   - its SAML assertion has an AuthnStatement whose AuthnContextClassRef
//     states multi-factor authentication (SAMLAssertion.MFAInstant): at
//     that statement's AuthnInstant;
//   - AssumeRole verified a SerialNumber and TokenCode (MFAVerifier): at
//     that moment;
//   - it was chained from an MFA-authenticated session, which it inherits
//     with its time (unless the AssumeRole call did MFA itself).
//
// Both keys are set in the trust policy's context when the session is
// issued and in every later decision for it (Authorize); without MFA,
// aws:MultiFactorAuthPresent is "false" and aws:MultiFactorAuthAge absent,
// as at AWS for temporary credentials.

// MFAVerifier verifies the MFA device serial number and one-time code of
// an AssumeRole call (the broker implements it on its TOTP enrolments).
type MFAVerifier interface {
	// VerifyTokenCode checks code for the MFA device serial of the caller
	// session and claims it (single use). It returns when the MFA happened;
	// errors mean AccessDenied (an error wrapping ErrMFAUnavailable:
	// ServiceUnavailable). MFASourceIP(ctx) is the client's address.
	VerifyTokenCode(ctx context.Context, caller *Session, serial, code string) (time.Time, error)
}

// ErrMFAUnavailable is wrapped by an MFAVerifier that cannot check a code
// now (its store cannot be reached): the call is refused as
// ServiceUnavailable rather than AccessDenied, since the code may be right.
var ErrMFAUnavailable = errors.New("sts: MFA verification is unavailable")

// AWS's answers to a failed MFA check (AccessDenied).
const (
	msgMFAInvalid    = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
	msgMFAIncomplete = "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."
)

// claimMFATime is the web identity token claim that says when the MFA
// listed in amr happened (Unix seconds); auth_time and iat stand in for it.
const claimMFATime = "mfa_time"

// mfaMaxSkew is how far in the future an MFA time may be (clock skew
// between the identity provider and the STS); it counts as now. Later
// than that, the token or assertion is refused.
const mfaMaxSkew = 5 * time.Minute

// maxNumericDate is the last second of year 9999, the largest NumericDate
// taken from a token.
const maxNumericDate = 253402300799

type mfaSourceIPKey struct{}

// MFASourceIP is the client address of the AssumeRole call an MFAVerifier
// is asked about ("" when unknown), so that it can count failures per
// address.
func MFASourceIP(ctx context.Context) string {
	ip, _ := ctx.Value(mfaSourceIPKey{}).(string)
	return ip
}

// verifyTokenCode checks the SerialNumber and TokenCode of an AssumeRole
// call and returns when the MFA happened. A refusal is the AWS error with
// the audit reason (which never holds the code).
func (s *Service) verifyTokenCode(ctx context.Context, caller *Session, in *AssumeRoleInput, now time.Time) (at time.Time, reason string, err error) {
	if in.SerialNumber == "" || in.TokenCode == "" {
		return time.Time{}, "SerialNumber and TokenCode must be given together", errAccessDenied(msgMFAIncomplete)
	}
	if s.mfa == nil {
		return time.Time{}, "MFA parameters given; no MFA device is registered", errAccessDenied(msgMFAInvalid)
	}
	vctx, cancel := context.WithTimeout(context.WithValue(ctx, mfaSourceIPKey{}, in.SourceIP), s.verifyTimeout)
	at, err = s.mfa.VerifyTokenCode(vctx, caller, in.SerialNumber, in.TokenCode)
	cancel()
	switch {
	case errors.Is(err, ErrMFAUnavailable):
		s.log.ErrorContext(ctx, "sts: MFA verification", "err", err)
		return time.Time{}, "MFA verification unavailable: " + truncate(err.Error(), 200),
			apiError(http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request.")
	case err != nil:
		return time.Time{}, "MFA: " + truncate(err.Error(), 200), errAccessDenied(msgMFAInvalid)
	}
	if at.IsZero() || at.After(now) {
		at = now
	}
	return at, "", nil
}

// webIdentityMFA reads the MFA of a verified web identity token: whether
// its amr lists "mfa", and when that happened (mfa_time, else auth_time,
// else iat; zero when the token says none of them). An mfa_time that is not
// a NumericDate, or lies more than mfaMaxSkew ahead, is an error (the
// broker's own claim is never wrong); auth_time is read as providers/oidc
// reads it, and a malformed one is passed over.
func webIdentityMFA(id *WebIdentity, now time.Time) (bool, time.Time, error) {
	if !slices.Contains(id.AMR, "mfa") {
		return false, time.Time{}, nil
	}
	if raw, ok := id.Claims[claimMFATime]; ok {
		t, ok := numericDate(raw)
		if !ok {
			return false, time.Time{}, fmt.Errorf("%s claim is not a NumericDate", claimMFATime)
		}
		at, err := mfaTime(t, now)
		if err != nil {
			return false, time.Time{}, fmt.Errorf("%s claim: %w", claimMFATime, err)
		}
		return true, at, nil
	}
	if raw, ok := id.Claims["auth_time"]; ok {
		if t, ok := numericDate(raw); ok {
			if at, err := mfaTime(t, now); err == nil {
				return true, at, nil
			}
		}
	}
	if id.IssuedAt.IsZero() {
		return true, time.Time{}, nil
	}
	at, _ := mfaTime(id.IssuedAt, now) // the verifier has accepted its iat
	return true, at, nil
}

// samlMFA reads the MFA of a verified SAML assertion: its MFAInstant.
func samlMFA(a *SAMLAssertion, now time.Time) (bool, time.Time, error) {
	if a.MFAInstant.IsZero() {
		return false, time.Time{}, nil
	}
	at, err := mfaTime(a.MFAInstant, now)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("AuthnInstant of the multi-factor AuthnStatement: %w", err)
	}
	return true, at, nil
}

// numericDate reads a JSON number of whole seconds since the epoch, from
// 1 to maxNumericDate.
func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || f < 1 || f > maxNumericDate {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0).UTC(), true
}

// mfaTime checks an MFA time against now: up to mfaMaxSkew ahead counts as
// now; further ahead is an error.
func mfaTime(t, now time.Time) (time.Time, error) {
	switch {
	case t.After(now.Add(mfaMaxSkew)):
		return time.Time{}, fmt.Errorf("%s is in the future", t.UTC().Format(time.RFC3339))
	case t.After(now):
		return now, nil
	}
	return t, nil
}

// setMFAKeys sets aws:MultiFactorAuthPresent, and aws:MultiFactorAuthAge
// (whole seconds since at) when mfa and at is known; the age is absent
// otherwise.
func setMFAKeys(pctx *policy.Context, mfa bool, at, now time.Time) {
	pctx.Set("aws:MultiFactorAuthPresent", strconv.FormatBool(mfa))
	if !mfa || at.IsZero() {
		pctx.Delete("aws:MultiFactorAuthAge")
		return
	}
	age := max(now.Sub(at), 0) / time.Second
	pctx.Set("aws:MultiFactorAuthAge", strconv.FormatInt(int64(age), 10))
}

// mfaUnix is the MFA time a session token carries: Unix seconds, 0 without
// MFA or when its time is unknown.
func mfaUnix(mfa bool, at time.Time) int64 {
	if !mfa || at.IsZero() {
		return 0
	}
	return at.Unix()
}
