package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
)

// A broker session is what a successful upstream login leaves behind: who
// signed in (the identity as the upstream read it), until when, and how the
// session is carried. Every login creates one through startSession (the
// browser form, the SAML ACS, the OIDC callback, the JSON APIs, the STS
// action, the token exchange); every issuance goes through one
// (issueFromSession, recheck.go), so that credentials name their session
// and a revocation by session, user or group reaches them.
//
// The record is sealed with the broker's cookie key before it reaches the
// store (which never sees the identity or the upstream's refresh state in
// clear) and bound to its id. A carrier holds the session token
// "<id>.<secret>": programs send it as a bearer token, browsers keep it in
// a cookie; the record holds only the secret's SHA-256. A login that
// answers once (a password or ID token sent with the credentials request,
// the STS action, the token exchange) has a session without a carrier:
// nobody can present it again, but its credentials name it; a person's
// one-shot logins of one period share it (oneshot.go).

const (
	// sessionIDBytes and sessionSecretBytes are the random parts of a
	// session token (128 and 256 bits).
	sessionIDBytes     = 16
	sessionSecretBytes = 32
	// sessionRecordGrace is how long the store keeps a session's record
	// after the session expires: the longest credential it issued may live
	// that long, and a revocation by user or group must still find the
	// session to reach it.
	sessionRecordGrace = awsspec.MaxSessionDuration
	// sessionStoreTimeout bounds each store call of a session.
	sessionStoreTimeout = 2 * time.Second
	// maxSealedSession bounds a sealed record read back from the store.
	maxSealedSession = store.MaxDataLen
	// maxGroupIndexKeys is how many of a session's groups get an index key
	// of their own; a session with more (or with a group whose key would be
	// too long) is listed under groupOverflowIndex instead, to be filtered.
	maxGroupIndexKeys = store.MaxIndexKeys - 3
)

// How a session is carried.
const (
	carrierBearer = "bearer" // Authorization: Bearer (programs)
	carrierCookie = "cookie" // the session cookie (browsers)
	carrierNone   = "none"   // nobody: the login answered once
)

