package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/idbroker/idbroker/internal/mfa"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
)

// The broker's own second factor (internal/mfa: TOTP and recovery codes)
// and the policy that asks for multi-factor authentication:
//
//   - providers[].mfa (Provider.MFA): off (the default) asks nothing;
//     optional makes every person who enrolled a TOTP device use it at
//     sign-in; required also refuses credentials to a person who has not
//     (they can sign in, enrol, and then issue);
//   - roles[].require_mfa (mapping.Grant.RequireMFA): no credentials for
//     the role without MFA in the session.
//
// MFA in a session comes from the upstream (providers.Identity.MFA and
// MFATime: SAML AuthnContext, OIDC amr) or from a TOTP or recovery code
// checked by the broker, at sign-in or later as a step-up (session.MFAAt).
// The gate is in the one issuing seam (issue.go); sign-ins ask for the code
// up front when the person will need it, so that a program is asked once.

// MFA policies of a provider (Provider.MFA).
const (
	MFAOff      = "off"
	MFAOptional = "optional"
	MFARequired = "required"
)

// ValidMFAPolicy reports whether p is a provider MFA policy ("" is off).
func ValidMFAPolicy(p string) bool {
	switch p {
	case "", MFAOff, MFAOptional, MFARequired:
		return true
	}
	return false
}

// MFAService is what the broker needs of internal/mfa (*mfa.Service
// implements it).
type MFAService interface {
	Begin(ctx context.Context, p mfa.Person) (mfa.Enrollment, error)
	Confirm(ctx context.Context, p mfa.Person, code string) ([]string, error)
	Enrolled(ctx context.Context, p mfa.Person) (bool, error)
	VerifyTOTP(ctx context.Context, p mfa.Person, code string) (time.Time, error)
	VerifyRecovery(ctx context.Context, p mfa.Person, code string) (time.Time, error)
	Reset(ctx context.Context, p mfa.Person) error
}

// MFAKey derives the key that seals the TOTP secrets (mfa.New) from the
// broker's cookie key: an HMAC under its own label, so no key file is
// added and a replica with the key ring opens every enrolment. A new
// cookie key makes the enrolments unreadable (an administrator resets
// them), as it ends every session.
func MFAKey(cookieKey []byte) []byte { return derive(cookieKey, "idbroker mfa totp v1") }

// personOf is the MFA person of an identity.
func personOf(id providers.Identity) mfa.Person {
	return mfa.Person{Provider: id.Provider, Username: id.Username}
}

// withMFA is id with the MFA the broker checked itself at at (zero: none)
// added: MFA is set, and MFATime is the later of the two.
func withMFA(id providers.Identity, at time.Time) providers.Identity {
	if at.IsZero() {
		return id
	}
	if !id.MFA || id.MFATime.IsZero() || at.After(id.MFATime) {
		id.MFATime = at
	}
	id.MFA = true
	return id
}

// mfaCodes are the second-factor fields of a JSON request.
type mfaCodes struct {
	TOTP     string `json:"totp_code"`
	Recovery string `json:"recovery_code"`
}

func (c mfaCodes) given() bool { return c.TOTP != "" || c.Recovery != "" }

// check refuses a request that sends both codes.
func (c mfaCodes) check() error {
	if c.TOTP != "" && c.Recovery != "" {
		return errors.New(`send either "totp_code" or "recovery_code", not both`)
	}
	return nil
}

// providerMFA is the MFA policy of the named provider (off when it is
// not configured).
func (s *Server) providerMFA(name string) string {
	if p, ok := s.providers[name]; ok && p.MFA != "" {
		return p.MFA
	}
	return MFAOff
}

// enrolled reports whether id's person has a TOTP device; a broker
// without MFA has none. Errors are *refusal (fail closed).
func (s *Server) enrolled(ctx context.Context, id providers.Identity) (bool, error) {
	if s.cfg.MFA == nil {
		return false, nil
	}
	ok, err := s.cfg.MFA.Enrolled(ctx, personOf(id))
	if err != nil {
		return false, s.mfaStoreRefused(ctx, err)
	}
	return ok, nil
}

