package broker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/internal/mfa"
	"github.com/idbroker/idbroker/providers"
)

// The MFA API (JSON, bearer sessions) and the administrators' reset:
//
//	POST /api/v1/mfa/totp          (bearer)     -> 200 {"secret","otpauth_uri"}: a pending enrolment (10 min)
//	POST /api/v1/mfa/totp/confirm  (bearer) {"code"} -> 200 {"recovery_codes":[…]}: shown once; the
//	                                               session has MFA from now on
//	POST /api/v1/admin/mfa/reset   (SigV4, idbroker:ResetMFA) {"user","provider"} -> 200
//
// The portal's pages (mfaportal.go) do the same for browsers.

// ResetMFAAction is what an administrator's session must be allowed, on
// resource "*", to reset a person's TOTP (POST /api/v1/admin/mfa/reset).
const ResetMFAAction = "idbroker:ResetMFA"

// totpBegun answers POST /api/v1/mfa/totp. Both are secrets, shown this
// once: the program shows them to its person.
type totpBegun struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

// totpConfirm is the body of POST /api/v1/mfa/totp/confirm.
type totpConfirm struct {
	Code string `json:"code"`
}

// totpConfirmed answers it: the recovery codes, shown this once.
type totpConfirmed struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// mfaResetRequest is the body of POST /api/v1/admin/mfa/reset: the user,
// at one provider or (provider empty) at every configured provider.
type mfaResetRequest struct {
	User     string `json:"user"`
	Provider string `json:"provider"`
}

// mfaResetDone is one person the reset looked at.
type mfaResetDone struct {
	Provider string `json:"provider"`
	User     string `json:"user"`
	// WasEnrolled says a TOTP enrolment was removed.
	WasEnrolled bool `json:"was_enrolled"`
}

func (s *Server) mfaRoutes(mux *http.ServeMux, cop *http.CrossOriginProtection) {
	if s.cfg.MFA == nil {
		return
	}
	mux.HandleFunc("POST /api/v1/mfa/totp", s.serveTOTPBegin)
	mux.HandleFunc("POST /api/v1/mfa/totp/confirm", s.serveTOTPConfirm)
	mux.HandleFunc("POST /api/v1/admin/mfa/reset", s.serveMFAReset)
	// For programs with a bearer token or SigV4 (no cookie is read).
	cop.AddInsecureBypassPattern("POST /api/v1/mfa/totp")
	cop.AddInsecureBypassPattern("POST /api/v1/mfa/totp/confirm")
	cop.AddInsecureBypassPattern("POST /api/v1/admin/mfa/reset")
	s.mfaPortalRoutes(mux)
}

// writeEnrolmentError answers mfa.ErrEnrolled and mfa.ErrNoPending (true);
// false for any other error.
func writeEnrolmentError(w http.ResponseWriter, err error) bool {
	switch {
	case errors.Is(err, mfa.ErrEnrolled):
		writeAPIError(w, http.StatusConflict, "MFAAlreadyEnrolled", "a TOTP device is enrolled already: an administrator resets it before another is enrolled")
	case errors.Is(err, mfa.ErrNoPending):
		writeAPIError(w, http.StatusConflict, "NoEnrolmentPending", "no TOTP enrolment is pending (none was begun, it is older than 10 minutes, or it was confirmed): POST /api/v1/mfa/totp again")
	default:
		return false
	}
	return true
}

// serveTOTPBegin is POST /api/v1/mfa/totp.
func (s *Server) serveTOTPBegin(w http.ResponseWriter, r *http.Request) {
	if !requireJSON(w, r, false) {
		return
	}
	se, ok := s.bearerSession(w, r)
	if !ok {
		return
	}
	en, err := s.beginTOTP(r, se)
	if err != nil {
		if !writeEnrolmentError(w, err) {
			writeAPIRefusal(w, err)
		}
		return
	}
	writeJSON(w, http.StatusOK, totpBegun{Secret: en.Secret, OTPAuthURI: en.URI})
}

// serveTOTPConfirm is POST /api/v1/mfa/totp/confirm.
func (s *Server) serveTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	if !requireJSON(w, r, true) {
		return
	}
	var req totpConfirm
	if !decodeJSON(w, r, &req) {
		return
	}
	se, ok := s.bearerSession(w, r)
	if !ok {
		return
	}
	codes, err := s.confirmTOTP(r, se, req.Code)
	if err != nil {
		if !writeEnrolmentError(w, err) {
			writeAPIRefusal(w, err)
		}
		return
	}
	writeJSON(w, http.StatusOK, totpConfirmed{RecoveryCodes: codes})
}

