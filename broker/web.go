package broker

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

const (
	csrfCookie    = "idb_csrf"
	pendingCookie = "idb_pending"
	pendingTTL    = 10 * time.Minute
	maxFormBody   = 64 << 10
)

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

func (s *Server) serveSignIn(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signin.html", map[string]any{"Title": "Sign in", "Providers": s.cfg.Providers})
}

func (s *Server) serveLoginForm(w http.ResponseWriter, r *http.Request) {
	p, ok := s.providers[r.PathValue("provider")]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "There is no such sign-in method.", "", errors.New("unknown provider"))
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
		s.fail(w, r, http.StatusNotFound, "This sign-in method is not available here.", "", errors.New("provider has no password login"))
		return
	}
	s.render(w, http.StatusOK, "login.html", map[string]any{"Title": "Sign in with " + displayName(p), "Provider": p.Name, "CSRF": s.csrf(w, r)})
}

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
		s.fail(w, r, http.StatusNotFound, "There is no such sign-in method.", "", errors.New("unknown provider"))
		return
	}
	pa, ok := p.Impl.(providers.PasswordAuthenticator)
	if !ok {
		s.fail(w, r, http.StatusNotFound, "This sign-in method is not available here.", "", errors.New("provider has no password login"))
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
		kind, rid := s.loginFailed(ctx, p, err)
		switch kind {
		case failMisconfigured, failInternal:
			// Not the user's fault: a plain page, no form to retry with.
			msg := "This sign-in method is misconfigured."
			if kind == failInternal {
				msg = "Something went wrong."
			}
			s.renderError(w, http.StatusInternalServerError, msg, "Your password was not the problem. Try again later, or tell your administrator.", rid)
			return
		}
		msg, status := "Invalid username or password.", http.StatusUnauthorized
		if kind == failUnavailable {
			msg, status = "The identity provider cannot be reached right now. Try again later.", http.StatusServiceUnavailable
		}
		s.render(w, status, "login.html", map[string]any{"Title": "Sign in with " + displayName(p), "Provider": p.Name, "CSRF": s.csrf(w, r), "Error": msg, "Username": username})
		return
	}
	s.continueLogin(w, r, id)
}

// loginFailure is the kind of a refused password login, which decides the
// answer: the user's fault (401/403), an outage (503) or the broker's
// (500).
type loginFailure int

const (
	// failInvalid: unknown user, wrong or empty password, locked account.
	failInvalid loginFailure = iota
	// failUnavailable: the provider (or the login-protection store) cannot
	// be reached or did not answer in time.
	failUnavailable
	// failMisconfigured: the provider is misconfigured (providers.ErrConfiguration:
	// a user search matching several entries, a referral, a refused service bind).
	failMisconfigured
	// failInternal: an error wrapping none of the providers' sentinels.
	failInternal
)

