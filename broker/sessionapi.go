package broker

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// The sessions API for programs: a login makes a session whose token the
// program keeps and sends as Authorization: Bearer (never in a cookie: no
// cookie is read on these routes, and the cookie of a browser is never
// taken for the bearer token).
//
//	POST   /api/v1/sessions          {"provider","username","password"} | {"provider","id_token"},
//	                                 + "totp_code" or "recovery_code" when MFA is asked (mfa.go)    -> 201
//	GET    /api/v1/sessions/current  the session                                                   -> 200
//	DELETE /api/v1/sessions/current  end it, on every replica                                      -> 204
//	POST   /api/v1/credentials       with the bearer token (api.go)

// sessionRequest is the body of POST /api/v1/sessions.
type sessionRequest struct {
	Provider string `json:"provider"`
	Username string `json:"username"`
	Password string `json:"password"`
	IDToken  string `json:"id_token"`
	mfaCodes
}

// sessionCreated answers POST /api/v1/sessions. SessionToken is a secret:
// the program keeps it and sends it back, nothing logs it.
type sessionCreated struct {
	SessionToken string   `json:"session_token"`
	SessionID    string   `json:"session_id"`
	ExpiresAt    string   `json:"expires_at"`
	Provider     string   `json:"provider"`
	User         string   `json:"user"`
	Roles        []string `json:"roles"`
}

// sessionView answers GET /api/v1/sessions/current. Roles are the roles
// the rules in force grant the session's identity now.
type sessionView struct {
	SessionID     string   `json:"session_id"`
	Provider      string   `json:"provider"`
	User          string   `json:"user"`
	CreatedAt     string   `json:"created_at"`
	ExpiresAt     string   `json:"expires_at"`
	LastRecheckAt string   `json:"last_recheck_at"`
	Roles         []string `json:"roles"`
	// MFA says the session has multi-factor authentication (upstream or
	// the broker's TOTP), MFATime when it happened.
	MFA     bool   `json:"mfa"`
	MFATime string `json:"mfa_time,omitempty"`
	// MFARoles are the roles of Roles that need MFA in the session
	// (roles[].require_mfa): without it their credentials are refused with
	// MFARequired until a step-up.
	MFARoles []string `json:"mfa_roles"`
}

func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (s *Server) sessionRoutes(mux *http.ServeMux, cop *http.CrossOriginProtection) {
	mux.HandleFunc("POST /api/v1/sessions", s.serveCreateSession)
	mux.HandleFunc("GET /api/v1/sessions/current", s.serveCurrentSession)
	mux.HandleFunc("DELETE /api/v1/sessions/current", s.serveEndSession)
	// For programs, authenticated by a password, an ID token or the bearer
	// token; no cookie is consulted, so the cross-origin form check does
	// not apply (and a JSON body cannot be posted cross-site without CORS).
	cop.AddInsecureBypassPattern("POST /api/v1/sessions")
	cop.AddInsecureBypassPattern("DELETE /api/v1/sessions/current")
}

// serveCreateSession is POST /api/v1/sessions: the same login as the
// credentials API, answered with a session instead of keys.
func (s *Server) serveCreateSession(w http.ResponseWriter, r *http.Request) {
	if !requireJSON(w, r, true) {
		return
	}
	var req sessionRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := req.check(); err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	id, method, mfaAt, ok := s.apiLogin(w, r, req.Provider, req.Username, req.Password, req.IDToken, req.mfaCodes)
	if !ok {
		return
	}
	se, token, err := s.startSession(r.Context(), id, method, carrierBearer)
	if err == nil {
		err = s.stepUp(r.Context(), se, mfaAt)
	}
	if err != nil {
		writeAPIRefusal(w, err)
		return
	}
	roles := se.Roles
	if roles == nil {
		roles = []string{}
	}
	writeJSON(w, http.StatusCreated, sessionCreated{
		SessionToken: token, SessionID: se.ID, ExpiresAt: apiTime(se.Expires),
		Provider: id.Provider, User: id.Username, Roles: roles,
	})
}

func (s *Server) serveCurrentSession(w http.ResponseWriter, r *http.Request) {
	if !requireJSON(w, r, false) {
		return
	}
	se, ok := s.bearerSession(w, r)
	if !ok {
		return
	}
	grants := s.cfg.Mapper.Map(se.identity()).Grants
	view := sessionView{
		SessionID: se.ID, Provider: se.Identity.Provider, User: se.Identity.Username,
		CreatedAt: apiTime(se.Created), ExpiresAt: apiTime(se.Expires), LastRecheckAt: apiTime(se.Checked),
		Roles: grantARNs(grants), MFARoles: []string{},
	}
	for _, g := range grants {
		if g.RequireMFA {
			view.MFARoles = append(view.MFARoles, g.RoleARN)
		}
	}
	if id := withMFA(se.identity(), se.MFAAt); id.MFA {
		view.MFA = true
		if !id.MFATime.IsZero() {
			view.MFATime = apiTime(id.MFATime)
		}
	}
	writeJSON(w, http.StatusOK, view)
}

// serveEndSession is DELETE /api/v1/sessions/current: the session ends on
// every replica (its token is refused from now on); credentials it issued
// live until they expire (an administrator's revocation ends those).
func (s *Server) serveEndSession(w http.ResponseWriter, r *http.Request) {
	if !requireJSON(w, r, false) {
		return
	}
	se, ok := s.bearerSession(w, r)
	if !ok {
		return
	}
	if err := s.endSession(r.Context(), se, "ended by its holder (DELETE /api/v1/sessions/current)"); err != nil {
		writeAPIRefusal(w, s.sessionRefused(r.Context(), err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// hasAuthorization reports whether the request carries an Authorization
// header (of any scheme).
func hasAuthorization(r *http.Request) bool { return len(r.Header.Values("Authorization")) > 0 }

// bearerToken is the token of the request's one Authorization: Bearer
// header (RFC 6750 §2.1; the scheme is case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// bearerSession returns the live session of the request's bearer token, or
// answers 401 InvalidSession (503 when the store cannot say) itself.
func (s *Server) bearerSession(w http.ResponseWriter, r *http.Request) (*session, bool) {
	var (
		se  *session
		err error
	)
	if tok, ok := bearerToken(r); ok {
		se, err = s.sessionFromToken(r.Context(), tok, carrierBearer)
	} else {
		err = &refusal{class: classInvalidSession, err: errors.New("no Authorization: Bearer session token")}
	}
	if err != nil {
		s.audit(r.Context(), "session.refused", providers.Identity{}, slog.String("client_ip", clientIP(r)), slog.String("carrier", carrierBearer), slog.Any("reason", err))
		writeAPIRefusal(w, err)
		return nil, false
	}
	return se, true
}
