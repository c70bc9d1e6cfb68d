package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/idbroker/idbroker/internal/revocation"
	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

// The administrators' APIs (explain, revocations, sessions) share one
// gate: the request is SigV4-signed (service "sts", the region of the
// broker's STS) with credentials the STS minted — so revoked credentials
// are refused like unknown ones — for one of Config.AdminRoleARNs, and the
// session is allowed the API's action on resource "*" by the policy engine
// (the role's permission policies intersected with the session policies,
// explicit deny first; the request's aws:SourceIp and aws:SecureTransport
// in the context), so a session policy can take the right away.

// Actions a session must be allowed, on resource "*", to use the
// administrators' APIs.
const (
	// RevokeAction: POST /api/v1/admin/revocations.
	RevokeAction = "idbroker:Revoke"
	// ListSessionsAction: GET /api/v1/admin/sessions.
	ListSessionsAction = "idbroker:ListSessions"
)

// Revocations records revocations for every replica (internal/revocation's
// Set, wired by cmd/idbroker): the administrators' revocations and the
// revocation of a session ended because its person is gone upstream.
type Revocations interface {
	// Add records e in the shared store and applies it here at once; it
	// fills e's empty ID, NotBefore and Expires. An error may come after
	// the entry applied here (the store failed: other replicas do not know
	// it).
	Add(ctx context.Context, e revocation.Entry) error
}

// adminRoutes mounts the administrators' revocation and session APIs when
// the broker can record revocations. They are for programs signing with
// their own credentials, never a cookie: the cross-origin form check does
// not apply (and a JSON body cannot be posted cross-site without CORS).
func (s *Server) adminRoutes(mux *http.ServeMux, cop *http.CrossOriginProtection) {
	if s.cfg.Revocations == nil {
		return
	}
	mux.HandleFunc("POST /api/v1/admin/revocations", s.serveRevoke)
	mux.HandleFunc("GET /api/v1/admin/sessions", s.serveListSessions)
	cop.AddInsecureBypassPattern("POST /api/v1/admin/revocations")
}

// readAdminRequest checks the media type and reads the body of an
// administrators' API request (bodyRequired: a POST), answering a refusal
// itself (ok false).
func readAdminRequest(w http.ResponseWriter, r *http.Request, bodyRequired bool) ([]byte, bool) {
	if !requireJSON(w, r, bodyRequired) {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("the request body is larger than %d bytes", maxAPIBody))
		return nil, false
	}
	return body, true
}

// adminCaller authenticates an administrators' API request (body is what
// was signed) and decides whether its session may perform action on "*".
// Every refusal is audited as event and answered here (ok false): the
// STS's own code for credentials that do not hold (unsigned, bad
// signature, unknown, expired or revoked), 403 AccessDenied for a session
// of a role not in Config.AdminRoleARNs or whose policies do not allow
// action.
func (s *Server) adminCaller(w http.ResponseWriter, r *http.Request, body []byte, action, event string) (*sts.Session, bool) {
	ctx := r.Context()
	sess, err := s.cfg.STS.Authenticate(r, body)
	if err != nil {
		s.auditAPI(ctx, event, r, nil, slog.Any("reason", err))
		writeSTSError(w, err)
		return nil, false
	}
	deny := func(why, decision string) (*sts.Session, bool) {
		s.auditAPI(ctx, event, r, sess, slog.String("reason", why), slog.String("decision", decision))
		writeAPIRefusal(w, &refusal{class: classAccessDenied, err: fmt.Errorf("%s", why),
			detail: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: * (%s)", sess.AssumedRoleARN(), action, why)})
		return nil, false
	}
	if !slices.Contains(s.cfg.AdminRoleARNs, sess.RoleARN) {
		return deny("the role is not listed in admin.roles", "")
	}
	reqCtx := map[string][]string{
		"aws:SourceIp":        {clientIP(r)},
		"aws:SecureTransport": {strconv.FormatBool(sts.SecureTransport(r))},
	}
	res, err := s.cfg.STS.Authorize(sess, action, "*", reqCtx)
	switch {
	case err != nil:
		// The session cannot be evaluated (its role is gone): a deny.
		s.log.WarnContext(ctx, "administrators' API: session cannot be evaluated", "principal", sess.AssumedRoleARN(), "err", err)
		return deny("the session cannot be evaluated", res.Decision.String())
	case res.Decision == policy.ExplicitDeny:
		return deny("a policy of the session explicitly denies "+action, res.Decision.String())
	case res.Decision != policy.Allow:
		return deny("no policy of the session allows "+action, res.Decision.String())
	}
	return sess, true
}
