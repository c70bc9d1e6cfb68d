package broker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// A login that answers once (a password or ID token sent with the
// credentials request, the STS action AssumeRoleWithLDAPIdentity, the
// token exchange) leaves a session nobody can present again: it exists so
// that the credentials it issues name a session that a revocation by
// session, user or group reaches. A program that signs in on every call (a
// credential_process around curl) would leave one such record per call,
// each kept for the session's length plus the longest credential's, so the
// store would grow with the login rate. Instead, a person's one-shot logins
// within one period of sessions.duration share one session, whose id is
// derived from the person and the period with a key of the broker's: the
// store keeps one record per person and period, whatever the rate. A
// revocation of it reaches every credential those logins issued; once it
// has ended (revoked, account gone), later logins of the period get a
// session of their own.

// oneShotID is the id of the gen-th one-shot session of (provider,
// subject) in period: an HMAC, so nobody without the broker's keys can name
// it, and as long as a random session id.
func (se *sealer) oneShotID(provider, subject string, period int64, gen int) string {
	m := hmac.New(sha256.New, se.oneShot)
	var n [8]byte
	for _, f := range []string{provider, subject} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	binary.BigEndian.PutUint64(n[:], uint64(period))
	m.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(gen))
	m.Write(n[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:sessionIDBytes])
}

// maxOneShotGenerations bounds how many one-shot sessions of one person
// and period may have ended (each a revocation or a gone account) before
// further one-shot logins of the period get random sessions.
const maxOneShotGenerations = 8

// startOneShotSession returns the session of a one-shot login of id made by
// method: the person's live one-shot session of the current period, brought
// up to date with this login (its identity, roles and check time), or a new
// one — the next generation of the period when the earlier ones have ended.
// A failure is a *refusal, as for startSession.
func (s *Server) startOneShotSession(ctx context.Context, id providers.Identity, method string) (*session, error) {
	now := s.now()
	secs := max(int64(s.sessions.Duration/time.Second), 1)
	period := now.Unix() / secs
	for gen := range maxOneShotGenerations {
		sid := s.sealer.oneShotID(id.Provider, id.Subject, period, gen)
		se, err := s.loadSession(ctx, sid)
		switch {
		case errors.Is(err, errNoSession):
			se, _, err := s.newSession(ctx, sid, id, method, carrierNone, time.Unix((period+1)*secs, 0))
			return se, err
		case err != nil:
			return nil, s.sessionRefused(ctx, err)
		case se.Carrier != carrierNone || se.Identity.Provider != id.Provider || se.Identity.Subject != id.Subject:
			// Someone else's, by an HMAC collision that will not happen.
			continue
		case !se.live(now):
			// Ended (a revocation, a gone account): the next generation.
			continue
		}
		se.setIdentity(id)
		se.Method, se.Checked = method, now
		se.Roles = grantARNs(s.cfg.Mapper.Map(id).Grants)
		if !id.Expiry.IsZero() && id.Expiry.Before(se.Expires) {
			se.Expires = id.Expiry
		}
		switch err := s.updateSession(ctx, se); {
		case errors.Is(err, errNoSession):
			continue // ended by a revocation that raced this login
		case err != nil:
			return nil, s.sessionRefused(ctx, err)
		}
		s.audit(ctx, "session.reused", id, slog.String("session_id", se.ID), slog.String("method", method))
		return se, nil
	}
	se, _, err := s.startSession(ctx, id, method, carrierNone)
	return se, err
}
