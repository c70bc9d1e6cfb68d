package broker

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// The browser's session: every sign-in (the password form, the OIDC
// callback, the SAML ACS) creates a session carried by a cookie and sends
// the browser to the portal (portal.go), from which credentials are
// issued as often as the user asks while the session lives. POST /logout
// ends it. The cookie holds the session token only; it is HttpOnly,
// SameSite=Lax, host-only with Path=/, and on https Secure with the
// __Host- prefix (which makes the browser insist on all three).

const (
	sessionCookieSecure = "__Host-idb_session"
	// sessionCookiePlain is the name on a plain-http public URL (allowed on
	// loopback only, for demos), where a __Host- cookie cannot be set.
	sessionCookiePlain = "idb_session"
)

func (s *Server) sessionCookieName() string {
	if s.secure {
		return sessionCookieSecure
	}
	return sessionCookiePlain
}

// setSessionCookie gives the browser the session token until the session
// expires.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	maxAge := int(expires.Sub(s.now()) / time.Second)
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookieName(), Value: token, Path: "/", MaxAge: max(maxAge, 1),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.sessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// cookieSession returns the live session of the browser's cookie. Errors
// are *refusal (classInvalidSession, classSessionUnavailable), audited.
func (s *Server) cookieSession(r *http.Request) (*session, error) {
	c, err := r.Cookie(s.sessionCookieName())
	if err != nil {
		return nil, &refusal{class: classInvalidSession, err: errors.New("no session cookie")}
	}
	se, err := s.sessionFromToken(r.Context(), c.Value, carrierCookie)
	if err != nil {
		s.audit(r.Context(), "session.refused", providers.Identity{}, slog.String("client_ip", clientIP(r)), slog.String("carrier", carrierCookie), slog.Any("reason", err))
		return nil, err
	}
	return se, nil
}

// signedIn continues every browser sign-in: the browser's previous session
// (if any) ends, a new one starts, and the browser goes to the portal,
// or back to the CLI's request it signed in for (afterSignIn, oauth2.go)
// (303: a reload there never posts the sign-in again).
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, id providers.Identity, method string) {
	ctx := r.Context()
	if old, err := s.cookieSession(r); err == nil {
		if err := s.endSession(ctx, old, "replaced by a new sign-in in the same browser"); err != nil {
			s.refusePage(w, r, s.sessionRefused(ctx, err))
			return
		}
	}
	se, token, err := s.startSession(ctx, id, method, carrierCookie)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	s.setSessionCookie(w, token, se.Expires)
	if s.stepUpFirst(w, r, se) {
		return // the second factor first (mfaportal.go), then afterSignIn
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.afterSignIn(w, r), http.StatusSeeOther)
}

// serveLogout is POST /logout (CSRF-checked): the browser's session ends on
// every replica and its cookie is cleared, so that a copy of the cookie
// does nothing. Credentials already shown live until they expire.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Reload the page and sign out again.", errors.New("csrf token mismatch"))
		return
	}
	se, err := s.cookieSession(r)
	switch {
	case refusedAs(err, classSessionUnavailable):
		// The session could not be found, so it could not be ended: say
		// so and keep the cookie for another try.
		s.refusePage(w, r, err)
		return
	case err == nil:
		if err := s.endSession(r.Context(), se, "signed out"); err != nil {
			s.refusePage(w, r, s.sessionRefused(r.Context(), err))
			return
		}
	}
	s.clearSessionCookie(w)
	s.render(w, http.StatusOK, "signedout.html", map[string]any{"Title": "You are signed out"})
}