// loginFailed classifies a refused password login and logs what the
// operator must act on: a misconfiguration or an unexpected error at ERROR,
// an outage at WARN (the refusal itself is audited by passwordLogin). It
// returns the kind and a request id that the answer quotes and the log
// carries. The error chains logged never hold a password: providers do not
// put one in an error.
func (s *Server) loginFailed(ctx context.Context, p Provider, err error) (loginFailure, string) {
	rid := uuid.NewString()
	switch {
	case errors.Is(err, providers.ErrInvalidCredentials):
		return failInvalid, rid
	case errors.Is(err, providers.ErrConfiguration):
		s.log.ErrorContext(ctx, "password login failed: the provider is misconfigured",
			slog.String("request_id", rid), slog.String("provider", p.Name), slog.Any("err", err))
		return failMisconfigured, rid
	case errors.Is(err, providers.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		s.log.WarnContext(ctx, "password login failed: the provider is unavailable",
			slog.String("request_id", rid), slog.String("provider", p.Name), slog.Any("err", err))
		return failUnavailable, rid
	default:
		s.log.ErrorContext(ctx, "password login failed: unexpected error",
			slog.String("request_id", rid), slog.String("provider", p.Name), slog.Any("err", err))
		return failInternal, rid
	}
}

// continueLogin maps a freshly authenticated identity and either issues the
// single grant or shows the role chooser.
func (s *Server) continueLogin(w http.ResponseWriter, r *http.Request, id providers.Identity) {
	dec := s.cfg.Mapper.Map(id)
	grants, err := s.pickAudited(r.Context(), id, dec, nil)
	switch {
	case errors.Is(err, errChoiceRequired):
		sealed, err := s.sealer.seal(pendingPurpose, newPendingChoice(id, dec.Grants), pendingTTL)
		if err == nil && len(sealed) > maxPendingCookie {
			err = fmt.Errorf("the pending role choice is %d bytes sealed, more than a browser cookie holds (%d): too many or too large grants (session tags)", len(sealed), maxPendingCookie)
		}
		if err != nil {
			rid := uuid.NewString()
			s.log.ErrorContext(r.Context(), "role choice not offered", slog.String("request_id", rid), slog.String("provider", id.Provider), slog.String("user", id.Username), slog.Any("err", err))
			s.renderError(w, http.StatusInternalServerError, "Something went wrong.", "", rid)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: sealed, Path: "/roles", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(pendingTTL / time.Second)})
		http.Redirect(w, r, "/roles", http.StatusSeeOther)
	case err != nil:
		s.fail(w, r, http.StatusForbidden, "You signed in, but no role is granted to you.", "Ask your administrator for access.", err)
	default:
		s.issuePage(w, r, id, grants)
	}
}

// pendingChoice is what the browser carries (sealed, in the pending
// cookie) between the sign-in and the role chooser: who signed in, what
// issuing needs of the login, and the grants the mapping offered then. The
// groups and attributes are left out: a directory user can have thousands
// of groups, and a cookie holds about 4 KB. The grants are kept as rendered
// at sign-in (their session tags came from the left-out attributes), so the
// chooser needs no second mapping.
type pendingChoice struct {
	Provider string         `json:"p"`
	Subject  string         `json:"s,omitempty"`
	Username string         `json:"u"`
	MFA      bool           `json:"m,omitempty"`
	AuthTime int64          `json:"at,omitempty"` // Unix nanoseconds, 0 = unknown
	Expiry   int64          `json:"ex,omitempty"` // Unix nanoseconds, 0 = unbounded
	Grants   []pendingGrant `json:"g"`
}

// pendingGrant is a mapping.Grant with short JSON keys. It has Grant's
// fields, names, types and order (only the tags differ), so the two convert
// into each other: a field added to Grant breaks the build here until it is
// added (with a key) to the cookie too.
type pendingGrant struct {
	RoleARN           string            `json:"a"`
	RoleName          string            `json:"n,omitempty"`
	Rule              string            `json:"r,omitempty"`
	RuleIndex         int               `json:"ri"`
	SessionName       string            `json:"sn,omitempty"`
	SessionTags       map[string]string `json:"t,omitempty"`
	TransitiveTagKeys []string          `json:"tt,omitempty"`
	MaxDuration       time.Duration     `json:"md,omitempty"`
	RuleDuration      time.Duration     `json:"rd,omitempty"`
	RoleMaxDuration   time.Duration     `json:"rm,omitempty"`
	SourceIdentity    string            `json:"si,omitempty"`
}

const (
	// pendingPurpose binds the sealed choice; "/v2" refuses cookies sealed
	// by older versions, which held the whole identity.
	pendingPurpose = pendingCookie + "/v2"
	// maxPendingCookie keeps the cookie within what browsers store (4096
	// bytes for name, value and attributes).
	maxPendingCookie = 3800
)

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func newPendingChoice(id providers.Identity, grants []mapping.Grant) pendingChoice {
	pc := pendingChoice{Provider: id.Provider, Subject: id.Subject, Username: id.Username, MFA: id.MFA,
		AuthTime: unixNano(id.AuthTime), Expiry: unixNano(id.Expiry)}
	for _, g := range grants {
		pc.Grants = append(pc.Grants, pendingGrant(g))
	}
	return pc
}

