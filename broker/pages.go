package broker

import (
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// The browser's pages: rendering, the plain error page, the CSRF token of
// every form and the bounded form body.

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

const (
	csrfCookie = "idb_csrf"
	// maxFormBody bounds a form body (the sign-in form, the chooser, the
	// token exchange).
	maxFormBody = 64 << 10
)

// render writes the page name with data, never cached, under a content
// security policy that allows no script and posts only to the broker.
func (s *Server) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render page", "page", name, "err", err)
	}
}

// fail logs a refused browser request at WARN under a new request id and
// shows the plain error page quoting it; the private reason goes to the
// log only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg, hint string, reason error) {
	rid := uuid.NewString()
	s.log.WarnContext(r.Context(), "browser request refused", "request_id", rid, "path", r.URL.Path, "status", status, "reason", reason)
	s.renderError(w, status, msg, hint, rid)
}

// renderError shows the plain error page: what happened, what to do (hint,
// may be empty) and the request id the log carries. It logs nothing: the
// caller has logged the reason under rid.
func (s *Server) renderError(w http.ResponseWriter, status int, msg, hint, rid string) {
	s.render(w, status, "error.html", map[string]any{"Title": "Sign-in failed", "Message": msg, "Hint": hint, "RequestID": rid})
}

// csrf returns the browser's CSRF cookie value, setting a new one if absent,
// and the token forms must carry.
func (s *Server) csrf(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 22 && len(c.Value) <= 64 {
		v = c.Value
	} else {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		v = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	}
	return s.sealer.csrfToken(v)
}

func (s *Server) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil {
		return false
	}
	return s.sealer.checkCSRF(c.Value, r.PostFormValue("csrf_token"))
}

// parseForm reads a bounded urlencoded form body.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return errors.New("form must be application/x-www-form-urlencoded")
	}
	return r.ParseForm()
}
