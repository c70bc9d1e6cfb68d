package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

// authorizeRequest is the body of POST /api/v1/authorize. In the signed form
// AccessKeyID and SessionToken must be absent (they come from the signature).
type authorizeRequest struct {
	AccessKeyID  string                     `json:"access_key_id"`
	SessionToken string                     `json:"session_token"`
	Action       string                     `json:"action"`
	Resource     string                     `json:"resource"`
	Context      map[string]json.RawMessage `json:"context"`
}

// authorizeMatch is one statement that decided, as in `idbroker policy simulate`.
type authorizeMatch struct {
	Policy string `json:"policy"`
	Sid    string `json:"sid"`
}

// authorizeResponse is the answer of POST /api/v1/authorize; the same shape
// as `idbroker policy simulate` prints.
type authorizeResponse struct {
	Decision string           `json:"decision"`
	Matched  []authorizeMatch `json:"matched"`
}

const (
	maxActionLen   = 256
	maxResourceLen = 2048
	maxContextKeys = 256
)

// sessionKeys are the request context keys the STS derives from the session
// or its own clock. A caller may not supply them: claiming
// aws:MultiFactorAuthPresent or another aws:PrincipalArn would let the
// bearer of a token widen what it is allowed. Names are lower case.
var sessionKeys = map[string]bool{
	"aws:principalarn": true, "aws:principalaccount": true, "aws:principalorgid": true,
	"aws:principalorgpaths": true, "aws:principaltype": true, "aws:principalisawsservice": true,
	"aws:principalservicename": true, "aws:principalservicenameslist": true,
	"aws:userid": true, "aws:username": true, "aws:sourceidentity": true,
	"aws:tokenissuetime": true, "aws:multifactorauthpresent": true, "aws:multifactorauthage": true,
	"aws:federatedprovider": true, "aws:currenttime": true, "aws:epochtime": true,
	"aws:viaawsservice": true, "aws:calledvia": true, "aws:calledviafirst": true,
	"aws:calledvialast": true, "aws:assumedroot": true, "aws:rolesessionname": true,
	"aws:sourceaccount": true, "aws:sourceowner": true, "aws:sourcearn": true,
	"aws:ec2instancesourceprivateipv4": true, "aws:ec2instancesourcevpc": true,
}

// sessionKeyPrefixes are key families derived from the session: its tags,
// the identity provider's keys (saml:sub, saml:aud, …) and the STS's own
// request keys (sts:RoleSessionName, sts:SourceIdentity, …).
var sessionKeyPrefixes = []string{"aws:principaltag/", "saml:", "sts:"}

// reservedContextKey reports whether a caller-supplied key names something
// the STS derives from the session. lk is lower case (policy.Context folds
// keys with strings.ToLower; so does this check). Keys of web identity
// providers are named after the issuer (accounts.google.com:sub,
// token.actions.githubusercontent.com:aud, cognito-identity.amazonaws.com:amr):
// a prefix with a dot or a slash is never an AWS service, so those are
// refused too.
func reservedContextKey(lk string) bool {
	if sessionKeys[lk] {
		return true
	}
	for _, p := range sessionKeyPrefixes {
		if strings.HasPrefix(lk, p) {
			return true
		}
	}
	prefix, _, _ := strings.Cut(lk, ":")
	return strings.ContainsAny(prefix, "./")
}

// isSigned reports whether the request carries a SigV4 signature (header or
// pre-signed query).
func isSigned(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	q := r.URL.Query()
	return q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
}