// signInNeedsMFA reports whether a sign-in of id must bring a second
// factor: the provider's policy is optional or required, the person has
// enrolled, and the upstream did no MFA.
func (s *Server) signInNeedsMFA(ctx context.Context, id providers.Identity) (bool, error) {
	if id.MFA || s.providerMFA(id.Provider) == MFAOff {
		return false, nil
	}
	return s.enrolled(ctx, id)
}

// errMFARequired is the private reason of an MFARequired refusal.
var errMFARequired = errors.New("multi-factor authentication required")

// mfaRequired is the refusal asking id for a second factor; why says what
// asks for it (the provider, a role), and the answer says what to do.
func (s *Server) mfaRequired(ctx context.Context, id providers.Identity, why, role string) error {
	enrolled, err := s.enrolled(ctx, id)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf(": %s; send \"totp_code\" (or a \"recovery_code\") with the request", why)
	if !enrolled {
		detail = fmt.Sprintf(": %s, and no TOTP device is enrolled: enrol one first (POST /api/v1/mfa/totp, the portal's MFA page, or idbroker mfa enroll)", why)
	}
	return &refusal{class: classMFARequired, err: fmt.Errorf("%w: %s", errMFARequired, why), role: role, detail: detail}
}

// mfaGate refuses the grants of an issuance that need MFA id does not
// have: every grant when the provider requires MFA, or when the person
// enrolled and the provider's policy is optional; a grant of a role with
// require_mfa. id carries the session's MFA (withMFA).
func (s *Server) mfaGate(ctx context.Context, id providers.Identity, grants []mapping.Grant) error {
	if id.MFA {
		return nil
	}
	switch s.providerMFA(id.Provider) {
	case MFARequired:
		return s.mfaRequired(ctx, id, "the provider "+id.Provider+" requires multi-factor authentication", "")
	case MFAOptional:
		need, err := s.enrolled(ctx, id)
		if err != nil {
			return err
		}
		if need {
			return s.mfaRequired(ctx, id, "this user has enrolled a TOTP device and must use it", "")
		}
	}
	for _, g := range grants {
		if g.RequireMFA {
			return s.mfaRequired(ctx, id, "the role "+g.RoleARN+" requires multi-factor authentication", g.RoleARN)
		}
	}
	return nil
}

// verifyMFA checks the code of c for id's person (a TOTP code, or a
// recovery code, used up either way) under the lock-out: a locked name or
// address, or a locked second factor, is refused like a wrong code, and
// every wrong code counts (mfalockout.go). It returns when the MFA
// happened. Every outcome is audited (mfa.verified, mfa.recovery_used,
// mfa.failed: never a code). Errors are *refusal.
func (s *Server) verifyMFA(ctx context.Context, id providers.Identity, c mfaCodes, clientIP string) (time.Time, error) {
	if err := c.check(); err != nil {
		return time.Time{}, &refusal{class: classMFAInvalid, err: err, detail: ": " + err.Error()}
	}
	if s.cfg.MFA == nil {
		return time.Time{}, &refusal{class: classMFAInvalid, err: errors.New("this broker has no MFA service"), detail: ": no TOTP device is enrolled for this user"}
	}
	kind, verify, code := "totp", s.cfg.MFA.VerifyTOTP, c.TOTP
	if c.Recovery != "" {
		kind, verify, code = "recovery_code", s.cfg.MFA.VerifyRecovery, c.Recovery
	}
	attrs := []slog.Attr{slog.String("client_ip", clientIP), slog.String("factor", kind)}
	failed := func(reason error, r *refusal) (time.Time, error) {
		s.audit(ctx, "mfa.failed", id, append(attrs, slog.Any("reason", reason))...)
		return time.Time{}, r
	}
	a, err := s.lockout.admitMFA(ctx, id.Provider, id.Username, clientIP)
	switch {
	case errors.Is(err, providers.ErrInvalidCredentials):
		return failed(err, &refusal{class: classMFAInvalid, err: err})
	case err != nil:
		return failed(err, s.mfaStoreRefused(ctx, err))
	}
	at, err := verify(ctx, personOf(id), code)
	switch {
	case err == nil:
		a.succeeded(ctx)
		event := "mfa.verified"
		if kind == "recovery_code" {
			event = "mfa.recovery_used"
		}
		s.audit(ctx, event, id, attrs...)
		return at, nil
	case errors.Is(err, mfa.ErrInvalidCode):
		if cerr := a.failed(ctx); cerr != nil {
			return failed(err, s.mfaStoreRefused(ctx, cerr))
		}
		return failed(err, &refusal{class: classMFAInvalid, err: err})
	case errors.Is(err, mfa.ErrNotEnrolled):
		return failed(err, &refusal{class: classMFAInvalid, err: err, detail: ": no TOTP device is enrolled for this user"})
	case errors.Is(err, mfa.ErrUnreadable):
		rid := uuid.NewString()
		s.log.ErrorContext(ctx, "a TOTP enrolment does not open with the broker's key (the cookie key changed?): an administrator must reset it",
			slog.String("request_id", rid), slog.String("provider", id.Provider), slog.String("user", id.Username))
		return failed(err, &refusal{class: classMFAInvalid, err: err, rid: rid, detail: ": the TOTP enrolment cannot be used: ask an administrator to reset it"})
	default:
		return failed(err, s.mfaStoreRefused(ctx, err))
	}
}

