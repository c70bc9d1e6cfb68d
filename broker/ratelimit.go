package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/ratelimit"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// Issuance limits: every surface that issues (the JSON API, the portal,
// the OAuth token endpoint, AssumeRoleWithLDAPIdentity) passes admitIssue
// once per request, in the issuing seam (issue.go), after the grants are
// picked and before anything is signed: a throttled request has issued
// nothing and used nothing up. The STS's own actions are limited by the
// STS (sts/limits.go) with the same limiter (STSLimiter): a person counts
// once, whichever way they come.

// IssueLimiter decides issuances against the configured limits
// (internal/ratelimit's *Limiter implements it).
type IssueLimiter interface {
	Admit(ctx context.Context, req ratelimit.Request) (ratelimit.Decision, error)
}

// errThrottled is the private reason of a throttled issuance.
var errThrottled = errors.New("issuance rate limit exceeded")

// Person is the key a per-user limit counts a broker user under.
func Person(provider, username string) string { return provider + "/" + username }

// admitIssue asks the limiter about issuing grants to id. Refusals are
// classThrottled (audited once per burst as issue.throttled) or, when the
// limits cannot be checked, classSessionUnavailable (the shared store is
// down: fail closed).
func (s *Server) admitIssue(ctx context.Context, id providers.Identity, grants []mapping.Grant, opts issueOptions) error {
	if s.cfg.Limiter == nil || ctx.Value(admittedKey{}) != nil {
		return nil
	}
	roles := make([]string, len(grants))
	for i, g := range grants {
		roles[i] = g.RoleARN
	}
	return s.admit(ctx, id, roles, opts.SourceIP)
}

// admittedKey marks a context whose issuances were admitted together
// beforehand (admitAll).
type admittedKey struct{}

// admitAll admits the issuance of every role of a request that issues
// them one at a time (the portal's form), so that a limit reached half-way
// cannot leave credentials issued and never shown; the context it returns
// lets each issue through.
func (s *Server) admitAll(ctx context.Context, id providers.Identity, roles []string) (context.Context, error) {
	if s.cfg.Limiter == nil {
		return ctx, nil
	}
	arns := make([]string, len(roles))
	for i, r := range roles {
		arns[i] = s.roleARNOf(r)
	}
	if err := s.admit(ctx, id, arns, ""); err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, admittedKey{}, true), nil
}

// roleARNOf is the ARN of a role asked for by name (a configured role's),
// so that a role counts under one key however it was named.
func (s *Server) roleARNOf(role string) string {
	if strings.HasPrefix(role, "arn:") {
		return role
	}
	for _, arn := range s.cfg.RoleARNs {
		if awsspec.RoleNameFromARN(arn) == role {
			return arn
		}
	}
	return role
}

// admit asks the limiter about issuing roles to id.
func (s *Server) admit(ctx context.Context, id providers.Identity, roles []string, source string) error {
	info := requestInfoFrom(ctx)
	req := ratelimit.Request{Surface: info.surface(), User: Person(id.Provider, id.Username), Source: source, RoleARNs: roles}
	if req.Source == "" {
		req.Source = info.client
	}
	d, err := s.cfg.Limiter.Admit(ctx, req)
	if err != nil {
		rid := uuid.NewString()
		s.log.WarnContext(ctx, "issuance limits cannot be checked: refusing", slog.String("request_id", rid), slog.Any("err", err))
		return &refusal{class: classSessionUnavailable, err: err, rid: rid}
	}
	if d.Allowed {
		return nil
	}
	if d.Audit {
		s.audit(ctx, "issue.throttled", id, slog.String("limit", d.Limit), slog.String("surface", req.Surface),
			slog.String("client_ip", req.Source), slog.Any("roles", req.RoleARNs), slog.Duration("retry_after", d.RetryAfter))
	}
	return &refusal{class: classThrottled, err: fmt.Errorf("%w (%s limit)", errThrottled, d.Limit), retryAfter: d.RetryAfter}
}

// STSLimiter adapts l to the STS's direct actions. A login of the broker's
// own (its OIDC issuer's JWT or its SAML IdP's assertion, whose subject
// names the role first: Subject) counts as the same person as on the
// broker's surfaces; any other federated subject as "<provider ARN>|<sub>".
func STSLimiter(l IssueLimiter, t Trust) sts.IssueLimiter {
	return stsLimiter{l: l, own: []string{
		awsspec.OIDCProviderARN(t.Partition, t.Account, awsspec.IssuerHostPath(t.PublicURL)), t.SAMLProviderARN(),
	}}
}

type stsLimiter struct {
	l   IssueLimiter
	own []string
}

// AdmitIssue implements sts.IssueLimiter.
func (a stsLimiter) AdmitIssue(ctx context.Context, req sts.IssueLimitRequest) (sts.IssueAdmission, error) {
	d, err := a.l.Admit(ctx, ratelimit.Request{
		Surface: "sts", User: a.person(req.Provider, req.Subject), RoleARNs: []string{req.RoleARN}, Source: req.SourceIP,
	})
	return sts.IssueAdmission{Allowed: d.Allowed, RetryAfter: d.RetryAfter, Limit: d.Limit, Audit: d.Audit}, err
}

func (a stsLimiter) person(provider, subject string) string {
	if provider == "" || subject == "" {
		return ""
	}
	for _, own := range a.own {
		if provider == own {
			if _, person, ok := strings.Cut(subject, "/"); ok {
				return person
			}
		}
	}
	return provider + "|" + subject
}
