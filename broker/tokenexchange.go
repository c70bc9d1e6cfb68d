package broker

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/ratelimit"
)

// RFC 8693 token exchange at POST /oauth2/token.
const (
	GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"
	// TokenTypeAWSCredentials is the issued_token_type of the answer: the
	// access_token is the AWS session token, and the same JSON object
	// carries the access key id and secret. It is not an IANA-registered
	// type, hence the urn:idbroker namespace.
	TokenTypeAWSCredentials = "urn:idbroker:params:oauth:token-type:aws-credentials"
)

// tokenExchangeResponse is the RFC 8693 answer plus the credential_process
// fields (Version, AccessKeyId, …), so the one body serves both.
type tokenExchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	credentialsResponse
}

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	status int
	Code   string `json:"error"`
	Desc   string `json:"error_description,omitempty"`
	// retryAfter, when set, is sent as Retry-After (a throttled request).
	retryAfter time.Duration
}

func writeOAuthError(w http.ResponseWriter, e oauthError) {
	w.Header().Set("Pragma", "no-cache")
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(e.retryAfter)))
	}
	writeJSON(w, e.status, e)
}

func oauthErr(status int, code, desc string) oauthError {
	return oauthError{status: status, Code: code, Desc: desc}
}

// serveToken is POST /oauth2/token: a form body without query string or
// repeated parameters, dispatched by grant_type to the RFC 8693 token
// exchange (below), the authorization-code grant and the device-code
// grant of the CLI (oauth2token.go).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	form, ok := readCLIForm(w, r)
	if !ok {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case GrantTypeTokenExchange:
		s.exchangeToken(w, r, form)
	case GrantTypeAuthorizationCode:
		s.redeemAuthorizationCode(w, r, form)
	case GrantTypeDeviceCode:
		s.redeemDeviceCode(w, r, form)
	case "":
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_request", "grant_type is required"))
	default:
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "the supported grant types are "+
			GrantTypeTokenExchange+", "+GrantTypeAuthorizationCode+" and "+GrantTypeDeviceCode))
	}
}

// exchangeToken trades an upstream ID token for AWS credentials of one
// granted role. The subject token is the only authentication: there is no
// OAuth client registration for this grant.
func (s *Server) exchangeToken(w http.ResponseWriter, r *http.Request, form url.Values) {
	ctx := r.Context()
	subject := form.Get("subject_token")
	if subject == "" {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_request", "subject_token is required"))
		return
	}
	if tt := form.Get("subject_token_type"); tt != TokenTypeIDToken {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_request", "subject_token_type must be "+TokenTypeIDToken))
		return
	}
	if form.Has("actor_token") || form.Has("actor_token_type") {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_request", "delegation (actor_token) is not supported"))
		return
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TokenTypeAWSCredentials {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_request", "requested_token_type must be "+TokenTypeAWSCredentials))
		return
	}

	// The role: resource (a role ARN) and/or scope (one role name or ARN).
	resource, scope := form.Get("resource"), strings.TrimSpace(form.Get("scope"))
	if strings.ContainsAny(scope, " \t\r\n") {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_scope", "name one role in scope"))
		return
	}
	if resource != "" && !strings.HasPrefix(resource, "arn:") {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_target", "resource must be a role ARN"))
		return
	}
	var wanted []string
	roleFrom := ""
	switch {
	case resource != "" && scope != "":
		if scope != resource && scope != awsspec.RoleNameFromARN(resource) {
			writeOAuthError(w, oauthErr(http.StatusBadRequest, "invalid_request", "resource and scope name different roles"))
			return
		}
		wanted, roleFrom = []string{resource}, "resource"
	case resource != "":
		wanted, roleFrom = []string{resource}, "resource"
	case scope != "":
		wanted, roleFrom = []string{scope}, "scope"
	}

	p, oe, ok := s.exchangeProvider(form, subject)
	if !ok {
		writeOAuthError(w, oe)
		return
	}
	id, err := s.tokenLogin(ctx, p, p.Impl.(TokenProvider), subject, clientIP(r))
	if err != nil {
		writeOAuthError(w, oauthRefusal(err, false))
		return
	}
	se, err := s.startOneShotSession(ctx, id, methodIDToken)
	if err != nil {
		writeOAuthError(w, oauthRefusal(err, false))
		return
	}
	out, err := s.issueFromSession(ctx, se, issueOptions{Roles: wanted})
	if err != nil {
		writeOAuthError(w, oauthRefusal(err, roleFrom == "scope"))
		return
	}
	is := out[0]
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenExchangeResponse{
		AccessToken:         is.Creds.SessionToken,
		IssuedTokenType:     TokenTypeAWSCredentials,
		TokenType:           "N_A",
		ExpiresIn:           int64(is.Creds.Expiration.Sub(s.now()).Round(time.Second) / time.Second),
		Scope:               awsspec.RoleNameFromARN(is.Grant.RoleARN),
		credentialsResponse: newCredentialsResponse(is),
	})
}

// exchangeProvider picks the provider whose settings verify the subject
// token: the one named by provider (or its alias audience), else the only
// token-accepting provider whose issuer equals the token's (unverified)
// iss. The token is then verified by that provider alone.
func (s *Server) exchangeProvider(form url.Values, subject string) (Provider, oauthError, bool) {
	name, aud := form.Get("provider"), form.Get("audience")
	if name != "" && aud != "" && name != aud {
		return Provider{}, oauthErr(http.StatusBadRequest, "invalid_request", "provider and audience name different providers"), false
	}
	if name == "" {
		name = aud
	}
	if name != "" {
		p, ok := s.providers[name]
		if !ok {
			return Provider{}, oauthErr(http.StatusBadRequest, "invalid_target", "no provider of that name is configured"), false
		}
		if _, ok := p.Impl.(TokenProvider); !ok {
			return Provider{}, oauthErr(http.StatusBadRequest, "invalid_target", "this provider does not accept ID tokens"), false
		}
		return p, oauthError{}, true
	}
	iss := peekIssuer(subject)
	if iss == "" {
		return Provider{}, oauthErr(http.StatusBadRequest, "invalid_grant", "the subject token is not a JWT with an issuer"), false
	}
	var found []Provider
	for _, p := range s.cfg.Providers {
		if tp, ok := p.Impl.(TokenProvider); ok && tp.Issuer() == iss {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return Provider{}, oauthErr(http.StatusBadRequest, "invalid_grant", "the subject token's issuer is not a configured provider"), false
	case 1:
		return found[0], oauthError{}, true
	}
	return Provider{}, oauthErr(http.StatusBadRequest, "invalid_request", "several providers share this issuer: name one with the provider parameter"), false
}

// peekIssuer reads iss from a JWT without verifying it, only to choose the
// verifier; "" when it cannot. It is the one reading of the subject token
// outside its provider's verifier, and it is needed: RFC 8693 names no
// provider, so the token's issuer says which provider's keys and audiences
// verify it (a token that lies about its issuer is refused by that
// provider's verifier). It decodes the payload only, no signature
// (BenchmarkPeekIssuer measures it).
func peekIssuer(raw string) string {
	if len(raw) > 64<<10 {
		return ""
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[1]) > 48<<10 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c map[string]any // exact key match, unlike struct decoding
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	iss, _ := c["iss"].(string)
	return iss
}
