package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// GET /oauth2/authorize: the authorization-code grant with PKCE for the
// CLI's loopback redirect (RFC 6749 §4.1, RFC 7636, RFC 8252). A browser
// without a session signs in first and comes back (oauth2.go); with one it
// sees a confirmation page, whose Allow (POST, CSRF, single use) mints an
// authorization code for the redirect and whose Deny answers
// access_denied. A request whose client or redirect cannot be trusted is
// answered with an error page, never a redirect.

const (
	// authzCodeTTL is how long an authorization code may be redeemed.
	authzCodeTTL = 60 * time.Second
	// authzCodeRecordTTL is how long its record stays, so that a second
	// use is recognised (and ends the session of the first).
	authzCodeRecordTTL = 10 * time.Minute
	// consentTTL bounds how long a confirmation page may be answered.
	consentTTL     = 10 * time.Minute
	consentPurpose = "idb_oauth2_consent/v1"
	maxState       = 512
	// s256ChallengeLen is the length of BASE64URL(SHA256(verifier)).
	s256ChallengeLen = 43
	authzCodeBytes   = 32
)

// authzRequest is a validated authorization request.
type authzRequest struct {
	RedirectURI string `json:"r"`
	Challenge   string `json:"x"`
	State       string `json:"s"`
	Provider    string `json:"p,omitempty"`
}

// query is the request as a query string again (to come back to it after
// a sign-in).
func (a authzRequest) query() string {
	v := url.Values{
		"response_type": {"code"}, "client_id": {CLIClientID}, "redirect_uri": {a.RedirectURI},
		"code_challenge": {a.Challenge}, "code_challenge_method": {"S256"}, "state": {a.State},
	}
	if a.Provider != "" {
		v.Set("provider", a.Provider)
	}
	return v.Encode()
}

// consent is the sealed value of the confirmation page's form: the
// request, for the session it was shown to, answered once (ID).
type consent struct {
	ID      string       `json:"i"`
	Session string       `json:"s"`
	Req     authzRequest `json:"r"`
}

// authzCode is the store's record of an authorization code (under the
// code's SHA-256): what it is bound to, and the CLI session its
// redemption made.
type authzCode struct {
	ClientID    string    `json:"c"`
	RedirectURI string    `json:"r"`
	Challenge   string    `json:"x"`
	Session     string    `json:"s"`
	Expires     time.Time `json:"e"`
	Issued      string    `json:"i,omitempty"`
}

func authzCodeID(codeHash string) string { return oauth2GrantPrefix + "code:" + codeHash }

// authzError is a refused authorization request: to the client through
// its redirect (redirect set), or to the person on an error page.
type authzError struct {
	redirect bool
	code     string
	desc     string
}

// parseAuthorize validates an authorization request.
func (s *Server) parseAuthorize(q url.Values) (authzRequest, *authzError) {
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(q[k]) > 1 {
			return authzRequest{}, &authzError{desc: k + " is repeated"}
		}
	}
	if id := q.Get("client_id"); id != CLIClientID {
		return authzRequest{}, &authzError{code: "invalid_client", desc: fmt.Sprintf("unknown client_id %.64q", id)}
	}
	a := authzRequest{RedirectURI: q.Get("redirect_uri")}
	if _, err := checkLoopbackRedirect(a.RedirectURI); err != nil {
		return authzRequest{}, &authzError{code: "invalid_request", desc: err.Error()}
	}
	bad := func(code, desc string) (authzRequest, *authzError) {
		return a, &authzError{redirect: true, code: code, desc: desc}
	}
	for _, k := range []string{"response_type", "code_challenge", "code_challenge_method", "state", "provider"} {
		if len(q[k]) > 1 {
			return bad("invalid_request", k+" is repeated")
		}
	}
	state := q.Get("state")
	if state == "" || len(state) > maxState || !vschar(state) {
		return bad("invalid_request", fmt.Sprintf("state is required: up to %d printable ASCII characters", maxState))
	}
	a.State = state
	switch rt := q.Get("response_type"); rt {
	case "code":
	case "":
		return bad("invalid_request", "response_type is required")
	default:
		return bad("unsupported_response_type", "only response_type=code is supported")
	}
	switch m := q.Get("code_challenge_method"); m {
	case "S256":
	case "":
		return bad("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
	default:
		return bad("invalid_request", "code_challenge_method must be S256 (plain is refused)")
	}
	a.Challenge = q.Get("code_challenge")
	if len(a.Challenge) != s256ChallengeLen || !base64URLChars(a.Challenge) {
		return bad("invalid_request", "code_challenge must be the 43-character BASE64URL(SHA256(code_verifier))")
	}
	if p := q.Get("provider"); p != "" {
		if _, ok := s.providers[p]; !ok {
			return bad("invalid_request", "no provider of that name is configured")
		}
		a.Provider = p
	}
	return a, nil
}

// vschar reports whether v is printable ASCII (RFC 6749 Appendix A: VSCHAR).
func vschar(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

func base64URLChars(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// redirectWith sends the browser back to the CLI's loopback listener with
// params (RFC 6749 §4.1.2); the redirect URI has no query of its own.
func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values) {
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirectURI+"?"+params.Encode(), http.StatusSeeOther)
}

func (s *Server) refuseAuthorize(w http.ResponseWriter, r *http.Request, a authzRequest, e *authzError) {
	s.audit(r.Context(), "oauth2.authorize_refused", providers.Identity{}, slog.String("client_ip", clientIP(r)), slog.String("error", e.code), slog.String("reason", e.desc))
	if !e.redirect {
		s.fail(w, r, http.StatusBadRequest, "This sign-in request from the command line cannot be used.",
			"Run the login command again. If it keeps failing, tell your administrator.", errors.New(e.desc))
		return
	}
	p := url.Values{"error": {e.code}, "error_description": {e.desc}}
	if a.State != "" {
		p.Set("state", a.State)
	}
	redirectWith(w, r, a.RedirectURI, p)
}

