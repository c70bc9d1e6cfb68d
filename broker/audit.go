package broker

import (
	"context"
	"log/slog"

	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
)

// droppedGrant is a grant the rules dropped, as the audit log shows it.
type droppedGrant struct {
	Rule      string `json:"rule"`
	RuleIndex int    `json:"rule_index"`
	// Reason is the mapping's text: the role ARN and why (a template that
	// failed, a value outside AWS limits, already granted by an earlier
	// rule). Rendered values in it are quoted and cut short by the mapping.
	Reason string `json:"reason"`
}

// droppedGrants lists every grant any rule of the decision dropped, in
// evaluation order.
func droppedGrants(dec mapping.Decision) []droppedGrant {
	var out []droppedGrant
	for _, r := range dec.Rules {
		for _, why := range r.Dropped {
			out = append(out, droppedGrant{Rule: r.Name, RuleIndex: r.Index, Reason: why})
		}
	}
	return out
}

// decisionAttrs are the audit attributes that say why a mapping decided
// what it did: the outcome, its reason, and the grants dropped by rules
// (each naming its rule and index). They carry no secret: identities hold
// no password, and the mapping quotes rendered values cut short.
func decisionAttrs(dec mapping.Decision) []slog.Attr {
	attrs := []slog.Attr{slog.String("decision", dec.Outcome)}
	if dec.Reason != "" {
		attrs = append(attrs, slog.String("decision_reason", dec.Reason))
	}
	if d := droppedGrants(dec); len(d) > 0 {
		attrs = append(attrs, slog.Any("dropped", d))
	}
	return attrs
}

// auditRefused records a refusal to issue after mapping: the reason, then
// the decision's outcome, reason and dropped grants.
func (s *Server) auditRefused(ctx context.Context, id providers.Identity, dec mapping.Decision, reason any, attrs ...slog.Attr) {
	all := append([]slog.Attr{slog.Any("reason", reason)}, attrs...)
	s.audit(ctx, "issue.refused", id, append(all, decisionAttrs(dec)...)...)
}

// auditDropped records the grants a decision dropped when the login goes
// on with the others (event grant.dropped); nothing when none was dropped.
func (s *Server) auditDropped(ctx context.Context, id providers.Identity, dec mapping.Decision) {
	if d := droppedGrants(dec); len(d) > 0 {
		s.audit(ctx, "grant.dropped", id, slog.String("decision", dec.Outcome), slog.Any("dropped", d))
	}
}

// audit records a security event. It never carries a secret: the access
// key id is public, the secret and session token are never passed here.
func (s *Server) audit(ctx context.Context, event string, id providers.Identity, attrs ...slog.Attr) {
	s.auditAt(ctx, slog.LevelInfo, event, id, attrs...)
}

// auditWarn is audit for an event an operator should see (a lock-out).
func (s *Server) auditWarn(ctx context.Context, event string, id providers.Identity, attrs ...slog.Attr) {
	s.auditAt(ctx, slog.LevelWarn, event, id, attrs...)
}

func (s *Server) auditAt(ctx context.Context, level slog.Level, event string, id providers.Identity, attrs ...slog.Attr) {
	all := append([]slog.Attr{
		slog.String("event", event),
		slog.String("provider", id.Provider),
		slog.String("user", id.Username),
	}, attrs...)
	s.log.LogAttrs(ctx, level, "audit", all...)
	s.observe(ctx, event, id, attrs)
	s.recordAudit(event, id, attrs)
}
