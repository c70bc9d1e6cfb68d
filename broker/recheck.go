package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
)

// Issuing from a session: before a session issues, the broker asks the
// upstream again whether the person still is who the session says (at most
// every Sessions.RecheckInterval, for providers that can:
// providers.Refresher), then maps the identity with the rules in force now
// and issues through the one seam (issue.go).

// recheckTimeout bounds one re-check at the upstream.
const recheckTimeout = 10 * time.Second

// SessionRevoker revokes, on every replica, the credentials minted from
// sessions before now (internal/revocation's set, wired by cmd/idbroker).
type SessionRevoker interface {
	// RevokeSessions refuses from now on every credential minted from one
	// of the sessions (and chained from such a credential) before now;
	// reason is recorded with the revocation.
	RevokeSessions(ctx context.Context, sessionIDs []string, reason string) error
}

// issueFromSession re-checks se when it is due, maps its identity with the
// rules in force and issues what opts asks for, naming se in the
// credentials. A role the session had and the rules no longer grant is
// refused by name (classGrantLost). Errors are *refusal.
func (s *Server) issueFromSession(ctx context.Context, se *session, opts issueOptions) ([]*issued, error) {
	before := se.Roles
	id, dec, err := s.recheck(ctx, se)
	if err != nil {
		return nil, err
	}
	if lost := lostGrants(before, dec, opts.Roles); len(lost) > 0 {
		why := fmt.Errorf("%w: %s", errGrantLost, strings.Join(lost, ", "))
		s.auditRefused(ctx, id, dec, why, slog.String("session_id", se.ID), slog.Any("lost", lost))
		return nil, &refusal{class: classGrantLost, err: why, role: lost[0]}
	}
	opts.SessionID = se.ID
	return s.issue(ctx, id, dec, opts)
}

var errGrantLost = errors.New("role no longer granted by the rules in force")

// lostGrants are the roles asked for (or, when none is named, every role)
// that the session was granted at its last saved mapping and dec no longer
// grants.
func lostGrants(before []string, dec mapping.Decision, wanted []string) []string {
	granted := func(w string) bool { _, ok := findGrant(dec.Grants, w); return ok }
	had := func(w string) bool {
		return slices.ContainsFunc(before, func(arn string) bool {
			return arn == w || (!strings.HasPrefix(w, "arn:") && awsspec.RoleNameFromARN(arn) == w)
		})
	}
	var lost []string
	if len(wanted) == 0 {
		if len(dec.Grants) > 0 && dec.Outcome != "deny" {
			return nil
		}
		return before
	}
	for _, w := range wanted {
		if !granted(w) && had(w) {
			lost = append(lost, w)
		}
	}
	return lost
}

// recheck asks the upstream about se when RecheckInterval has passed since
// it last vouched and the provider can be asked (providers.Refresher), and
// returns the identity to issue for with its mapping under the rules in
// force. A person gone or disabled upstream ends the session (audited) and
// revokes what it issued (revokeSessionCredentials): classAccountGone. An
// upstream that cannot be asked refuses this issuance and keeps the
// session: classProviderUnavailable. A refreshed identity is saved with its
// mapping's roles.
func (s *Server) recheck(ctx context.Context, se *session) (providers.Identity, mapping.Decision, error) {
	id := se.identity()
	now := s.now()
	p, ok := s.providers[id.Provider]
	if !ok {
		// The provider left the configuration: nobody can vouch for the
		// session now (it is not ended: a reload may bring the provider back).
		return providers.Identity{}, mapping.Decision{}, &refusal{class: classInvalidSession, err: fmt.Errorf("provider %q is no longer configured", id.Provider)}
	}
	rf, ok := p.Impl.(providers.Refresher)
	if !ok || now.Sub(se.Checked) < s.sessions.RecheckInterval {
		return id, s.cfg.Mapper.Map(id), nil
	}
	rctx, cancel := context.WithTimeout(ctx, recheckTimeout)
	fresh, err := rf.Refresh(rctx, id)
	cancel()
	switch {
	case errors.Is(err, providers.ErrAccountGone):
		return s.sessionGone(ctx, se, err)
	case err != nil:
		rid := uuid.NewString()
		s.log.WarnContext(ctx, "session re-check failed: the provider cannot be asked; issuing refused", slog.String("request_id", rid),
			slog.String("provider", id.Provider), slog.String("session_id", se.ID), slog.Any("err", err))
		s.audit(ctx, "session.recheck_failed", id, slog.String("session_id", se.ID), slog.Any("reason", err))
		return providers.Identity{}, mapping.Decision{}, &refusal{class: classProviderUnavailable, err: err, rid: rid}
	case fresh.Provider != id.Provider || fresh.Subject != id.Subject:
		// A provider must answer for the same person; anything else is
		// not a re-check of this login.
		return s.sessionGone(ctx, se, fmt.Errorf("%w: the re-check named another person", providers.ErrAccountGone))
	}
	dec := s.cfg.Mapper.Map(fresh)
	se.setIdentity(fresh)
	se.Checked = now
	se.Roles = grantARNs(dec.Grants)
	if err := s.updateSession(ctx, se); err != nil {
		return providers.Identity{}, mapping.Decision{}, s.sessionRefused(ctx, err)
	}
	s.audit(ctx, "session.rechecked", fresh, slog.String("session_id", se.ID), slog.Int("groups", len(fresh.Groups)))
	return fresh, dec, nil
}

// sessionGone ends se because its person is gone upstream, revokes what it
// issued, and returns the refusal.
func (s *Server) sessionGone(ctx context.Context, se *session, why error) (providers.Identity, mapping.Decision, error) {
	if err := s.endSession(ctx, se, "account gone: "+why.Error()); err != nil {
		// Not ended: still refuse (fail closed); the next use tries again.
		return providers.Identity{}, mapping.Decision{}, s.sessionRefused(ctx, err)
	}
	s.revokeSessionCredentials(ctx, se, "account gone")
	return providers.Identity{}, mapping.Decision{}, &refusal{class: classAccountGone, err: why}
}

// revokeSessionCredentials is where the ending of a session reaches the
// credentials it issued: with a Config.Revoker they are refused from now on
// by every replica's STS. Without one, the session issues nothing more but
// its credentials live until they expire. A failure is logged at ERROR
// (the session has ended either way).
func (s *Server) revokeSessionCredentials(ctx context.Context, se *session, reason string) {
	if s.cfg.Revoker == nil {
		return
	}
	if err := s.cfg.Revoker.RevokeSessions(ctx, []string{se.ID}, reason); err != nil {
		s.log.ErrorContext(ctx, "the credentials of an ended session could not be revoked", slog.String("session_id", se.ID), slog.Any("err", err))
		return
	}
	s.audit(ctx, "session.revoked", se.Identity, slog.String("session_id", se.ID), slog.String("reason", reason))
}
