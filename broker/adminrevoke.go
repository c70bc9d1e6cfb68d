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
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/revocation"
)

// POST /api/v1/admin/revocations: an administrator revokes, with exactly one
// selector, a login session, a user's or a group's sessions (at one provider
// or every configured one), a role, or one access key. Every matching
// session ends (it issues nothing more), and every credential minted from
// one of them, or of the role, or with the key, before not_before — and
// every credential chained from those — is refused by every replica's STS
// from then on (internal/revocation). Audited once: who, the selector, the
// sessions covered and ended.

// sessionRevocationMargin puts the not_before of a revocation of sessions
// this far after the sessions have ended. Nothing legitimate is minted from
// an ended session, so the margin costs nothing, and an issuance that was
// already under way when its session ended (it read the session live just
// before) cannot slip its credentials past the revocation.
const sessionRevocationMargin = time.Minute

// maxEntrySessions is how many session ids one revocation entry carries (a
// store record holds 1 MiB); a revocation covering more is recorded as
// several entries with the same selector.
const maxEntrySessions = 10000

// revocationRequest is the body of POST /api/v1/admin/revocations: exactly
// one of user, group, role, session, access_key_id; provider narrows user
// and group.
type revocationRequest struct {
	User        string `json:"user"`
	Group       string `json:"group"`
	Role        string `json:"role"`
	Session     string `json:"session"`
	AccessKeyID string `json:"access_key_id"`
	Provider    string `json:"provider"`
}

// revocationCreated answers 201. IDs lists every entry recorded (one
// unless more than maxEntrySessions sessions are covered), ID the first.
// Sessions are the ids of every session covered (ended before or now),
// SessionsEnded those this revocation ended.
type revocationCreated struct {
	ID            string              `json:"id"`
	IDs           []string            `json:"ids"`
	Selector      revocation.Selector `json:"selector"`
	RoleARN       string              `json:"role_arn,omitempty"`
	NotBefore     string              `json:"not_before"`
	Sessions      []string            `json:"sessions"`
	SessionsEnded []string            `json:"sessions_ended"`
}

