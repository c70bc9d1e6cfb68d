package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// Session durations the broker negotiates (the STS enforces the same bounds).
const minDuration = 15 * time.Minute

// issued is one set of credentials for one grant.
type issued struct {
	Grant          mapping.Grant
	RoleARN        string
	AssumedRoleARN string
	Creds          sts.Credentials
	Duration       time.Duration
	// DurationNote says why the session is shorter than asked ("" if not).
	DurationNote string
}

// errDurationTooShort means the caps left less than the STS minimum.
var errDurationTooShort = errors.New("the session would be shorter than 15 minutes")

// effectiveDuration is min(requested or default, rule cap, role maximum,
// upstream expiry), negotiated by the mapping package: the user gets the
// shorter session and a note saying why, rather than an error. A login whose
// upstream session ends in less than the AWS minimum is refused: keys must
// not outlive the login they came from.
func (s *Server) effectiveDuration(id providers.Identity, g mapping.Grant, requested time.Duration) (time.Duration, string, error) {
	now := s.now()
	if !id.Expiry.IsZero() && id.Expiry.Sub(now) < minDuration {
		return 0, "", errDurationTooShort
	}
	d, note := g.EffectiveDuration(requested, id.Expiry, now)
	return d, note, nil
}

// issue signs a token for the grant and exchanges it at the STS.
func (s *Server) issue(ctx context.Context, id providers.Identity, g mapping.Grant, requested time.Duration) (*issued, error) {
	d, note, err := s.effectiveDuration(id, g, requested)
	if err != nil {
		return nil, err
	}
	roleName := roleNameFromARN(g.RoleARN)
	tok, err := s.cfg.Issuer.Sign(TokenRequest{
		RoleName:          roleName,
		Provider:          id.Provider,
		Username:          id.Username,
		MFA:               id.MFA,
		SessionTags:       g.SessionTags,
		TransitiveTagKeys: g.TransitiveTagKeys,
		SourceIdentity:    g.SourceIdentity,
	})
	if err != nil {
		return nil, err
	}
	secs := int32(d / time.Second)
	out, err := s.cfg.STS.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn:          g.RoleARN,
		RoleSessionName:  g.SessionName,
		WebIdentityToken: tok,
		DurationSeconds:  &secs,
	})
	if err != nil {
		s.audit(ctx, "issue.refused", id, slog.String("role", g.RoleARN), slog.String("rule", g.Rule), slog.Int("rule_index", g.RuleIndex), slog.Any("reason", err))
		return nil, err
	}
	s.audit(ctx, "issue", id,
		slog.String("role", g.RoleARN), slog.String("rule", g.Rule), slog.Int("rule_index", g.RuleIndex),
		slog.String("access_key_id", out.Credentials.AccessKeyID), slog.Duration("duration", d))
	return &issued{
		Grant:          g,
		RoleARN:        g.RoleARN,
		AssumedRoleARN: out.AssumedRoleUser.Arn,
		Creds:          out.Credentials,
		Duration:       d,
		DurationNote:   note,
	}, nil
}

// roleNameFromARN is the role name without path: arn:aws:iam::1:role/a/b/Name -> Name.
func roleNameFromARN(arn string) string {
	_, res, ok := strings.Cut(arn, ":role/")
	if !ok {
		return arn
	}
	return res[strings.LastIndex(res, "/")+1:]
}

// pickGrants selects the grants a request names. Each wanted entry is a role
// name or ARN. With nothing wanted, a single-grant decision is taken as is.
func pickGrants(dec mapping.Decision, wanted []string) ([]mapping.Grant, error) {
	if len(dec.Grants) == 0 || dec.Outcome == "deny" {
		return nil, errNoGrant
	}
	if len(wanted) == 0 {
		if dec.Outcome == "choose" || len(dec.Grants) > 1 {
			return nil, errChoiceRequired
		}
		return dec.Grants[:1], nil
	}
	var out []mapping.Grant
	seen := map[string]bool{}
	for _, w := range wanted {
		g, ok := findGrant(dec.Grants, w)
		if !ok {
			return nil, fmt.Errorf("%w: %s", errNotGranted, w)
		}
		if !seen[g.RoleARN] {
			seen[g.RoleARN] = true
			out = append(out, g)
		}
	}
	return out, nil
}

func findGrant(grants []mapping.Grant, want string) (mapping.Grant, bool) {
	for _, g := range grants {
		if g.RoleARN == want || (!strings.HasPrefix(want, "arn:") && roleNameFromARN(g.RoleARN) == want) {
			return g, true
		}
	}
	return mapping.Grant{}, false
}

var (
	errNoGrant        = errors.New("no role is granted to this user")
	errChoiceRequired = errors.New("several roles are granted: choose one")
	errNotGranted     = errors.New("role not granted to this user")
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

// pickAudited is pickGrants with its audit: every path that issues after
// mapping calls it, so the same outcome is audited the same way whatever
// the protocol, and the caller only maps the error to its answer.
//
//   - No role granted, or a role asked for that is not granted: the
//     request is refused, audited as issue.refused with the reason, the
//     decision's trace (outcome, reason, dropped grants) and, when the
//     decision offered roles, their ARNs ("offered").
//   - Several roles granted and none named (errChoiceRequired): not a
//     refusal. Nothing was asked for that the rules deny; the caller is
//     told to choose (the API's 409, the token exchange's invalid_request,
//     the LDAP action's AccessDenied listing the roles, the browser's
//     chooser) and the retry is audited on its own. Like a grant that goes
//     on, it records only the grants the rules dropped (grant.dropped).
//   - Otherwise the grants are returned and the dropped ones audited as
//     grant.dropped.
func (s *Server) pickAudited(ctx context.Context, id providers.Identity, dec mapping.Decision, wanted []string) ([]mapping.Grant, error) {
	grants, err := pickGrants(dec, wanted)
	if err != nil && !errors.Is(err, errChoiceRequired) {
		var attrs []slog.Attr
		if len(dec.Grants) > 0 {
			attrs = append(attrs, slog.Any("offered", grantARNs(dec.Grants)))
		}
		s.auditRefused(ctx, id, dec, err, attrs...)
		return nil, err
	}
	s.auditDropped(ctx, id, dec)
	return grants, err
}

// grantARNs lists the grants' role ARNs, in order.
func grantARNs(grants []mapping.Grant) []string {
	out := make([]string, 0, len(grants))
	for _, g := range grants {
		out = append(out, g.RoleARN)
	}
	return out
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
	all := append([]slog.Attr{
		slog.String("event", event),
		slog.String("provider", id.Provider),
		slog.String("user", id.Username),
	}, attrs...)
	s.log.LogAttrs(ctx, slog.LevelInfo, "audit", all...)
}
