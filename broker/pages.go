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

// The browser's pages: rendering under one layout, stylesheet and script
// (assets.go), the error page, the CSRF token of every form and the bounded
// form body.

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("pages").Funcs(pageFuncs).ParseFS(templateFS, "templates/*.html"))

const (
	csrfCookie = "idb_csrf"
	// maxFormBody bounds a form body (the sign-in form, the portal, the
	// token exchange).
	maxFormBody = 64 << 10
)

// pageCSP is every page's content security policy: script and style from
// the broker's own /assets only (no inline script or style), images from
// the broker or data: URLs, forms posting to the broker only, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// site is what the layout needs on every page, under the data key "Site".
type site struct {
	Title   string
	LogoURL string
	HelpURL string
	Banner  []string
	CSSURL  string
	JSURL   string
	IconURL string
}

func (s *Server) site() site {
	return site{
		Title: s.portal.title(), LogoURL: s.assets.urls["logo"], HelpURL: s.portal.HelpURL,
		Banner: s.portal.bannerParagraphs(),
		CSSURL: s.assets.urls["portal.css"], JSURL: s.assets.urls["portal.js"], IconURL: s.assets.urls["favicon.svg"],
	}
}

// render writes the page name with data under the layout, never cached,
// under pageCSP (a page whose form is answered with a redirect elsewhere
// widens its form-action as the header is written). It adds the key
// "Site" (the layout's branding and asset URLs) to data; the other keys are
// the page's. Pages of a signed-in person pass "User" (the name shown in
// the header) and "CSRF" (for the sign-out button).
func (s *Server) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Site"] = s.site()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("render page", "page", name, "err", err)
	}
}

// fail logs a refused browser request at WARN under a new request id and
// shows the error page quoting it; the private reason goes to the log only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg, hint string, reason error) {
	rid := uuid.NewString()
	s.log.WarnContext(r.Context(), "browser request refused", "request_id", rid, "path", r.URL.Path, "status", status, "reason", reason)
	s.renderError(w, status, msg, hint, rid)
}

// renderError shows the error page: what happened (msg), what to do (hint,
// may be empty), a way on, and the request id the log carries. It logs
// nothing: the caller has logged the reason under rid.
func (s *Server) renderError(w http.ResponseWriter, status int, msg, hint, rid string) {
	s.render(w, status, "error.html", map[string]any{"Title": msg, "Message": msg, "Hint": hint, "RequestID": rid})
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
