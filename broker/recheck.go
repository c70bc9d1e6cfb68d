package broker

import (
	"bytes"
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
	id = withMFA(id, se.MFAAt)
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
	release, err := s.holdRecheck(ctx, se)
	if err != nil {
		return providers.Identity{}, mapping.Decision{}, err
	}
	defer release()
	id = se.identity()
	if now.Sub(se.Checked) < s.sessions.RecheckInterval {
		// Another request re-checked it while this one waited.
		return id, s.cfg.Mapper.Map(id), nil
	}
	rctx, cancel := context.WithTimeout(ctx, recheckTimeout)
	fresh, err := rf.Refresh(rctx, id)
	cancel()
	switch {
	case err != nil && (errors.Is(err, providers.ErrConfiguration) || !errors.Is(err, providers.ErrAccountGone)):
		// Refuse this issuance, keep the session. A provider that used up
		// the login's upstream state before failing (an OIDC refresh token
		// redeemed and rotated, then userinfo down) hands back the new
		// one: keep it, or the next re-check would present a dead token.
		if len(fresh.Upstream) > 0 && !bytes.Equal(fresh.Upstream, se.Upstream) {
			se.Upstream = fresh.Upstream
			if uerr := s.updateSession(ctx, se); uerr != nil {
				s.log.ErrorContext(ctx, "session re-check failed and the rotated upstream state could not be saved: the next re-check may end the session",
					slog.String("session_id", se.ID), slog.Any("err", uerr))
			}
		}
		class, level, what := classProviderUnavailable, slog.LevelWarn, "the provider cannot be asked"
		if errors.Is(err, providers.ErrConfiguration) {
			class, level, what = classProviderMisconfigured, slog.LevelError, "the provider is misconfigured"
		}
		rid := uuid.NewString()
		s.log.Log(ctx, level, "session re-check failed: "+what+"; issuing refused", slog.String("request_id", rid),
			slog.String("provider", id.Provider), slog.String("session_id", se.ID), slog.Any("err", err))
		s.audit(ctx, "session.recheck_failed", id, slog.String("session_id", se.ID), slog.Any("reason", err))
		return providers.Identity{}, mapping.Decision{}, &refusal{class: class, err: err, rid: rid}
	case err != nil:
		return s.sessionGone(ctx, se, err)
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

// recheckHold bounds how long one request holds a session's re-check:
// the upstream's answer and the store writes after it.
const recheckHold = recheckTimeout + 2*sessionStoreTimeout

// recheckPoll is how often a request waiting for another's re-check of the
// same session looks again.
const recheckPoll = 50 * time.Millisecond

func recheckKey(id string) string { return "session-recheck:" + id }

// holdRecheck serialises the re-checks of se across requests and replicas:
// it claims the session's re-check in the store (waiting, up to
// recheckHold, while another request holds it), then reads se again in
// place, so that the re-check starts from the latest upstream state — a
// rotating upstream (OIDC refresh tokens) would take the token another
// request already redeemed for a stolen one and end the login — and is
// skipped when another request has just done it. release ends the hold. A
// session that ended meanwhile, or a store that cannot answer, is refused.
func (s *Server) holdRecheck(ctx context.Context, se *session) (release func(), err error) {
	key := recheckKey(se.ID)
	deadline := time.Now().Add(recheckHold)
	for {
		cctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
		fresh, err := s.cfg.Store.Claim(cctx, key, s.now().Add(recheckHold))
		cancel()
		if err != nil {
			return nil, s.sessionRefused(ctx, fmt.Errorf("%w: %w", errSessionStore, err))
		}
		if fresh {
			break
		}
		if time.Now().After(deadline) {
			return nil, &refusal{class: classProviderUnavailable, err: errors.New("another request's re-check of this session is still under way")}
		}
		select {
		case <-ctx.Done():
			return nil, &refusal{class: classProviderUnavailable, err: ctx.Err()}
		case <-time.After(recheckPoll):
		}
	}
	release = func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sessionStoreTimeout)
		defer cancel()
		if err := s.cfg.Store.Delete(dctx, key); err != nil {
			s.log.WarnContext(ctx, "a session's re-check hold could not be released; it lapses by itself", slog.String("session_id", se.ID), slog.Any("err", err))
		}
	}
	latest, err := s.loadSession(ctx, se.ID)
	if err == nil && !latest.live(s.now()) {
		err = errNoSession
	}
	if err != nil {
		release()
		return nil, s.sessionRefused(ctx, err)
	}
	*se = *latest
	return release, nil
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
	var err error
	switch {
	case s.cfg.Revoker != nil:
		err = s.cfg.Revoker.RevokeSessions(ctx, []string{se.ID}, reason)
	case s.cfg.Revocations != nil:
		err = s.revokeSessionByBroker(ctx, se.ID, reason)
	default:
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "the credentials of an ended session could not be revoked", slog.String("session_id", se.ID), slog.Any("err", err))
		return
	}
	s.audit(ctx, "session.revoked", se.Identity, slog.String("session_id", se.ID), slog.String("reason", reason))
}