// serveAuthorize is POST /api/v1/authorize, the decision API for resource
// servers: may the holder of these credentials do action on resource?
//
// Two forms. Signed (preferred): the JSON body {action, resource, context}
// is sent in a request SigV4-signed with the credentials (service "sts", as
// for the STS Query API), which proves possession of the secret key. Plain:
// the body also carries access_key_id and session_token; that proves only
// possession of the token (anyone who saw it can ask), and access_key_id
// must be the one the token was minted for.
//
// The body must be declared application/json (else 415).
//
// 200 {"decision":"Allow"|"ExplicitDeny"|"ImplicitDeny","matched":[…]} for
// any decision; 403 with the STS's codes (InvalidClientTokenId,
// ExpiredToken, SignatureDoesNotMatch, MissingAuthenticationToken) when the
// credentials do not hold; 400 InvalidRequest for a malformed question.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !requireJSON(w, r, true) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("the request body is larger than %d bytes", maxAPIBody))
			return
		}
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "the request body could not be read")
		return
	}
	var req authorizeRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "the request body is not valid JSON for this endpoint")
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "the request body must hold exactly one JSON object")
		return
	}
	reqCtx, err := parseAuthorizeQuestion(&req)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", err.Error())
		return
	}

	var sess *sts.Session
	form := "plain"
	if isSigned(r) {
		form = "signed"
		if req.AccessKeyID != "" || req.SessionToken != "" {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "a signed request takes its credentials from the signature: leave access_key_id and session_token out of the body")
			return
		}
		sess, err = s.cfg.STS.Authenticate(r, body)
	} else {
		if req.AccessKeyID == "" || req.SessionToken == "" {
			s.auditAPI(ctx, "authorize.refused", r, nil, slog.String("reason", "no credentials"))
			writeAPIError(w, http.StatusForbidden, "MissingAuthenticationToken",
				"sign the request with SigV4, or give access_key_id and session_token")
			return
		}
		sess, err = s.cfg.STS.SessionFromToken(req.AccessKeyID, req.SessionToken)
	}
	if err != nil {
		s.auditAPI(ctx, "authorize.refused", r, nil, slog.String("form", form), slog.Any("reason", err))
		writeSTSError(w, err)
		return
	}
	res, err := s.cfg.STS.Authorize(sess, req.Action, req.Resource, reqCtx)
	if err != nil {
		// The session cannot be evaluated (its role or a session policy
		// is no longer configured): that is a deny, and worth a warning.
		s.log.WarnContext(ctx, "authorize: session cannot be evaluated", "principal", sess.AssumedRoleARN(), "err", err)
		res = policy.Result{Decision: policy.ImplicitDeny}
	}
	s.recordAccess(sess.RoleARN, sess.AssumedRoleARN(), req.Action, res.Decision == policy.Allow)
	out := authorizeResponse{Decision: res.Decision.String(), Matched: make([]authorizeMatch, 0, len(res.Matched))}
	for _, m := range res.Matched {
		out.Matched = append(out.Matched, authorizeMatch{Policy: m.Policy, Sid: m.Sid})
	}
	s.auditAPI(ctx, "authorize", r, sess, slog.String("form", form),
		slog.String("action", req.Action), slog.String("resource", req.Resource), slog.String("decision", out.Decision))
	writeJSON(w, http.StatusOK, out)
}

// parseAuthorizeQuestion checks action, resource and context and builds the
// caller's part of the request context.
func parseAuthorizeQuestion(req *authorizeRequest) (map[string][]string, error) {
	switch {
	case req.Action == "":
		return nil, errors.New("action is required (service:Action, e.g. s3:GetObject)")
	case len(req.Action) > maxActionLen || !strings.Contains(req.Action, ":"):
		return nil, errors.New("action must be service:Action, e.g. s3:GetObject")
	case req.Resource == "":
		return nil, errors.New("resource is required (an ARN, or * for actions without a resource)")
	case len(req.Resource) > maxResourceLen:
		return nil, fmt.Errorf("resource is longer than %d characters", maxResourceLen)
	case len(req.Context) > maxContextKeys:
		return nil, fmt.Errorf("context has more than %d keys", maxContextKeys)
	}
	reqCtx := make(map[string][]string, len(req.Context))
	seen := make(map[string]string, len(req.Context))
	for k, raw := range req.Context {
		lk := strings.ToLower(k)
		if prev, dup := seen[lk]; dup {
			return nil, fmt.Errorf("context keys %q and %q are the same key (names are case-insensitive)", prev, k)
		}
		seen[lk] = k
		if prefix, name, ok := strings.Cut(k, ":"); !ok || prefix == "" || name == "" || len(k) > 256 {
			return nil, fmt.Errorf("context key %q must be prefix:name, e.g. aws:SourceIp or s3:prefix", k)
		}
		if reservedContextKey(lk) {
			return nil, fmt.Errorf("context key %q is derived from the session by the STS and cannot be supplied", k)
		}
		vals, err := policy.ContextValues(raw)
		if err != nil {
			return nil, fmt.Errorf("context key %q: %w", k, err)
		}
		reqCtx[k] = vals
	}
	return reqCtx, nil
}

// decisionRoutes mounts the decision API (POST /api/v1/authorize) and,
// with an Explainer, the administrators' explain API (GET
// /api/v1/explain), whose sessions the STS checks and whose right to
// idbroker:Explain it decides. Both are for non-browser clients carrying
// their own credentials, so the cross-origin form check does not apply to
// the POST.
func (s *Server) decisionRoutes(mux *http.ServeMux, cop *http.CrossOriginProtection) {
	mux.HandleFunc("POST /api/v1/authorize", s.serveAuthorize)
	cop.AddInsecureBypassPattern("POST /api/v1/authorize")
	if s.cfg.Explainer != nil {
		mux.HandleFunc("GET /api/v1/explain", s.serveExplain)
	}
}
