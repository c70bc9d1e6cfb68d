package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/sts"
)

// STSMFA is the broker's sts.MFAVerifier: the SerialNumber and TokenCode
// of an AssumeRole call are checked against the TOTP enrolment of the
// person whose broker session the calling credentials come from.
//
// The serial must be arn:<partition>:iam::<account>:mfa/<username>, naming
// that person (the username compared as the broker's user index compares
// it); the credentials must come from the broker's own identity providers
// at the STS (only their session ids are broker sessions), and the session
// must not have ended. The code is a TOTP code of the enrolment, checked as
// a step-up is (Server.verifyMFA): used up on every replica, its failures
// counted toward the lock-out of the person's second factor, every check
// audited (mfa.verified, mfa.failed; never the code).
//
// The STS is built before the broker, so an STSMFA is made first (for
// sts.Config.MFA) and given its broker with Attach; until then, and with a
// broker without the MFA service (Config.MFA), it refuses every code.
type STSMFA struct {
	partition, account string
	providers          []string
	srv                atomic.Pointer[Server]
}

// STSMFAConfig configures NewSTSMFA.
type STSMFAConfig struct {
	// Partition and Account are the STS's: the serial's ARN names them.
	Partition, Account string
	// SessionProviders are the provider ARNs of the broker's own OIDC
	// issuer and SAML IdP at the STS, whose credentials carry broker
	// session ids.
	SessionProviders []string
}

// NewSTSMFA returns the verifier; Attach gives it its broker. An empty
// partition is "aws".
func NewSTSMFA(cfg STSMFAConfig) *STSMFA {
	if cfg.Partition == "" {
		cfg.Partition = awsspec.DefaultPartition
	}
	return &STSMFA{partition: cfg.Partition, account: cfg.Account, providers: slices.Clone(cfg.SessionProviders)}
}

// Attach makes s the broker whose sessions, enrolments and lock-out the
// verifier uses.
func (m *STSMFA) Attach(s *Server) { m.srv.Store(s) }

var _ sts.MFAVerifier = (*STSMFA)(nil)

// errMFANotYours refuses a serial that does not name the caller's person.
var errMFANotYours = errors.New("SerialNumber is not the MFA device of the calling credentials' person")

// VerifyTokenCode implements sts.MFAVerifier. Errors mean AccessDenied;
// an outage of the store wraps sts.ErrMFAUnavailable.
func (m *STSMFA) VerifyTokenCode(ctx context.Context, caller *sts.Session, serial, code string) (time.Time, error) {
	s := m.srv.Load()
	if s == nil {
		return time.Time{}, errors.New("the broker is not serving yet")
	}
	if caller == nil || caller.SessionID == "" || !slices.Contains(m.providers, caller.Provider) {
		return time.Time{}, errors.New("the calling credentials do not come from a broker session")
	}
	se, err := s.loadSession(ctx, caller.SessionID)
	switch {
	case errors.Is(err, errSessionStore):
		return time.Time{}, fmt.Errorf("%w: %w", sts.ErrMFAUnavailable, err)
	case err != nil:
		return time.Time{}, fmt.Errorf("the calling credentials' broker session: %w", err)
	case !se.Ended.IsZero():
		return time.Time{}, fmt.Errorf("the calling credentials' broker session has ended (%s)", se.EndReason)
	}
	id := se.Identity
	clientIP := sts.MFASourceIP(ctx)
	if name, ok := m.serialUser(serial); !ok || casefold.Unicode(name) != casefold.Unicode(id.Username) {
		s.audit(ctx, "mfa.failed", id, slog.String("client_ip", clientIP), slog.String("factor", "totp"),
			slog.String("via", "sts:AssumeRole"), slog.String("reason", errMFANotYours.Error()))
		return time.Time{}, errMFANotYours
	}
	// The code is a TOTP code (the STS checked its six digits), checked
	// like a step-up: under the second factor's lock-out, used up on every
	// replica, audited (mfa.go).
	at, err := s.verifyMFA(ctx, id, mfaCodes{TOTP: code}, clientIP)
	if err != nil {
		if r, ok := errors.AsType[*refusal](err); ok && r.class == classSessionUnavailable {
			return time.Time{}, fmt.Errorf("%w: %w", sts.ErrMFAUnavailable, err)
		}
		return time.Time{}, err
	}
	return at, nil
}

// serialUser is the username of an MFA device ARN of this STS's partition
// and account (arn:<p>:iam::<acct>:mfa/<username>).
func (m *STSMFA) serialUser(serial string) (string, bool) {
	if m.account == "" {
		return "", false
	}
	name, ok := strings.CutPrefix(serial, "arn:"+m.partition+":iam::"+m.account+":mfa/")
	return name, ok && name != ""
}
