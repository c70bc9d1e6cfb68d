package broker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// The CLI's grants at POST /oauth2/token (serveToken dispatches): the
// authorization code of the loopback flow (here) and the device code
// (device.go). Both answer with a new bearer session of the sessions API,
// made from the identity of the browser session that allowed it (re-checked
// at the upstream when due) and ending with it; the two sessions are
// separate (ending one leaves the other).

// Grant types of the CLI.
const (
	GrantTypeAuthorizationCode = "authorization_code"
	GrantTypeDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// cliTokenResponse is the RFC 6749 §5.1 answer: the access token is a
// session token, to be sent as Authorization: Bearer to the sessions API.
type cliTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
}

func (s *Server) writeCLIToken(w http.ResponseWriter, se *session, token string) {
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, cliTokenResponse{
		AccessToken: token, TokenType: "Bearer",
		ExpiresIn: int64(se.Expires.Sub(s.now()).Round(time.Second) / time.Second),
	})
}

// cliSession starts the CLI's bearer session from the live browser session
// browserID: its identity, re-checked at the upstream when due (a person
// gone upstream ends the browser session and is refused), ending when the
// browser session ends. Errors are *refusal.
func (s *Server) cliSession(ctx context.Context, browserID string) (*session, string, *session, error) {
	b, err := s.loadSession(ctx, browserID)
	if err != nil {
		return nil, "", nil, s.sessionRefused(ctx, err)
	}
	if b.Carrier != carrierCookie || !b.live(s.now()) {
		return nil, "", nil, &refusal{class: classInvalidSession, err: fmt.Errorf("the browser session that allowed the request has ended (%s) or expired", b.EndReason)}
	}
	id, _, err := s.recheck(ctx, b)
	if err != nil {
		return nil, "", nil, err
	}
	// The browser's second factor goes with the identity (mfa.go).
	id = withMFA(id, b.MFAAt)
	se, token, err := s.startSessionUntil(ctx, id, b.Method, carrierBearer, b.Expires)
	if err != nil {
		return nil, "", nil, err
	}
	return se, token, b, nil
}

// redeemAuthorizationCode is the authorization_code grant (RFC 6749
// §4.1.3 with RFC 7636 §4.5): the code of the loopback flow, its redirect
// URI and the PKCE verifier, for the one client. Everything is checked
// before the code is claimed, so a wrong attempt does not use it up; a
// code claimed already ends the session its first use made.
func (s *Server) redeemAuthorizationCode(w http.ResponseWriter, r *http.Request, form url.Values) {
	ctx := r.Context()
	client, e, ok := clientOf(r, form)
	if !ok {
		writeTokenError(w, e)
		return
	}
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case code == "":
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "code is required"))
		return
	case redirectURI == "":
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "redirect_uri is required"))
		return
	case verifier == "":
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "code_verifier is required (PKCE)"))
		return
	case !validVerifier(verifier):
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"))
		return
	}
	refuse := func(id providers.Identity, reason, desc string) {
		s.audit(ctx, "oauth2.code_refused", id, slog.String("client_ip", clientIP(r)), slog.String("reason", reason))
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_grant", desc))
	}
	const unknown = "the authorization code is invalid, expired or used: run the login command again"
	if len(code) != base64.RawURLEncoding.EncodedLen(authzCodeBytes) || !base64URLChars(code) {
		refuse(providers.Identity{}, "not an authorization code", unknown)
		return
	}
	h := sha256Hex(code)
	var rec authzCode
	if err := s.getGrant(ctx, authzCodeID(h), &rec); err != nil {
		if errors.Is(err, errNoOAuthRecord) {
			refuse(providers.Identity{}, "unknown or forgotten code", unknown)
			return
		}
		writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
		return
	}
	switch {
	case client != rec.ClientID:
		refuse(providers.Identity{}, "code of another client", unknown)
		return
	case redirectURI != rec.RedirectURI:
		refuse(providers.Identity{}, "redirect_uri differs from the authorization request's", "redirect_uri does not match the authorization request")
		return
	case !pkceMatches(verifier, rec.Challenge):
		refuse(providers.Identity{}, "code_verifier does not match the code_challenge", "code_verifier does not match the code_challenge")
		return
	case !s.now().Before(rec.Expires):
		refuse(providers.Identity{}, "code expired", unknown)
		return
	}
	fresh, err := s.claim(ctx, oauth2GrantPrefix+"code-used:"+h, rec.Expires.Add(authzCodeRecordTTL))
	if err != nil {
		writeTokenError(w, oauthRefusal(s.sessionRefused(ctx, err), false))
		return
	}
	if !fresh {
		s.codeReused(ctx, h)
		refuse(providers.Identity{}, "code used twice: the session of its first use is ended", unknown)
		return
	}
	se, token, b, err := s.cliSession(ctx, rec.Session)
	if err != nil {
		s.audit(ctx, "oauth2.code_refused", providers.Identity{}, slog.String("client_ip", clientIP(r)), slog.String("from_session", rec.Session), slog.Any("reason", err))
		writeTokenError(w, oauthRefusal(err, false))
		return
	}
	// Remember the session for a second use of the code, then look for one
	// that came first (codeReused marks before it reads).
	rec.Issued = se.ID
	if err := s.putGrant(ctx, authzCodeID(h), rec, rec.Expires.Add(authzCodeRecordTTL-authzCodeTTL)); err != nil {
		s.log.WarnContext(ctx, "oauth2: the session of a redeemed code could not be recorded; a second use of the code cannot end it", slog.String("session_id", se.ID), slog.Any("err", err))
	}
	if s.marked(ctx, oauth2GrantPrefix+"code-reused:"+h) {
		s.endReplayed(ctx, h, se)
		refuse(se.Identity, "code used twice: the session of its first use is ended", unknown)
		return
	}
	s.audit(ctx, "oauth2.code_redeemed", se.Identity, slog.String("session_id", se.ID), slog.String("from_session", b.ID),
		slog.String("client_ip", clientIP(r)), slog.String("client_id", CLIClientID), slog.Time("expires", se.Expires))
	s.writeCLIToken(w, se, token)
}

