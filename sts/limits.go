package sts

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Issuance limits of the Query API: credentials asked of the STS directly
// (AssumeRoleWithWebIdentity, AssumeRoleWithSAML, AssumeRole over HTTP)
// pass the IssueLimiter once, in mint, after every check of the request and
// before anything is sealed or claimed: a refused request has issued
// nothing and used nothing up (a SAML assertion refused for throttling can
// be redeemed later). The broker's own issuing calls the Go API in process
// and is limited by the broker (one decision per request): so is a
// registered action such as AssumeRoleWithLDAPIdentity.

// IssueLimiter decides whether credentials may be issued now (cmd/idbroker
// wires internal/ratelimit). An error means the limits could not be
// checked: the request is refused with ServiceUnavailable.
type IssueLimiter interface {
	AdmitIssue(ctx context.Context, req IssueLimitRequest) (IssueAdmission, error)
}

// IssueLimitRequest is one issuance to decide.
type IssueLimitRequest struct {
	// Action is the Query API action.
	Action string
	// Provider and Subject name the person the credentials come from: the
	// ARN of the identity provider of the login at the root of the chain
	// (web identity or SAML) and its subject there (sub, NameID). Both are
	// "" for credentials that came from no federated login.
	Provider, Subject string
	// RoleARN is the role asked for.
	RoleARN string
	// SourceIP is the client's address.
	SourceIP string
}

// IssueAdmission is an IssueLimiter's answer.
type IssueAdmission struct {
	Allowed bool
	// RetryAfter is how long a refused client should wait (informational:
	// AWS's Throttling answer carries no such header).
	RetryAfter time.Duration
	// Limit names the limit that refused (for the audit log).
	Limit string
	// Audit: this refusal is the first of its burst and is audited; the
	// others are logged at DEBUG only.
	Audit bool
}

// errThrottling is AWS's answer to a request over a rate limit: 400
// Throttling "Rate exceeded". AWS SDKs retry it with backoff.
func errThrottling() *Error {
	return newError(http.StatusBadRequest, codeThrottling, "Rate exceeded")
}

// codeThrottling is the code of errThrottling.
const codeThrottling = "Throttling"

// throttled is mint's refusal of a request over a limit.
type throttled struct {
	adm IssueAdmission
}

func (t *throttled) Error() string { return "rate exceeded (" + t.adm.Limit + " limit)" }

// limitsUnavailable is mint's refusal when the limits cannot be checked.
type limitsUnavailable struct{ err error }

func (e *limitsUnavailable) Error() string { return "issuance limits: " + e.err.Error() }
func (e *limitsUnavailable) Unwrap() error { return e.err }

// directAction reports whether ctx is a Query API request for one of the
// built-in actions that issue (not a registered action, not an in-process
// call): the requests the STS limits itself.
func directAction(ctx context.Context) (*reqState, bool) {
	st := reqStateFrom(ctx)
	if st == nil {
		return nil, false
	}
	switch st.action {
	case actionWebIdentity, actionSAML, actionAssumeRole:
		return st, true
	}
	return nil, false
}

// admitIssue asks the limiter about the credentials p describes, for a
// direct request; nil when they may be issued.
func (s *Service) admitIssue(ctx context.Context, p *mintParams) error {
	if s.limiter == nil {
		return nil
	}
	st, ok := directAction(ctx)
	if !ok {
		return nil
	}
	req := IssueLimitRequest{Action: st.action, Provider: p.provider, RoleARN: p.role.arn, SourceIP: st.sourceIP}
	req.Subject = federatedSubject(p.federated)
	adm, err := s.limiter.AdmitIssue(ctx, req)
	if err != nil {
		return &limitsUnavailable{err: err}
	}
	if !adm.Allowed {
		return &throttled{adm: adm}
	}
	return nil
}

// federatedSubject is the subject among a session's federated condition
// keys: saml:sub, or the <provider>:sub of web identity.
func federatedSubject(keys map[string][]string) string {
	if v := keys["saml:sub"]; len(v) > 0 {
		return v[0]
	}
	for k, v := range keys {
		if strings.HasSuffix(k, ":sub") && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// limitRefusal answers a mint refused by admitIssue (nil for any other
// error): Throttling, audited for the first refusal of a burst only (the
// others are marked audited, so that ServeHTTP adds no record, and logged at
// DEBUG); ServiceUnavailable when the limits could not be checked.
func (s *Service) limitRefusal(ctx context.Context, ev AuditEvent, err error) error {
	var th *throttled
	if errors.As(err, &th) {
		ae := errThrottling()
		if th.adm.Audit {
			return s.deny(ctx, ev, ae, "rate exceeded: "+th.adm.Limit+" limit (audited once per burst)")
		}
		if st := reqStateFrom(ctx); st != nil {
			st.audited = true
		}
		s.log.DebugContext(ctx, "sts: throttled", "action", ev.Action, "limit", th.adm.Limit, "role_arn", ev.RoleARN)
		return ae
	}
	var lu *limitsUnavailable
	if errors.As(err, &lu) {
		s.log.ErrorContext(ctx, "sts: issuance limits cannot be checked", slog.Any("err", lu.err))
		return s.deny(ctx, ev, apiError(http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request."), lu.Error())
	}
	return nil
}
