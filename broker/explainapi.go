package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// Explainer explains how the mapping rules treat an identity
// (mapping.Mapper implements it).
type Explainer interface {
	Explain(id providers.Identity) mapping.Explanation
}

// ExplainAction is the action a session must be allowed, on resource "*",
// to use GET /api/v1/explain.
const ExplainAction = "idbroker:Explain"

// maxExplainIdentity bounds the identity query parameter of the explain API.
const maxExplainIdentity = 64 << 10

// serveExplain is GET /api/v1/explain?identity=<Identity JSON>: the same JSON
// as `idbroker explain --json`, for administrators only. The request must be
// SigV4-signed (service "sts", the region of the broker's STS) with
// credentials minted for one of Config.AdminRoleARNs, and the session must
// be allowed idbroker:Explain on "*" by the policy engine (the role's
// permission policies intersected with the session policies, explicit deny
// first; the request's aws:SourceIp and aws:SecureTransport are in the
// context), so a session policy can take the right away. An unsigned or
// badly signed request gets the STS's code (MissingAuthenticationToken,
// SignatureDoesNotMatch, InvalidClientTokenId, ExpiredToken), any other
// session 403 AccessDenied. A body, if the request has one, must be
// declared application/json (else 415). It is mounted only with an Explainer
// (decisionRoutes).
func (s *Server) serveExplain(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, ok := readAdminRequest(w, r, false)
	if !ok {
		return
	}
	sess, ok := s.adminCaller(w, r, body, ExplainAction, "explain.refused")
	if !ok {
		return
	}
	q := r.URL.Query()
	raw := q["identity"]
	if len(raw) != 1 || raw[0] == "" {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "give the identity as JSON in exactly one identity query parameter")
		return
	}
	if len(raw[0]) > maxExplainIdentity {
		writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLarge", fmt.Sprintf("the identity is larger than %d bytes", maxExplainIdentity))
		return
	}
	id, err := decodeIdentity([]byte(raw[0]))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequest", "identity is not an Identity JSON object: "+err.Error())
		return
	}
	ex := s.cfg.Explainer.Explain(id)
	s.auditAPI(ctx, "explain", r, sess,
		slog.String("identity_provider", id.Provider), slog.String("identity_user", id.Username), slog.String("decision", ex.Decision))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ") // byte for byte what `idbroker explain --json` prints
	if err := enc.Encode(ex); err != nil {
		writeAPIError(w, http.StatusInternalServerError, "InternalError", "the explanation could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// decodeIdentity reads exactly one providers.Identity JSON object, refusing
// unknown fields (the rules of `idbroker explain --identity`).
func decodeIdentity(raw []byte) (providers.Identity, error) {
	var id providers.Identity
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		return providers.Identity{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return providers.Identity{}, errors.New("trailing data after the object")
	}
	return id, nil
}

// writeSTSError answers with an STS error (*sts.Error) in the JSON API's
// shape, or a generic 500.
func writeSTSError(w http.ResponseWriter, err error) {
	var se *sts.Error
	if errors.As(err, &se) {
		status := se.Status
		if status == 0 {
			status = http.StatusForbidden
		}
		writeAPIError(w, status, se.Code, se.Message)
		return
	}
	writeAPIError(w, http.StatusInternalServerError, "InternalError", "the request could not be authenticated")
}

// auditAPI records a decision or explain API event: who asked (the session,
// never its token) and from where.
func (s *Server) auditAPI(ctx context.Context, event string, r *http.Request, sess *sts.Session, attrs ...slog.Attr) {
	all := []slog.Attr{slog.String("event", event), slog.String("client_ip", clientIP(r))}
	if sess != nil {
		all = append(all, slog.String("principal", sess.AssumedRoleARN()), slog.String("access_key_id", sess.AccessKeyID))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "audit", append(all, attrs...)...)
	s.observe(ctx, event, providers.Identity{}, attrs)
}