// mfaStoreRefused is the refusal of a second-factor check whose store
// cannot answer (fail closed), logged under a request id.
func (s *Server) mfaStoreRefused(ctx context.Context, err error) *refusal {
	var r *refusal
	if errors.As(err, &r) {
		return r
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, providers.ErrUnavailable) {
		return s.sessionRefused(ctx, fmt.Errorf("%w: %w", errSessionStore, err))
	}
	rid := uuid.NewString()
	s.log.ErrorContext(ctx, "multi-factor check failed", slog.String("request_id", rid), slog.Any("err", err))
	return &refusal{class: classIssueInternal, err: err, rid: rid}
}

// signInMFA is the second factor of an API sign-in of id: the code sent
// is checked (and the MFA time returned), or, when none was sent and the
// sign-in needs one (signInNeedsMFA), MFARequired. Zero time: no MFA
// checked here.
func (s *Server) signInMFA(ctx context.Context, id providers.Identity, c mfaCodes, clientIP string) (time.Time, error) {
	if c.given() {
		return s.verifyMFA(ctx, id, c, clientIP)
	}
	need, err := s.signInNeedsMFA(ctx, id)
	switch {
	case err != nil:
		return time.Time{}, err
	case need:
		s.audit(ctx, "login.mfa_required", id, slog.String("client_ip", clientIP))
		return time.Time{}, s.mfaRequired(ctx, id, "this user has enrolled a TOTP device and must use it to sign in", "")
	}
	return time.Time{}, nil
}

// stepUp records on se the MFA the broker just checked at at (a step-up
// or a sign-in's code) and saves it. Errors are *refusal.
func (s *Server) stepUp(ctx context.Context, se *session, at time.Time) error {
	if at.IsZero() {
		return nil
	}
	se.MFAAt = at
	if err := s.updateSession(ctx, se); err != nil {
		return s.sessionRefused(ctx, err)
	}
	return nil
}

// checkMFAPolicy refuses a provider MFA policy that is not one, or one
// that asks for MFA of a broker without the MFA service.
func checkMFAPolicy(p Provider, haveService bool) error {
	if !ValidMFAPolicy(p.MFA) {
		return fmt.Errorf("broker: provider %q: mfa %q must be off, optional or required", p.Name, p.MFA)
	}
	if p.MFA != "" && p.MFA != MFAOff && !haveService {
		return fmt.Errorf("broker: provider %q: mfa %s needs the MFA service (Config.MFA)", p.Name, p.MFA)
	}
	return nil
}