// beginTOTP begins an enrolment of se's person (API and portal alike).
// Errors: mfa.ErrEnrolled, or a *refusal.
func (s *Server) beginTOTP(r *http.Request, se *session) (mfa.Enrollment, error) {
	ctx := r.Context()
	en, err := s.cfg.MFA.Begin(ctx, personOf(se.Identity))
	switch {
	case errors.Is(err, mfa.ErrEnrolled):
		return mfa.Enrollment{}, err
	case err != nil:
		return mfa.Enrollment{}, s.mfaStoreRefused(ctx, err)
	}
	s.audit(ctx, "mfa.enrolment_begun", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)))
	return en, nil
}

// confirmTOTP confirms se's person's pending enrolment with code and
// returns the recovery codes; the session has MFA from now on. A wrong
// code counts toward the lock-out like any other. Errors:
// mfa.ErrEnrolled, mfa.ErrNoPending, or a *refusal.
func (s *Server) confirmTOTP(r *http.Request, se *session, code string) ([]string, error) {
	ctx := r.Context()
	id, ip := se.Identity, clientIP(r)
	attrs := []slog.Attr{slog.String("session_id", se.ID), slog.String("client_ip", ip), slog.String("factor", "totp")}
	a, err := s.lockout.admitMFA(ctx, id.Provider, id.Username, ip)
	switch {
	case errors.Is(err, providers.ErrInvalidCredentials):
		s.audit(ctx, "mfa.failed", id, append(attrs, slog.Any("reason", err))...)
		return nil, &refusal{class: classMFAInvalid, err: err}
	case err != nil:
		return nil, s.mfaStoreRefused(ctx, err)
	}
	codes, err := s.cfg.MFA.Confirm(ctx, personOf(id), code)
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		s.audit(ctx, "mfa.failed", id, append(attrs, slog.Any("reason", err))...)
		if cerr := a.failed(ctx); cerr != nil {
			return nil, s.mfaStoreRefused(ctx, cerr)
		}
		return nil, &refusal{class: classMFAInvalid, err: err}
	case errors.Is(err, mfa.ErrEnrolled), errors.Is(err, mfa.ErrNoPending):
		return nil, err
	case err != nil:
		return nil, s.mfaStoreRefused(ctx, err)
	}
	a.succeeded(ctx)
	s.audit(ctx, "mfa.enrolled", id, attrs...)
	if err := s.stepUp(ctx, se, s.now()); err != nil {
		// Enrolled all the same: the codes must reach the person.
		s.log.WarnContext(ctx, "mfa: enrolled, but the session could not be marked MFA", slog.String("session_id", se.ID), slog.Any("err", err))
	}
	return codes, nil
}

// serveMFAReset is POST /api/v1/admin/mfa/reset: an administrator removes
// a person's TOTP enrolment (they can sign in without it, then enrol
// again). Sessions that passed the TOTP keep their MFA until they end (an
// administrator revokes them to end them now).
func (s *Server) serveMFAReset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, ok := readAdminRequest(w, r, true)
	if !ok {
		return
	}
	caller, ok := s.adminCaller(w, r, body, ResetMFAAction, "mfa.reset_refused")
	if !ok {
		return
	}
	bad := func(err error) {
		s.auditAPI(ctx, "mfa.reset_refused", r, caller, slog.Any("reason", err))
		writeAPIRefusal(w, &refusal{class: classBadAdminRequest, err: err, detail: err.Error()})
	}
	var req mfaResetRequest
	if err := decodeStrict(body, &req); err != nil {
		bad(err)
		return
	}
	if req.User == "" {
		bad(errors.New(`"user" is required`))
		return
	}
	for name, v := range map[string]string{"user": req.User, "provider": req.Provider} {
		if err := checkText(name, v); err != nil {
			bad(err)
			return
		}
	}
	if req.Provider != "" {
		if _, ok := s.providers[req.Provider]; !ok {
			bad(errors.New("no provider of that name is configured"))
			return
		}
	}
	// Once started, the reset runs to its end even if the caller goes away.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	done := []mfaResetDone{}
	for _, p := range s.providerNames(req.Provider) {
		person := mfa.Person{Provider: p, Username: req.User}
		was, err := s.cfg.MFA.Enrolled(work, person)
		if err == nil {
			err = s.cfg.MFA.Reset(work, person)
		}
		if err != nil {
			s.auditAPI(ctx, "mfa.reset_refused", r, caller, slog.String("provider", p), slog.String("user", req.User), slog.Any("reason", err))
			writeAPIRefusal(w, s.mfaStoreRefused(ctx, err))
			return
		}
		s.audit(ctx, "mfa.reset", providers.Identity{Provider: p, Username: req.User}, slog.String("by", caller.AssumedRoleARN()),
			slog.String("access_key_id", caller.AccessKeyID), slog.String("client_ip", clientIP(r)), slog.Bool("was_enrolled", was))
		done = append(done, mfaResetDone{Provider: p, User: req.User, WasEnrolled: was})
	}
	writeJSON(w, http.StatusOK, map[string]any{"reset": done})
}