// session is a broker session as it is sealed into the store.
type session struct {
	ID string `json:"id"`
	// Identity is the identity as the upstream last read it (at the login
	// or the last re-check); Upstream is its Identity.Upstream (kept here
	// because Identity leaves it out of JSON).
	Identity providers.Identity `json:"identity"`
	Upstream []byte             `json:"upstream,omitempty"`
	// Method is how the login was made: password, id_token, saml, oidc.
	Method    string    `json:"method"`
	Carrier   string    `json:"carrier"`
	TokenHash []byte    `json:"token_hash,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	// Checked is when the upstream last vouched for the identity (the
	// login, then each re-check).
	Checked time.Time `json:"checked"`
	// Roles are the role ARNs the rules granted at the last mapping that
	// was saved (the login, each re-check), so that a role they no longer
	// grant is refused by name.
	Roles []string `json:"roles,omitempty"`
	// MFAAt is when the person last passed the broker's own second factor
	// in this session (a TOTP or recovery code at sign-in or as a step-up,
	// mfa.go); zero: never. Issuing adds it to the identity (withMFA).
	MFAAt     time.Time `json:"mfa_at,omitzero"`
	Ended     time.Time `json:"ended,omitzero"`
	EndReason string    `json:"end_reason,omitempty"`
	// Pending are credentials issued to the browser that wait for their one
	// read (credentials.go). Secrets: never put a session in an answer.
	Pending []pendingCredentials `json:"pending,omitempty"`
}

// live reports whether the session may still issue.
func (se *session) live(now time.Time) bool {
	return se.Ended.IsZero() && now.Before(se.Expires)
}

// identity is the session's identity with its upstream state.
func (se *session) identity() providers.Identity {
	id := se.Identity
	id.Upstream = se.Upstream
	return id
}

// setIdentity records id as the session's identity.
func (se *session) setIdentity(id providers.Identity) {
	se.Upstream = id.Upstream
	id.Upstream = nil
	se.Identity = id
}

// recordExpires is when the store forgets the record.
func (se *session) recordExpires() time.Time { return se.Expires.Add(sessionRecordGrace) }

func sessionPurpose(id string) string { return "idb_session/v1\x00" + id }

// endedKey is the store key that marks a session ended (see endSession).
func endedKey(id string) string { return "session-ended:" + id }

// Index keys of the store's session listing.

// userIndex lists the sessions of one user of one provider, the username
// folded with casefold.Unicode (directories compare names without case: a
// revocation of "Alice" must reach the sessions of "alice"). A key that
// would be too long or hold a NUL names the username by its SHA-256.
func userIndex(provider, username string) string {
	return indexKey("user:", provider, casefold.Unicode(username))
}

// groupIndex lists the sessions whose identity had group (folded with
// casefold.Unicode, as the rules compare names) at its last mapping.
func groupIndex(provider, group string) string {
	return indexKey("group:", provider, casefold.Unicode(group))
}

// providerIndex lists the sessions of one provider.
func providerIndex(provider string) string { return "provider:" + provider }

// groupOverflowIndex lists the sessions of provider whose groups did not
// all get an index key: a listing by group filters these as well.
func groupOverflowIndex(provider string) string { return "groups-overflow:" + provider }

func indexKey(kind, provider, value string) string {
	k := kind + provider + "/" + value
	if len(k) <= store.MaxIndexKeyLen && !strings.ContainsRune(k, 0) {
		return k
	}
	sum := sha256.Sum256([]byte(value))
	return kind + provider + "/#" + hex.EncodeToString(sum[:])
}

// indexKeys are the keys se is listed under.
func (se *session) indexKeys() []string {
	p := se.Identity.Provider
	keys := []string{providerIndex(p), userIndex(p, se.Identity.Username)}
	overflow := len(se.Identity.Groups) > maxGroupIndexKeys
	for i, g := range se.Identity.Groups {
		k := groupIndex(p, g)
		if i >= maxGroupIndexKeys || strings.HasPrefix(k, "group:"+p+"/#") {
			overflow = true
			continue
		}
		keys = append(keys, k)
	}
	if overflow {
		keys = append(keys, groupOverflowIndex(p))
	}
	return keys
}

// Session tokens: "<id>.<secret>", both unpadded base64url.

var (
	sessionIDLen     = base64.RawURLEncoding.EncodedLen(sessionIDBytes)
	sessionSecretLen = base64.RawURLEncoding.EncodedLen(sessionSecretBytes)
)

func randomB64(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// parseSessionToken splits a token into its id and secret; ok is false
// for anything that is not one (checked before the store is asked).
func parseSessionToken(tok string) (id, secret string, ok bool) {
	id, secret, found := strings.Cut(tok, ".")
	if !found || len(id) != sessionIDLen || len(secret) != sessionSecretLen {
		return "", "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(id); err != nil {
		return "", "", false
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(secret); err != nil {
		return "", "", false
	}
	return id, secret, true
}

func secretHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Errors of the session's store operations (wrapped into refusals by the
// surfaces).
var (
	errNoSession    = errors.New("no such session: unknown, expired or ended")
	errSessionStore = errors.New("the session store cannot be used")
)

// sessionRefused classifies a session error; a store that cannot be used
// is logged at WARN under a request id.
func (s *Server) sessionRefused(ctx context.Context, err error) *refusal {
	var r *refusal
	if errors.As(err, &r) {
		return r
	}
	if errors.Is(err, errSessionStore) {
		rid := uuid.NewString()
		s.log.WarnContext(ctx, "session store unavailable: refused", slog.String("request_id", rid), slog.Any("err", err))
		return &refusal{class: classSessionUnavailable, err: err, rid: rid}
	}
	return &refusal{class: classInvalidSession, err: err}
}

// startSession creates the session of a login that just succeeded:
// method is how the login was made, carrier how the session will be carried.
// It returns the session and, for a bearer or cookie carrier, its token (a
// secret: never logged). The session lasts Sessions.Duration, never past
// the upstream login's own expiry. A failure is a *refusal (the store
// cannot be written: fail closed, nothing is issued).
func (s *Server) startSession(ctx context.Context, id providers.Identity, method, carrier string) (*session, string, error) {
	return s.startSessionUntil(ctx, id, method, carrier, time.Time{})
}

// startSessionUntil is startSession for a session that must end by
// notAfter as well (zero: no such bound): the CLI's session made from a
// browser's session ends with it (oauth2token.go).
func (s *Server) startSessionUntil(ctx context.Context, id providers.Identity, method, carrier string, notAfter time.Time) (*session, string, error) {
	sid, err := randomB64(sessionIDBytes)
	if err != nil {
		return nil, "", &refusal{class: classIssueInternal, err: fmt.Errorf("session id: %w", err)}
	}
	return s.newSession(ctx, sid, id, method, carrier, notAfter)
}

// newSession creates the session sid for id (see startSessionUntil).
func (s *Server) newSession(ctx context.Context, sid string, id providers.Identity, method, carrier string, notAfter time.Time) (*session, string, error) {
	now := s.now()
	se := &session{ID: sid, Method: method, Carrier: carrier, Created: now, Checked: now, Expires: now.Add(s.sessions.Duration)}
	if !id.Expiry.IsZero() && id.Expiry.Before(se.Expires) {
		se.Expires = id.Expiry
	}
	if !notAfter.IsZero() && notAfter.Before(se.Expires) {
		se.Expires = notAfter
	}
	se.setIdentity(id)
	se.Roles = grantARNs(s.cfg.Mapper.Map(id).Grants)
	token := ""
	if carrier != carrierNone {
		secret, err := randomB64(sessionSecretBytes)
		if err != nil {
			return nil, "", &refusal{class: classIssueInternal, err: fmt.Errorf("session secret: %w", err)}
		}
		se.TokenHash = secretHash(secret)
		token = sid + "." + secret
	}
	if !se.Expires.After(now) {
		return nil, "", &refusal{class: classSessionTooShort, err: errors.New("the upstream login has expired already")}
	}
	if err := s.saveSession(ctx, se); err != nil {
		return nil, "", s.sessionRefused(ctx, err)
	}
	s.audit(ctx, "session.created", id, slog.String("session_id", sid), slog.String("method", method),
		slog.String("carrier", carrier), slog.Time("expires", se.Expires))
	return se, token, nil
}

// saveSession seals se and puts it into the store.
func (s *Server) saveSession(ctx context.Context, se *session) error {
	se.dropStalePending(s.now())
	sealed, err := s.sealer.seal(sessionPurpose(se.ID), se, se.recordExpires().Sub(s.now()))
	if err != nil {
		return fmt.Errorf("%w: seal: %w", errSessionStore, err)
	}
	if len(sealed) > store.MaxDataLen {
		return fmt.Errorf("%w: the sealed session is %d bytes, more than the store takes (%d): too many groups or attributes", errSessionStore, len(sealed), store.MaxDataLen)
	}
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	err = s.cfg.Store.PutSession(ctx, store.SessionRecord{ID: se.ID, Data: []byte(sealed), Index: se.indexKeys(), Expires: se.recordExpires()})
	if err != nil {
		return fmt.Errorf("%w: %w", errSessionStore, err)
	}
	return nil
}

// loadSession reads the session id from the store, live or not.
func (s *Server) loadSession(ctx context.Context, id string) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	rec, err := s.cfg.Store.GetSession(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNoSession
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errSessionStore, err)
	}
	return s.openSession(rec)
}

// openSession unseals a record; a record that does not open (another key,
// another id) is no session.
func (s *Server) openSession(rec store.SessionRecord) (*session, error) {
	var se session
	if err := s.sealer.openMax(sessionPurpose(rec.ID), string(rec.Data), maxSealedSession, &se); err != nil || se.ID != rec.ID {
		return nil, fmt.Errorf("%w: the record does not open", errNoSession)
	}
	return &se, nil
}

// sessionFromToken returns the live session a token names, after checking
// its secret in constant time, when it came in the carrier the session was
// made for (a browser's cookie value is no bearer token, and the other way
// round). Every failure is a *refusal: classInvalidSession for a
// malformed, unknown, wrong, ended or expired token or another carrier,
// classSessionUnavailable when the store cannot say (fail closed).
func (s *Server) sessionFromToken(ctx context.Context, tok, carrier string) (*session, error) {
	id, secret, ok := parseSessionToken(tok)
	if !ok {
		return nil, &refusal{class: classInvalidSession, err: errors.New("not a session token")}
	}
	se, err := s.loadSession(ctx, id)
	if err != nil {
		return nil, s.sessionRefused(ctx, err)
	}
	if len(se.TokenHash) == 0 || subtle.ConstantTimeCompare(se.TokenHash, secretHash(secret)) != 1 {
		return nil, &refusal{class: classInvalidSession, err: errors.New("the session token's secret does not match")}
	}
	if se.Carrier != carrier {
		return nil, &refusal{class: classInvalidSession, err: fmt.Errorf("a %s session's token presented as a %s", se.Carrier, carrier)}
	}
	if !se.live(s.now()) {
		return nil, &refusal{class: classInvalidSession, err: fmt.Errorf("the session has ended (%s) or expired", se.EndReason)}
	}
	return se, nil
}

// endSession ends se for reason, on every replica: first a marker in the
// store that no later write of the record can undo (see updateSession),
// then the record itself, kept until it expires so that revocations still
// find it. Ending an ended session changes nothing.
func (s *Server) endSession(ctx context.Context, se *session, reason string) error {
	if !se.Ended.IsZero() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	ttl := se.recordExpires().Sub(s.now())
	if err := s.cfg.Store.SetTTL(ctx, endedKey(se.ID), 1, max(ttl, time.Second)); err != nil {
		return fmt.Errorf("%w: %w", errSessionStore, err)
	}
	se.Ended, se.EndReason = s.now(), reason
	se.Pending = nil
	if err := s.saveSession(ctx, se); err != nil {
		return err
	}
	s.audit(ctx, "session.ended", se.Identity, slog.String("session_id", se.ID), slog.String("reason", reason))
	return nil
}

// updateSession saves a live session changed by a re-check. A session
// ended meanwhile (its marker is set: logout or revocation on any replica
// raced this write) is ended again, so the write cannot bring it back; the
// answer is then errNoSession.
func (s *Server) updateSession(ctx context.Context, se *session) error {
	if err := s.saveSession(ctx, se); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sessionStoreTimeout)
	defer cancel()
	ended, err := s.cfg.Store.Get(ctx, endedKey(se.ID))
	if err != nil {
		return fmt.Errorf("%w: %w", errSessionStore, err)
	}
	if ended == 0 {
		return nil
	}
	se.Ended, se.EndReason = s.now(), "ended on another request"
	se.Pending = nil
	if err := s.saveSession(ctx, se); err != nil {
		return err
	}
	return errNoSession
}