// codeReused handles the second use of the code whose hash is h (RFC 6749
// §4.1.2: revoke what it issued): it marks the code, then ends the session
// its first use recorded. A first use that records its session after this
// read finds the mark and ends the session itself.
func (s *Server) codeReused(ctx context.Context, h string) {
	sctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	err := s.cfg.Store.SetTTL(sctx, oauth2GrantPrefix+"code-reused:"+h, 1, authzCodeRecordTTL)
	cancel()
	if err != nil {
		s.log.WarnContext(ctx, "oauth2: a reused code could not be marked", slog.Any("err", err))
	}
	var rec authzCode
	if err := s.getGrant(ctx, authzCodeID(h), &rec); err != nil || rec.Issued == "" {
		return
	}
	se, err := s.loadSession(ctx, rec.Issued)
	if err != nil {
		if !errors.Is(err, errNoSession) {
			s.log.WarnContext(ctx, "oauth2: the session of a reused code could not be read", slog.String("session_id", rec.Issued), slog.Any("err", err))
		}
		return
	}
	s.endReplayed(ctx, h, se)
}

// endReplayed ends the session made from the code whose hash is h, used
// twice, and revokes what it issued: once, however many uses followed.
func (s *Server) endReplayed(ctx context.Context, h string, se *session) {
	const reason = "its authorization code was used twice"
	first, err := s.claim(ctx, oauth2GrantPrefix+"code-revoked:"+h, s.now().Add(authzCodeRecordTTL))
	if err == nil && !first {
		return
	}
	if err := s.endSession(ctx, se, reason); err != nil {
		s.log.ErrorContext(ctx, "oauth2: the session of a reused code could not be ended", slog.String("session_id", se.ID), slog.Any("err", err))
		return
	}
	s.revokeSessionCredentials(ctx, se, reason)
}

// marked reports whether the counter key is set; a store that cannot say
// counts as set (fail closed).
func (s *Server) marked(ctx context.Context, key string) bool {
	ctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	v, err := s.cfg.Store.Get(ctx, key)
	return err != nil || v > 0
}

// validVerifier: RFC 7636 §4.1, 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// pkceMatches compares BASE64URL(SHA256(verifier)) with the challenge in
// constant time (RFC 7636 §4.6).
func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}
