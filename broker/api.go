package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
)

// maxAPIBody bounds JSON request bodies.
const maxAPIBody = 64 << 10

// credentialsRequest is the body of POST /api/v1/credentials.
type credentialsRequest struct {
	Provider        string   `json:"provider"`
	Username        string   `json:"username"`
	Password        string   `json:"password"`
	IDToken         string   `json:"id_token"`
	Role            string   `json:"role"`
	Roles           []string `json:"roles"`
	DurationSeconds int64    `json:"duration_seconds"`
	// A second factor (mfa.go): checked at a sign-in, or a step-up of the
	// bearer session.
	mfaCodes
}

// credentialsResponse is the credential_process shape plus the role ARNs
// and the session's length: DurationSeconds is what was issued, and
// DurationNote (absent when the request was met) says why it is shorter
// than asked (a rule's cap, the role's maximum, the upstream login's
// expiry) or longer (the AWS minimum).
type credentialsResponse struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
	RoleArn         string `json:"RoleArn"`
	AssumedRoleArn  string `json:"AssumedRoleArn"`
	DurationSeconds int    `json:"DurationSeconds"`
	DurationNote    string `json:"DurationNote,omitempty"`
}

// newCredentialsResponse is the JSON form of issued credentials.
func newCredentialsResponse(is *issued) credentialsResponse {
	return credentialsResponse{
		Version:         1,
		AccessKeyID:     is.Creds.AccessKeyID,
		SecretAccessKey: is.Creds.SecretAccessKey,
		SessionToken:    is.Creds.SessionToken,
		Expiration:      is.Creds.Expiration.UTC().Format(time.RFC3339),
		RoleArn:         is.Grant.RoleARN,
		AssumedRoleArn:  is.AssumedRole.Arn,
		DurationSeconds: int(is.Duration / time.Second),
		DurationNote:    is.DurationNote,
	}
}

type apiError struct {
	Error apiErrorBody `json:"error"`
}

