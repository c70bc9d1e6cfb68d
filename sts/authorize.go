package sts

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/idbroker/idbroker/sts/policy"
)

// Authorize decides a request made with credentials minted by this STS:
// the session's role policies intersected with its session policies
// (inline Policy and PolicyArns), explicit deny winning (STS-SPEC §7.5).
//
// ctx carries the request's context keys (aws:SourceIp, aws:SecureTransport,
// aws:RequestedRegion, aws:RequestTag/..., service keys). aws:SecureTransport
// is "true" only when ctx says so (any other or no value is "false": a
// request is not taken to have used TLS unless the caller knows it did);
// aws:RequestedRegion defaults to the STS's configured region. Keys that describe
// the principal are always taken from the session and override ctx:
// aws:userid, aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
// aws:PrincipalTag/*, aws:TokenIssueTime, aws:MultiFactorAuthPresent,
// aws:MultiFactorAuthAge (seconds since the session's MFA; absent without
// one), aws:SourceIdentity, aws:FederatedProvider and the provider keys kept in
// the session (saml:sub, ...); aws:username is absent for role sessions;
// aws:CurrentTime and aws:EpochTime come from the STS clock.
//
// An error means the session cannot be evaluated (its role or a session
// policy ARN is no longer configured, or its policy does not parse); treat
// it as a deny.
func (s *Service) Authorize(sess *Session, action, resource string, ctx map[string][]string) (policy.Result, error) {
	if sess == nil {
		return policy.Result{Decision: policy.ImplicitDeny}, errors.New("sts: Authorize: nil session")
	}
	roleP, sessP, err := s.sessionPolicySet(sess)
	if err != nil {
		return policy.Result{Decision: policy.ImplicitDeny}, err
	}
	pctx := policy.NewContext()
	secure, region := false, ""
	for k, vals := range ctx {
		switch {
		case isPrincipalKey(k):
			continue
		case strings.EqualFold(k, "aws:SecureTransport"):
			secure = len(vals) == 1 && strings.EqualFold(vals[0], "true")
			continue
		case strings.EqualFold(k, "aws:RequestedRegion"):
			if len(vals) == 1 {
				region = vals[0]
			}
			continue
		}
		pctx.Set(k, vals...)
	}
	s.setTransportKeys(pctx, secure, region)
	s.fillSessionContext(pctx, sess, s.now().UTC())
	return policy.Authorize(&policy.Request{Action: action, Resource: resource, Context: pctx}, roleP, sessP), nil
}

// sessionPolicySet returns the role policies of a session and its session
// policies (nil when the session has none, so that they do not narrow).
func (s *Service) sessionPolicySet(sess *Session) (rolePolicies, sessionPolicies []*policy.Policy, err error) {
	r := s.roles[sess.RoleARN]
	if r == nil {
		return nil, nil, fmt.Errorf("sts: role %s is not configured", sess.RoleARN)
	}
	if sess.Policy == "" && len(sess.PolicyARNs) == 0 {
		return r.policies, nil, nil
	}
	sp := make([]*policy.Policy, 0, 1+len(sess.PolicyARNs))
	if sess.Policy != "" {
		// The same session presents the same policy on every request:
		// compile it once (the token is authentic, so only sessions this
		// STS minted reach the cache).
		p, err := s.sessionPolicyCache.Parse([]byte(sess.Policy), policy.Identity, sessionPolicyName)
		if err != nil {
			return nil, nil, fmt.Errorf("sts: session policy: %w", err)
		}
		sp = append(sp, p)
	}
	for _, arn := range sess.PolicyARNs {
		p, ok := s.managed[arn]
		if !ok {
			return nil, nil, fmt.Errorf("sts: session policy %s is not configured", arn)
		}
		sp = append(sp, p)
	}
	return r.policies, sp, nil
}

// sessionPolicyName labels an inline session policy in Match.Policy.
const sessionPolicyName = "session policy"

// sessionPolicyCacheSize bounds the compiled session policies kept: a
// 2048-character policy compiles to about 20 KB, so at most about 5 MB.
const sessionPolicyCacheSize = 256

// principalKeyPrefixes are context keys that describe the principal; they
// come only from the session (lower case).
var principalKeyPrefixes = []string{
	"aws:userid", "aws:username", "aws:principal", "aws:tokenissuetime",
	"aws:multifactorauth", "aws:sourceidentity", "aws:federatedprovider",
	"aws:currenttime", "aws:epochtime", "saml:",
}

func isPrincipalKey(k string) bool {
	lk := strings.ToLower(k)
	for _, p := range principalKeyPrefixes {
		if strings.HasPrefix(lk, p) {
			return true
		}
	}
	// Web identity provider keys look like "<host/path>:sub".
	// Web identity provider keys look like "<host/path>:sub": the part
	// before the first colon is a host name.
	svc, _, _ := strings.Cut(lk, ":")
	return strings.Contains(svc, ".")
}

// fillSessionContext sets the principal keys of a role session (STS-SPEC §7.4).
func (s *Service) fillSessionContext(pctx *policy.Context, sess *Session, now time.Time) {
	pctx.Delete("aws:username")
	pctx.Set("aws:userid", sess.AssumedRoleID())
	pctx.Set("aws:PrincipalArn", sess.RoleARN)
	pctx.Set("aws:PrincipalAccount", sess.Account)
	pctx.Set("aws:PrincipalType", "AssumedRole")
	for k, v := range sess.Tags {
		pctx.Set("aws:PrincipalTag/"+k, v)
	}
	if !sess.IssuedAt.IsZero() {
		pctx.Set("aws:TokenIssueTime", sess.IssuedAt.UTC().Format(time.RFC3339))
	}
	setMFAKeys(pctx, sess.MFA, sess.MFAAuthTime, now)
	if sess.SourceIdentity != "" {
		pctx.Set("aws:SourceIdentity", sess.SourceIdentity)
	}
	if sess.Provider != "" {
		pctx.Set("aws:FederatedProvider", sess.Provider)
	}
	for k, v := range sess.FederatedKeys {
		pctx.Set(k, v...)
	}
	setTimeKeys(pctx, now)
}
