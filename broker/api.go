package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
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
		RoleArn:         is.RoleARN,
		AssumedRoleArn:  is.AssumedRoleARN,
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
	_ = enc.Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: apiErrorBody{Code: code, Message: msg}})
}

func (s *Server) serveAPICredentials(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	var req credentialsRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("the request body is larger than %d bytes", maxAPIBody))
			return
		}
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "the request body is not valid JSON for this endpoint")
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "the request body must hold exactly one JSON object")
		return
	}
	if req.Provider == "" {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "provider is required")
		return
	}
	p, ok := s.providers[req.Provider]
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "UnknownProvider", "no provider of that name is configured")
		return
	}
	if req.DurationSeconds != 0 && (req.DurationSeconds < 900 || req.DurationSeconds > 43200) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "duration_seconds must be between 900 and 43200")
		return
	}
	if req.IDToken != "" {
		s.serveAPIToken(w, r, p, req)
		return
	}
	pa, ok := p.Impl.(providers.PasswordAuthenticator)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "UnsupportedProvider", "this provider does not accept a username and password")
		return
	}
	id, err := s.passwordLogin(ctx, p, pa, req.Username, req.Password, clientIP(r))
	if err != nil {
		switch kind, rid := s.loginFailed(ctx, p, err); kind {
		case failUnavailable:
			writeAPIError(w, http.StatusServiceUnavailable, "ProviderUnavailable", "the identity provider cannot be reached; try again later")
		case failMisconfigured:
			writeJSON(w, http.StatusInternalServerError, apiError{Error: apiErrorBody{Code: "ProviderMisconfigured",
				Message: "the identity provider is misconfigured; this is not a wrong password: tell the administrator", RequestID: rid}})
		case failInternal:
			writeJSON(w, http.StatusInternalServerError, apiError{Error: apiErrorBody{Code: "InternalError",
				Message: "the login could not be completed", RequestID: rid}})
		default:
			writeAPIError(w, http.StatusUnauthorized, "InvalidCredentials", "invalid username or password")
		}
		return
	}
	s.respondCredentials(w, r, id, req)
}

// respondCredentials maps the identity, picks the grants the request names
// (role, roles) and issues them. With "roles" the answer is a JSON list
// {"credentials":[…]}, one object per role in the order asked; "role" and
// "roles" together ask for their union, "role" first, each role once. A
// role of the list that is not granted refuses the whole request before
// anything is issued.
func (s *Server) respondCredentials(w http.ResponseWriter, r *http.Request, id providers.Identity, req credentialsRequest) {
	wanted := req.Roles
	if req.Role != "" {
		wanted = append([]string{req.Role}, wanted...)
	}
	d := time.Duration(req.DurationSeconds) * time.Second
	asList := len(req.Roles) > 0
	ctx := r.Context()
	dec := s.cfg.Mapper.Map(id)
	grants, err := s.pickAudited(ctx, id, dec, wanted)
	switch {
	case errors.Is(err, errChoiceRequired):
		body := apiError{Error: apiErrorBody{Code: "RoleChoiceRequired", Message: "several roles are granted: name one with \"role\"", Roles: grantARNs(dec.Grants)}}
		writeJSON(w, http.StatusConflict, body)
		return
	case errors.Is(err, errNotGranted):
		writeAPIError(w, http.StatusForbidden, "RoleNotGranted", "the requested role is not granted to this user")
		return
	case err != nil:
		writeAPIError(w, http.StatusForbidden, "NoRoleGranted", "no role is granted to this user")
		return
	}
	var out []credentialsResponse
	for _, g := range grants {
		is, err := s.issue(ctx, id, g, d)
		if err != nil {
			s.writeIssueError(w, err)
			return
		}
		out = append(out, newCredentialsResponse(is))
	}
	if asList {
		writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}

func (s *Server) writeIssueError(w http.ResponseWriter, err error) {
	var se *sts.Error
	switch {
	case errors.As(err, &se):
		writeAPIError(w, se.Status, se.Code, se.Message)
	case errors.Is(err, errDurationTooShort):
		writeAPIError(w, http.StatusForbidden, "SessionTooShort", "the upstream login expires in less than 15 minutes: sign in again")
	default:
		writeAPIError(w, http.StatusInternalServerError, "InternalError", "credentials could not be issued")
	}
}
