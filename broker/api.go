package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	if req.DurationSeconds != 0 && !awsspec.ValidDurationSeconds(req.DurationSeconds) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("duration_seconds must be between %d and %d", awsspec.MinDurationSeconds, awsspec.MaxDurationSeconds))
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
		writeAPIRefusal(w, err)
		return
	}
	s.respondCredentials(w, r, id, req)
}

// serveAPIToken is POST /api/v1/credentials with an id_token: the token is
// verified with the named provider's settings, mapped, and one grant (or
// the roles asked for) issued.
func (s *Server) serveAPIToken(w http.ResponseWriter, r *http.Request, p Provider, req credentialsRequest) {
	tp, ok := p.Impl.(TokenProvider)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "UnsupportedProvider", "this provider does not accept ID tokens")
		return
	}
	if req.Username != "" || req.Password != "" {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "send either id_token or username and password")
		return
	}
	id, err := s.tokenLogin(r.Context(), p, tp, req.IDToken, clientIP(r))
	if err != nil {
		writeAPIRefusal(w, err)
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
	out, err := s.issue(r.Context(), id, s.cfg.Mapper.Map(id), issueOptions{Roles: wanted, Duration: time.Duration(req.DurationSeconds) * time.Second})
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