// identity is the part of the login issuing uses (no groups, no attributes).
func (pc pendingChoice) identity() providers.Identity {
	return providers.Identity{Provider: pc.Provider, Subject: pc.Subject, Username: pc.Username, MFA: pc.MFA,
		AuthTime: fromUnixNano(pc.AuthTime), Expiry: fromUnixNano(pc.Expiry)}
}

// decision is the choice offered at sign-in.
func (pc pendingChoice) decision() mapping.Decision {
	dec := mapping.Decision{Outcome: "choose"}
	for _, g := range pc.Grants {
		dec.Grants = append(dec.Grants, mapping.Grant(g))
	}
	return dec
}

var errNoPendingChoice = errors.New("no pending role choice")

func (s *Server) pending(r *http.Request) (pendingChoice, error) {
	var pc pendingChoice
	c, err := r.Cookie(pendingCookie)
	if err != nil {
		return pc, fmt.Errorf("%w: %w", errNoPendingChoice, err)
	}
	if err := s.sealer.open(pendingPurpose, c.Value, &pc); err != nil {
		return pc, fmt.Errorf("%w: %w", errNoPendingChoice, err)
	}
	if _, ok := s.providers[pc.Provider]; !ok || len(pc.Grants) == 0 {
		return pc, fmt.Errorf("%w: sealed choice names no provider or no grant", errNoPendingChoice)
	}
	return pc, nil
}

func (s *Server) serveRolesForm(w http.ResponseWriter, r *http.Request) {
	pc, err := s.pending(r)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, "Your sign-in has expired.", "Sign in again.", err)
		return
	}
	s.render(w, http.StatusOK, "roles.html", map[string]any{"Title": "Choose a role", "Username": pc.Username, "Grants": pc.decision().Grants, "CSRF": s.csrf(w, r)})
}

func (s *Server) serveRolesPost(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Sign in again.", errors.New("csrf token mismatch"))
		return
	}
	pc, err := s.pending(r)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, "Your sign-in has expired.", "Sign in again.", err)
		return
	}
	id := pc.identity()
	chosen := r.PostForm["role"]
	if len(chosen) == 0 {
		s.fail(w, r, http.StatusBadRequest, "No role was chosen.", "Go back and tick at least one role.", errors.New("no role chosen"))
		return
	}
	// The rules' trace stayed at sign-in (grant.dropped there); the
	// chooser's decision holds only the roles it offered, which a refusal
	// lists.
	grants, err := s.pickAudited(r.Context(), id, pc.decision(), chosen)
	if err != nil {
		s.fail(w, r, http.StatusForbidden, "That role is not granted to you.", "", err)
		return
	}
	// The choice is used up: clear the pending login.
	http.SetCookie(w, &http.Cookie{Name: pendingCookie, Value: "", Path: "/roles", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	s.issuePage(w, r, id, grants)
}

type issuedView struct {
	RoleARN, AssumedRoleARN                    string
	AccessKeyID, SecretAccessKey, SessionToken string
	Expiration                                 string
	Duration                                   time.Duration
	DurationNote                               string
	Profile                                    string
}

// issuePage issues every grant and renders the credentials page. Secrets go
// in the response body only, never in a URL or a cookie.
func (s *Server) issuePage(w http.ResponseWriter, r *http.Request, id providers.Identity, grants []mapping.Grant) {
	var views []issuedView
	for _, g := range grants {
		is, err := s.issueBrowser(r.Context(), id, g)
		if err != nil {
			s.fail(w, r, http.StatusForbidden, "Credentials could not be issued for "+g.RoleARN+".", "", err)
			return
		}
		views = append(views, issuedView{
			RoleARN: is.RoleARN, AssumedRoleARN: is.AssumedRoleARN,
			AccessKeyID: is.Creds.AccessKeyID, SecretAccessKey: is.Creds.SecretAccessKey, SessionToken: is.Creds.SessionToken,
			Expiration: is.Creds.Expiration.UTC().Format(time.RFC3339), Duration: is.Duration, DurationNote: is.DurationNote,
			Profile: roleNameFromARN(is.RoleARN),
		})
	}
	s.render(w, http.StatusOK, "credentials.html", map[string]any{"Title": "Your credentials", "Username": id.Username, "Issued": views, "PublicURL": s.cfg.PublicURL})
}
