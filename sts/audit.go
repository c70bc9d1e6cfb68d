package sts

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// AuditEvent records one issue or refusal. It never carries a token, an
// assertion, a secret access key or a session token.
type AuditEvent struct {
	Time      time.Time
	RequestID string // "" for in-process calls
	SourceIP  string
	Action    string // e.g. AssumeRoleWithWebIdentity
	// Outcome is "issued" (credentials minted), "allowed" (a non-minting
	// action succeeded) or "denied".
	Outcome string
	// Code is the AWS error code of a refusal.
	Code string
	// Reason is the internal reason of a refusal (for operators; may be
	// more detailed than the public message).
	Reason      string
	RoleARN     string
	SessionName string
	// Principal is who asked: the provider ARN and subject for web
	// identity ("<provider arn>|<sub>"), the caller ARN for signed calls.
	Principal   string
	AccessKeyID string // of the minted or presented credentials (not secret)
	// SessionID is the login session the minted or presented credentials
	// come from ("" when none; an id, not a secret).
	SessionID  string
	Expiration time.Time
}

// reqState is per-request data carried in the context from ServeHTTP to the
// action implementations.
type reqState struct {
	requestID string
	sourceIP  string
	audited   bool
	// action is the request's action once it is known to exist.
	action string
}

type reqStateKey struct{}

func withReqState(ctx context.Context, st *reqState) context.Context {
	return context.WithValue(ctx, reqStateKey{}, st)
}

func reqStateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(reqStateKey{}).(*reqState)
	return st
}

// emit logs ev and passes it to the audit hook.
func (s *Service) emit(ctx context.Context, ev AuditEvent) {
	if ev.Time.IsZero() {
		ev.Time = s.now().UTC()
	}
	if st := reqStateFrom(ctx); st != nil {
		st.audited = true
		if ev.RequestID == "" {
			ev.RequestID = st.requestID
		}
		if ev.SourceIP == "" {
			ev.SourceIP = st.sourceIP
		}
	}
	level := slog.LevelInfo
	if ev.Outcome == "denied" {
		level = slog.LevelWarn
	}
	if s.log.Enabled(ctx, level) {
		// One array for every attribute (no growth, no closure).
		var buf [12]slog.Attr
		attrs := append(buf[:0], slog.String("action", ev.Action), slog.String("outcome", ev.Outcome))
		for _, kv := range [...]struct{ k, v string }{
			{"code", ev.Code}, {"reason", ev.Reason}, {"role_arn", ev.RoleARN},
			{"session_name", ev.SessionName}, {"principal", ev.Principal},
			{"access_key_id", ev.AccessKeyID}, {"session_id", ev.SessionID}, {"request_id", ev.RequestID}, {"source_ip", ev.SourceIP},
		} {
			if kv.v != "" {
				attrs = append(attrs, slog.String(kv.k, kv.v))
			}
		}
		if !ev.Expiration.IsZero() {
			attrs = append(attrs, slog.Time("expiration", ev.Expiration))
		}
		// The record is handed to the handler directly: Logger.LogAttrs
		// would first unwind the stack for a source position (this line,
		// the same for every event), which no handler here prints.
		r := slog.NewRecord(time.Now(), level, "sts audit", 0)
		r.AddAttrs(attrs...)
		_ = s.log.Handler().Handle(ctx, r)
	}
	if s.audit != nil {
		s.audit(ctx, ev)
	}
}

// deny emits a refusal for err and returns err unchanged.
func (s *Service) deny(ctx context.Context, ev AuditEvent, err error, reason string) error {
	ev.Outcome = "denied"
	var ae *Error
	if errors.As(err, &ae) {
		ev.Code = ae.Code
		if reason == "" {
			reason = ae.Message
		}
	}
	ev.Reason = reason
	s.emit(ctx, ev)
	return err
}

// Audit records an event from a registered action (ActionFunc) through the
// same logger and hook as the STS's own events. Within a Query API request
// it fills RequestID and SourceIP and stops ServeHTTP from adding a generic
// refusal event for the same request. Never put a token or secret in ev.
func (s *Service) Audit(ctx context.Context, ev AuditEvent) { s.emit(ctx, ev) }