func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, ok := readAdminRequest(w, r, true)
	if !ok {
		return
	}
	caller, ok := s.adminCaller(w, r, body, RevokeAction, "revocation.refused")
	if !ok {
		return
	}
	var req revocationRequest
	if err := decodeStrict(body, &req); err != nil {
		writeAPIRefusal(w, &refusal{class: classBadAdminRequest, err: err, detail: err.Error()})
		return
	}
	sel, roleARN, err := s.parseSelector(req)
	if err != nil {
		s.auditAPI(ctx, "revocation.refused", r, caller, slog.Any("reason", err))
		writeAPIRefusal(w, &refusal{class: classBadAdminRequest, err: err, detail: err.Error()})
		return
	}
	id, err := revocation.NewID()
	if err != nil {
		writeAPIRefusal(w, &refusal{class: classIssueInternal, err: err})
		return
	}
	by := caller.AssumedRoleARN()
	e := revocation.Entry{ID: id, Selector: sel, RoleARN: roleARN, By: by, NotBefore: ceilSecond(s.now())}
	// Once started, a revocation runs to its end even if the caller goes
	// away: half of it would leave sessions ended and credentials alive.
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), revocationTimeout)
	defer cancel()
	var (
		covered, ended []string
		notEnded       int
		walkErr        error
	)
	// Each session found is ended at once (only ids are kept, however many
	// there are), then one entry revokes the credentials of all of them.
	visit := func(f found) {
		covered = append(covered, f.id)
		if f.se == nil || !f.se.live(s.now()) {
			return
		}
		if err := s.endSession(work, f.se, fmt.Sprintf("revoked by %s (revocation %s)", by, id)); err != nil {
			s.log.WarnContext(ctx, "revocation: a session could not be ended", slog.String("session_id", f.id), slog.Any("err", err))
			notEnded++
			return
		}
		ended = append(ended, f.id)
	}
	switch sel.Kind {
	case revocation.KindSession:
		walkErr = s.oneSession(work, sel.Value, visit)
	case revocation.KindUser:
		walkErr = s.userSessions(work, sel.Value, sel.Provider, visit)
	case revocation.KindGroup:
		walkErr = s.groupSessions(work, sel.Value, sel.Provider, visit)
	}
	if walkErr != nil && len(covered) == 0 {
		// Nothing ended, nothing recorded: the administrator tries again.
		s.auditAPI(ctx, "revocation.refused", r, caller, slog.Any("reason", walkErr))
		writeAPIRefusal(w, s.sessionRefused(ctx, walkErr))
		return
	}
	if sel.Kind == revocation.KindSession || sel.Kind == revocation.KindUser || sel.Kind == revocation.KindGroup {
		e.SessionIDs = covered
		e.NotBefore = ceilSecond(s.now().Add(sessionRevocationMargin))
	}
	ids, err := s.recordRevocation(work, e)
	attrs := []slog.Attr{
		slog.String("revocation_id", id), slog.String("selector", sel.Kind), slog.String("value", sel.Value),
		slog.String("selector_provider", sel.Provider), slog.String("role_arn", roleARN),
		slog.Time("not_before", e.NotBefore), slog.Int("sessions_covered", len(e.SessionIDs)),
		slog.Int("sessions_ended", len(ended)), slog.Int("sessions_not_ended", notEnded),
	}
	if err != nil {
		s.log.ErrorContext(ctx, "a revocation could not be recorded in the store", slog.String("revocation_id", id), slog.Any("err", err))
		s.auditAPI(ctx, "revocation.failed", r, caller, append(attrs, slog.Any("reason", err))...)
		writeAPIRefusal(w, &refusal{class: classRevocationUnrecorded, err: err, detail: fmt.Sprintf(
			"revocation %s applies on this replica only: the shared store could not record it (%d sessions ended); run it again", id, len(ended))})
		return
	}
	if walkErr != nil {
		attrs = append(attrs, slog.Any("walk_failed", walkErr))
	}
	s.auditAPI(ctx, "revocation", r, caller, attrs...)
	switch {
	case walkErr != nil:
		writeAPIRefusal(w, &refusal{class: classRevocationUnrecorded, err: walkErr, detail: fmt.Sprintf(
			"revocation %s covers the %d sessions found before the session store failed (credentials issued from them before %s are refused), but more may match: run it again",
			id, len(covered), apiTime(e.NotBefore))})
		return
	case notEnded > 0:
		writeAPIRefusal(w, &refusal{class: classRevocationUnrecorded, err: errors.New("sessions not ended"), detail: fmt.Sprintf(
			"revocation %s is recorded (credentials issued before %s are refused), but %d of its sessions could not be ended and may issue again: run it again",
			id, apiTime(e.NotBefore), notEnded)})
		return
	}
	out := revocationCreated{
		ID: id, IDs: ids, Selector: sel, RoleARN: roleARN, NotBefore: e.NotBefore.UTC().Format(time.RFC3339),
		Sessions: orEmpty(e.SessionIDs), SessionsEnded: orEmpty(ended),
	}
	writeJSON(w, http.StatusCreated, out)
}

// revocationTimeout bounds the work of one revocation (walking and ending
// the sessions, recording the entries).
const revocationTimeout = 5 * time.Minute