type apiErrorBody struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Roles   []string `json:"roles,omitempty"`
	// RequestID ties a server-side failure to the broker's log.
	RequestID string `json:"request_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	// JSON for programs, never HTML: URLs keep their "&" (an otpauth URI
	// reads as the README shows it), not "\u0026".
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{Code: code, Message: msg}})
}

// serveAPICredentials is POST /api/v1/credentials. With Authorization:
// Bearer the session token names the user (no password; the session is
// re-checked when due and mapped with the rules in force); otherwise the
// body logs in with provider and username/password or id_token, which
// creates a session that answers once. The body may name the role
// ("role", "roles") and the length ("duration_seconds").
func (s *Server) serveAPICredentials(w http.ResponseWriter, r *http.Request) {
	if !requireJSON(w, r, true) {
		return
	}
	var req credentialsRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.DurationSeconds != 0 && !awsspec.ValidDurationSeconds(req.DurationSeconds) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("duration_seconds must be between %d and %d", awsspec.MinDurationSeconds, awsspec.MaxDurationSeconds))
		return
	}
	if err := req.check(); err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}
	if hasAuthorization(r) {
		if req.Provider != "" || req.Username != "" || req.Password != "" || req.IDToken != "" {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "a bearer request takes its user from the session: leave provider, username, password and id_token out")
			return
		}
		se, ok := s.bearerSession(w, r)
		if !ok {
			return
		}
		if req.given() {
			// A step-up: the session has MFA from now on.
			at, err := s.verifyMFA(r.Context(), withMFA(se.identity(), se.MFAAt), req.mfaCodes, clientIP(r))
			if err == nil {
				err = s.stepUp(r.Context(), se, at)
			}
			if err != nil {
				writeAPIRefusal(w, err)
				return
			}
		}
		s.respondCredentials(w, r, se, req)
		return
	}
	id, method, mfaAt, ok := s.apiLogin(w, r, req.Provider, req.Username, req.Password, req.IDToken, req.mfaCodes)
	if !ok {
		return
	}
	// A one-shot session is shared by the person's one-shot logins of a
	// period: this login's MFA goes with its identity, not the session.
	id = withMFA(id, mfaAt)
	se, err := s.startOneShotSession(r.Context(), id, method)
	if err != nil {
		writeAPIRefusal(w, err)
		return
	}
	s.respondCredentials(w, r, se, req)
}

// apiLogin signs a JSON request in at the named provider, with a username
// and password or an id_token, and its second factor (signInMFA: codes, or
// MFARequired when the sign-in needs one), and answers the refusal itself
// (ok false). method is how the login was made ("password" or "id_token");
// mfaAt when the broker checked a code (zero: none). A code sent with a
// password is checked inside the password login, so that an account-wide
// lock does not hold a person whose password and code are right
// (lockoutattempt.go).
func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request, provider, username, password, idToken string, codes mfaCodes) (id providers.Identity, method string, mfaAt time.Time, ok bool) {
	if provider == "" {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "provider is required")
		return providers.Identity{}, "", time.Time{}, false
	}
	p, ok := s.providers[provider]
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "UnknownProvider", "no provider of that name is configured")
		return providers.Identity{}, "", time.Time{}, false
	}
	ctx, ip := r.Context(), clientIP(r)
	var err error
	switch {
	case idToken != "":
		tp, ok := p.Impl.(TokenProvider)
		if !ok {
			writeAPIError(w, http.StatusBadRequest, "UnsupportedProvider", "this provider does not accept ID tokens")
			return providers.Identity{}, "", time.Time{}, false
		}
		if username != "" || password != "" {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "send either id_token or username and password")
			return providers.Identity{}, "", time.Time{}, false
		}
		method = methodIDToken
		id, err = s.tokenLogin(ctx, p, tp, idToken, ip)
		if err == nil {
			mfaAt, err = s.signInMFA(ctx, id, codes, ip)
		}
	default:
		pa, ok := p.Impl.(providers.PasswordAuthenticator)
		if !ok {
			writeAPIError(w, http.StatusBadRequest, "UnsupportedProvider", "this provider does not accept a username and password")
			return providers.Identity{}, "", time.Time{}, false
		}
		method = methodPassword
		if codes.given() {
			id, err = s.passwordLoginWith(ctx, p, pa, username, password, ip, func(ctx context.Context, id providers.Identity) error {
				var verr error
				mfaAt, verr = s.verifyMFA(ctx, id, codes, ip)
				return verr
			})
		} else if id, err = s.passwordLogin(ctx, p, pa, username, password, ip); err == nil {
			mfaAt, err = s.signInMFA(ctx, id, codes, ip)
		}
	}
	if err != nil {
		writeAPIRefusal(w, err)
		return providers.Identity{}, "", time.Time{}, false
	}
	return id, method, mfaAt, true
}

// How a session's login was made (session.Method).
const (
	methodPassword = "pwd" // RFC 8176's amr value
	methodIDToken  = "id_token"
	methodSAML     = "saml"
	methodOIDC     = "oidc"
)

// respondCredentials issues from se what the request names (role, roles).
// With "roles" the answer is a JSON list {"credentials":[…]}, one object
// per role in the order asked; "role" and "roles" together ask for their
// union, "role" first, each role once. A role of the list that is not
// granted refuses the whole request before anything is issued.
func (s *Server) respondCredentials(w http.ResponseWriter, r *http.Request, se *session, req credentialsRequest) {
	wanted := req.Roles
	if req.Role != "" {
		wanted = append([]string{req.Role}, wanted...)
	}
	out, err := s.issueFromSession(r.Context(), se, issueOptions{Roles: wanted, Duration: time.Duration(req.DurationSeconds) * time.Second})
	if err != nil {
		writeAPIRefusal(w, err)
		return
	}
	creds := make([]credentialsResponse, 0, len(out))
	for _, is := range out {
		creds = append(creds, newCredentialsResponse(is))
	}
	if len(req.Roles) > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"credentials": creds})
		return
	}
	writeJSON(w, http.StatusOK, creds[0])
}

// requireJSON answers 415 UnsupportedMediaType (false) unless the request's
// body is declared as JSON: Content-Type application/json, with no
// parameter but charset=utf-8. A request that needs no body (bodyRequired
// false) may come without one and without a Content-Type. Every JSON
// endpoint calls it first, so that no web page can post to it with a
// simple form or text/plain request, which browsers send cross-site
// without asking.
func requireJSON(w http.ResponseWriter, r *http.Request, bodyRequired bool) bool {
	ct := r.Header.Values("Content-Type")
	if len(ct) == 0 && !bodyRequired && r.ContentLength == 0 {
		return true
	}
	if len(ct) == 1 {
		mt, params, err := mime.ParseMediaType(ct[0])
		cs, hasCS := params["charset"]
		if err == nil && mt == "application/json" && len(params) <= 1 && (len(params) == 0 || (hasCS && strings.EqualFold(cs, "utf-8"))) {
			return true
		}
	}
	writeAPIRefusal(w, &refusal{class: classUnsupportedMediaType, err: errors.New("body not declared as JSON")})
	return false
}

// decodeJSON reads exactly one JSON object of at most maxAPIBody bytes
// into v, refusing unknown fields, and answers a bad body itself (false).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("the request body is larger than %d bytes", maxAPIBody))
			return false
		}
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "the request body is not valid JSON for this endpoint")
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "the request body must hold exactly one JSON object")
		return false
	}
	return true
}
