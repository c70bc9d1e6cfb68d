package broker

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/idbroker/idbroker/providers"
)

// The password login of the browser form, the JSON API and the STS action
// AssumeRoleWithLDAPIdentity: the sign-in pages and the one login sequence
// they share.

// serveSignIn is GET / for browsers: the portal for a browser signed in;
// with one provider, its sign-in straight away (unless a banner must be
// read before a redirect to an identity provider); else the list of
// providers.
func (s *Server) serveSignIn(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.sessionCookieName()); err == nil {
		if _, err := s.sessionFromToken(r.Context(), c.Value, carrierCookie); err == nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, "/portal", http.StatusSeeOther)
			return
		}
	}
	if len(s.cfg.Providers) == 1 {
		p := s.cfg.Providers[0]
		if _, form := p.Impl.(providers.PasswordAuthenticator); form || s.portal.Banner == "" {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, "/login/"+p.Name, http.StatusSeeOther)
			return
		}
	}
	s.render(w, http.StatusOK, "signin.html", map[string]any{"Title": "Sign in", "Providers": s.cfg.Providers})
}

func (s *Server) serveLoginForm(w http.ResponseWriter, r *http.Request) {
	p, ok := s.providers[r.PathValue("provider")]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "There is no such sign-in method.", hintSignInMethods, errors.New("unknown provider"))
		return
	}
	if cf, ok := p.Impl.(CodeFlowProvider); ok {
		s.startCodeFlow(w, r, p, cf)
		return
	}
	if sp, ok := p.Impl.(SAMLServiceProvider); ok {
		s.startSAMLLogin(w, r, p, sp)
		return
	}
	if _, ok := p.Impl.(providers.PasswordAuthenticator); !ok {
		s.fail(w, r, http.StatusNotFound, "This sign-in method is not available here.", hintSignInMethods, errors.New("provider has no password login"))
		return
	}
	s.renderLoginForm(w, r, http.StatusOK, p, "", "")
}

// renderLoginForm shows the password form of p, with a message and the
// username typed when the login was refused.
func (s *Server) renderLoginForm(w http.ResponseWriter, r *http.Request, status int, p Provider, msg, username string) {
	data := map[string]any{"Title": "Sign in with " + displayName(p), "Provider": p.Name, "CSRF": s.csrf(w, r), "Others": len(s.cfg.Providers) > 1}
	if msg != "" {
		data["Error"], data["Username"] = msg, username
	}
	s.render(w, status, "login.html", data)
}

// hintSignInMethods is the way on from a sign-in link that leads nowhere.
const hintSignInMethods = "Use one of the sign-in methods on the start page; a bookmark may be out of date."

func displayName(p Provider) string {
	if p.DisplayName != "" {
		return p.DisplayName
	}
	return p.Name
}

func (s *Server) serveLoginPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, ok := s.providers[r.PathValue("provider")]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "There is no such sign-in method.", hintSignInMethods, errors.New("unknown provider"))
		return
	}
	pa, ok := p.Impl.(providers.PasswordAuthenticator)
	if !ok {
		s.fail(w, r, http.StatusNotFound, "This sign-in method is not available here.", hintSignInMethods, errors.New("provider has no password login"))
		return
	}
	if r.URL.RawQuery != "" {
		// Credentials never belong in a URL (they end up in access logs).
		s.fail(w, r, http.StatusBadRequest, "The sign-in form was sent the wrong way.", "Use the form on the sign-in page.", errors.New("query string on login post"))
		return
	}
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The sign-in form could not be read.", "Use the form on the sign-in page.", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The sign-in form has expired.", "Reload the sign-in page and try again.", errors.New("csrf token mismatch"))
		return
	}
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	id, err := s.passwordLogin(ctx, p, pa, username, password, clientIP(r))
	if err != nil {
		s.refuseLogin(w, r, p, username, err)
		return
	}
	s.signedIn(w, r, id, methodPassword)
}

// passwordLogin authenticates a username and password at a provider for the
// browser form, the JSON API and the STS action alike, under the
// brute-force protection (lockout.go), and audits the outcome. A refusal is
// a *refusal classified for every surface's answer (refusal.go): one
// answer for an unknown user, a wrong or empty password and a locked
// account; an outage; a misconfigured provider; or an unexpected error.
func (s *Server) passwordLogin(ctx context.Context, p Provider, pa providers.PasswordAuthenticator, username, password, clientIP string) (providers.Identity, error) {
	return s.passwordLoginWith(ctx, p, pa, username, password, clientIP, nil)
}

// passwordLoginWith is passwordLogin with code, the check of a second factor
// sent with the password (nil: none), run once the password is right
// (authenticateWith): a refusal of the code's own (a *refusal) is returned
// as it is.
func (s *Server) passwordLoginWith(ctx context.Context, p Provider, pa providers.PasswordAuthenticator, username, password, clientIP string, code secondFactor) (providers.Identity, error) {
	id, err := authenticateWith(ctx, s.lockout, p.Name, pa, username, password, clientIP, code)
	if err != nil {
		s.audit(ctx, "login.refused", providers.Identity{Provider: p.Name, Username: username}, slog.String("client_ip", clientIP), slog.Any("reason", err))
		if r, ok := errors.AsType[*refusal](err); ok {
			return providers.Identity{}, r
		}
		return providers.Identity{}, s.loginRefused(ctx, p, err)
	}
	s.audit(ctx, "login", id, slog.String("client_ip", clientIP))
	return id, nil
}

// authenticate is the password login under the brute-force protection,
// without a second factor: authenticateWith (lockoutattempt.go).
func authenticate(ctx context.Context, l *lockout, provider string, pa providers.PasswordAuthenticator, username, password, clientIP string) (providers.Identity, error) {
	return authenticateWith(ctx, l, provider, pa, username, password, clientIP, nil)
}

// clientIP is the request's peer address (realClient has put a trusted
// proxy's client there).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