// serveOAuthAuthorize is GET /oauth2/authorize.
func (s *Server) serveOAuthAuthorize(w http.ResponseWriter, r *http.Request) {
	a, e := s.parseAuthorize(r.URL.Query())
	if e != nil {
		s.refuseAuthorize(w, r, a, e)
		return
	}
	se, err := s.cookieSession(r)
	switch {
	case refusedAs(err, classSessionUnavailable):
		s.refusePage(w, r, err)
		return
	case err != nil:
		s.signInFirst(w, r, resumeNote{Kind: "authorize", Query: a.query()}, a.Provider)
		return
	}
	s.clearResume(w, r)
	cid, err := randomB64(16)
	var sealed string
	if err == nil {
		sealed, err = s.sealer.seal(consentPurpose, consent{ID: cid, Session: se.ID, Req: a}, consentTTL)
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong.", "", err)
		return
	}
	port, _ := checkLoopbackRedirect(a.RedirectURI)
	via := se.Identity.Provider
	if p, ok := s.providers[via]; ok {
		via = displayName(p)
	}
	s.renderFormsTo(w, http.StatusOK, "authorize.html", map[string]any{
		"Title": "Allow the command line?", "Username": se.Identity.Username, "User": personName(se), "Provider": via, "Port": port,
		"Time": s.now().UTC().Format("2 Jan 2006 15:04:05 MST"), "CSRF": s.csrf(w, r), "Consent": sealed,
	}, loopbackOrigin(a.RedirectURI))
}

// loopbackOrigin is the origin of a checked loopback redirect URI.
func loopbackOrigin(redirectURI string) string {
	hostport, _, _ := strings.Cut(strings.TrimPrefix(redirectURI, "http://"), "/")
	return "http://" + hostport
}

// serveOAuthDecision is POST /oauth2/authorize: Allow or Deny on the
// confirmation page.
func (s *Server) serveOAuthDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read.", "", err)
		return
	}
	if !s.checkCSRF(r) {
		s.fail(w, r, http.StatusForbidden, "The form has expired.", "Run the login command again.", errors.New("csrf token mismatch"))
		return
	}
	se, err := s.cookieSession(r)
	if err != nil {
		s.refusePage(w, r, err)
		return
	}
	var c consent
	if err := s.sealer.open(consentPurpose, r.PostFormValue("consent"), &c); err != nil || c.Session != se.ID {
		s.fail(w, r, http.StatusBadRequest, "This request has expired.", "Run the login command again.", errors.New("consent missing, expired or of another session"))
		return
	}
	allow := false
	switch r.PostFormValue("decision") {
	case "allow":
		allow = true
	case "deny":
	default:
		s.fail(w, r, http.StatusBadRequest, "Choose Allow or Deny.", "", errors.New("no decision"))
		return
	}
	fresh, err := s.claim(ctx, oauth2GrantPrefix+"consent:"+c.ID, s.now().Add(consentTTL+time.Minute))
	if err != nil {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	if !fresh {
		s.fail(w, r, http.StatusConflict, "This request was answered already.", "Run the login command again if you need to.", errors.New("consent already used"))
		return
	}
	port, _ := checkLoopbackRedirect(c.Req.RedirectURI)
	if !allow {
		s.audit(ctx, "oauth2.authorize_denied", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)), slog.String("redirect_port", port))
		redirectWith(w, r, c.Req.RedirectURI, url.Values{"error": {"access_denied"}, "error_description": {"the person denied the request"}, "state": {c.Req.State}})
		return
	}
	code, err := randomB64(authzCodeBytes)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong.", "", err)
		return
	}
	now := s.now()
	rec := authzCode{ClientID: CLIClientID, RedirectURI: c.Req.RedirectURI, Challenge: c.Req.Challenge, Session: se.ID, Expires: now.Add(authzCodeTTL)}
	if err := s.putGrant(ctx, authzCodeID(sha256Hex(code)), rec, now.Add(authzCodeRecordTTL)); err != nil {
		s.refusePage(w, r, s.sessionRefused(ctx, err))
		return
	}
	s.audit(ctx, "oauth2.code_issued", se.Identity, slog.String("session_id", se.ID), slog.String("client_ip", clientIP(r)),
		slog.String("client_id", CLIClientID), slog.String("redirect_port", port))
	redirectWith(w, r, c.Req.RedirectURI, url.Values{"code": {code}, "state": {c.Req.State}})
}

// renderFormsTo renders a page whose forms are answered with a redirect to
// origin (the CLI's loopback listener): CSP form-action also governs the
// redirects that follow a form post, so the page's policy allows that
// origin besides the broker's own.
func (s *Server) renderFormsTo(w http.ResponseWriter, status int, name string, data map[string]any, origin string) {
	s.render(&formActionWriter{ResponseWriter: w, origin: origin}, status, name, data)
}

// formActionWriter adds origin to the form-action directive of the
// Content-Security-Policy that render sets, as the header is written.
type formActionWriter struct {
	http.ResponseWriter
	origin string
}

func (f *formActionWriter) WriteHeader(status int) {
	h := f.ResponseWriter.Header()
	h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"), "form-action 'self'", "form-action 'self' "+f.origin, 1))
	f.ResponseWriter.WriteHeader(status)
}