// ceilSecond rounds t up to the whole second. Credentials carry their
// issue time in whole seconds, so a not_before inside a second refuses that
// whole second anyway: the rounded time says so exactly.
func ceilSecond(t time.Time) time.Time {
	if c := t.Truncate(time.Second); !c.Equal(t) {
		return c.Add(time.Second)
	}
	return t
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// recordRevocation adds e (split into entries of at most maxEntrySessions
// session ids, the first keeping e.ID) and returns the entry ids.
func (s *Server) recordRevocation(ctx context.Context, e revocation.Entry) ([]string, error) {
	all := e.SessionIDs
	ids := []string{}
	for first := true; first || len(all) > 0; first = false {
		part := e
		part.SessionIDs = all[:min(len(all), maxEntrySessions)]
		all = all[len(part.SessionIDs):]
		if !first {
			id, err := revocation.NewID()
			if err != nil {
				return ids, err
			}
			part.ID = id
		}
		if err := s.cfg.Revocations.Add(ctx, part); err != nil {
			return ids, err
		}
		ids = append(ids, part.ID)
	}
	return ids, nil
}

// revokeSessionByBroker revokes the credentials of the session id, ended
// by the broker itself (its person is gone upstream), through
// Config.Revocations.
func (s *Server) revokeSessionByBroker(ctx context.Context, id, reason string) error {
	return s.cfg.Revocations.Add(ctx, revocation.Entry{
		Selector:   revocation.Selector{Kind: revocation.KindSession, Value: id},
		SessionIDs: []string{id}, NotBefore: ceilSecond(s.now().Add(sessionRevocationMargin)),
		By: "idbroker (" + reason + ")",
	})
}

// Limits of a selector's values.
const (
	maxSelectorValue = 1024
	minAccessKeyID   = 16
	maxAccessKeyID   = 128
)

// parseSelector checks the request's one selector and returns it, with the
// role's ARN for a role selector (a name is resolved among the configured
// roles; an ARN is taken as given, so that a role no longer configured can
// be revoked while its credentials live).
func (s *Server) parseSelector(req revocationRequest) (revocation.Selector, string, error) {
	var sels []revocation.Selector
	for _, c := range []struct{ kind, v string }{
		{revocation.KindUser, req.User}, {revocation.KindGroup, req.Group}, {revocation.KindRole, req.Role},
		{revocation.KindSession, req.Session}, {revocation.KindAccessKeyID, req.AccessKeyID},
	} {
		if c.v != "" {
			sels = append(sels, revocation.Selector{Kind: c.kind, Value: c.v})
		}
	}
	if len(sels) != 1 {
		return revocation.Selector{}, "", errors.New("give exactly one of user, group, role, session, access_key_id")
	}
	sel := sels[0]
	if req.Provider != "" {
		if sel.Kind != revocation.KindUser && sel.Kind != revocation.KindGroup {
			return revocation.Selector{}, "", errors.New("provider narrows only a user or group")
		}
		if err := checkText("provider", req.Provider); err != nil {
			return revocation.Selector{}, "", err
		}
		sel.Provider = req.Provider
	}
	switch sel.Kind {
	case revocation.KindUser, revocation.KindGroup:
		return sel, "", checkText(sel.Kind, sel.Value)
	case revocation.KindSession:
		if len(sel.Value) != sessionIDLen || !isBase64URL(sel.Value) {
			return revocation.Selector{}, "", fmt.Errorf("session must be a session id (%d characters, as GET /api/v1/admin/sessions lists them)", sessionIDLen)
		}
		return sel, "", nil
	case revocation.KindAccessKeyID:
		if n := len(sel.Value); n < minAccessKeyID || n > maxAccessKeyID || strings.IndexFunc(sel.Value, notAlnum) >= 0 {
			return revocation.Selector{}, "", fmt.Errorf("access_key_id must be %d to %d letters and digits (ASIA…)", minAccessKeyID, maxAccessKeyID)
		}
		return sel, "", nil
	}
	arn, err := s.resolveRole(sel.Value)
	return sel, arn, err
}

// resolveRole is the ARN of role, given as an ARN or as a configured role's
// name (case-insensitive, as IAM compares role names).
func (s *Server) resolveRole(role string) (string, error) {
	if strings.HasPrefix(role, "arn:") {
		if !validRoleARN(role) {
			return "", errors.New("role must be a role name or a role ARN (arn:aws:iam::<account>:role/<name>)")
		}
		return role, nil
	}
	for _, arn := range s.cfg.RoleARNs {
		if strings.EqualFold(awsspec.RoleNameFromARN(arn), role) {
			return arn, nil
		}
	}
	return "", fmt.Errorf("no role named %q is configured (give the role's ARN to revoke a role no longer configured)", truncate(role, 64))
}

// validRoleARN reports whether a is arn:<partition>:iam::<12 digits>:role/<path/><name>.
func validRoleARN(a string) bool {
	parts := strings.SplitN(a, ":", 6)
	if len(a) > awsspec.MaxARNLen || len(parts) != 6 || parts[1] == "" || parts[2] != "iam" || parts[3] != "" ||
		len(parts[4]) != 12 || strings.IndexFunc(parts[4], func(r rune) bool { return r < '0' || r > '9' }) >= 0 ||
		!strings.HasPrefix(parts[5], "role/") {
		return false
	}
	name := awsspec.RoleNameFromARN(a)
	return name != "" && len(name) <= 64 && strings.IndexFunc(name, func(r rune) bool { return !awsspec.NameRune(r) }) < 0
}

// checkText refuses a selector value that no user, group or provider name
// can be: empty, too long, not UTF-8, or holding control characters.
func checkText(what, v string) error {
	switch {
	case len(v) > maxSelectorValue:
		return fmt.Errorf("%s is longer than %d bytes", what, maxSelectorValue)
	case !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("%s must be text without control characters", what)
	}
	return nil
}

func notAlnum(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
}

func isBase64URL(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return notAlnum(r) && r != '-' && r != '_' }) < 0
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// decodeStrict reads exactly one JSON object from body into v, refusing
// unknown fields.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("the request body is not valid JSON for this endpoint (unknown fields are refused)")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("the request body must hold exactly one JSON object")
	}
	return nil
}
