package sts

import (
	"strconv"
	"time"

	"github.com/idbroker/idbroker/sts/policy"
)

// trustRequest is what a request for a role session asks of the role's
// trust policy. The three actions that issue sessions (AssumeRole,
// AssumeRoleWithSAML, AssumeRoleWithWebIdentity) fill it and decide with
// checkTrust; only the principal, the action and the condition keys that
// describe the caller differ between them.
type trustRequest struct {
	role *role
	// action is the action asked for: sts:AssumeRole, sts:AssumeRoleWithSAML, …
	action string
	// principalType and principal are who asks, as the trust policy's
	// Principal names it (policy.PrincipalFederated, policy.PrincipalAWS).
	principalType  string
	principal      []string
	sessionName    string
	sourceIdentity string
	// tags and transitive are the session tags the request sets
	// (aws:RequestTag/*, aws:TagKeys, sts:TransitiveTagKeys).
	tags       map[string]string
	transitive []string
	// tagSession: the session carries tags, so sts:TagSession is asked too.
	tagSession bool
	sourceIP   string
	secure     bool
	// region is aws:RequestedRegion; "" is the STS's configured region.
	region string
	now    time.Time
}

// actions are the actions a session needs allowed (STS-SPEC §8.2): the
// action itself, sts:TagSession when it carries tags, and
// sts:SetSourceIdentity when it sets a source identity.
func (q *trustRequest) actions() []string {
	actions := make([]string, 1, 3)
	actions[0] = q.action
	if q.tagSession {
		actions = append(actions, "sts:TagSession")
	}
	if q.sourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	return actions
}

// fillContext adds to pctx the keys every session request carries:
// sts:RoleSessionName, sts:SourceIdentity, the requested tags, the time,
// the client's address and transport.
func (s *Service) fillContext(pctx *policy.Context, q *trustRequest) {
	pctx.Set("sts:RoleSessionName", q.sessionName)
	if q.sourceIdentity != "" {
		pctx.Set("sts:SourceIdentity", q.sourceIdentity)
	}
	setRequestTagKeys(pctx, q.tags, q.transitive)
	setTimeKeys(pctx, q.now)
	if q.sourceIP != "" {
		pctx.Set("aws:SourceIp", q.sourceIP)
	}
	s.setTransportKeys(pctx, q.secure, q.region)
}

// checkTrust adds the request's keys to pctx, which holds the action's own
// (the identity provider's keys, or the calling session's), and evaluates,
// for each action the session needs, the role's trust policy with q's
// principal. With decide nil every action must be allowed by the trust
// policy; decide, when set, makes the whole decision for an action from
// the trust policy's result (AssumeRole weighs the caller's own policies
// too). It returns "" when every action is allowed, or the audit reason of
// the first refusal. (pctx is a parameter of its own, not a field of q, so
// that it can stay on the caller's stack.)
func (s *Service) checkTrust(q *trustRequest, pctx *policy.Context, decide func(action string, trust policy.Result) string) string {
	s.fillContext(pctx, q)
	principal := map[string][]string{q.principalType: q.principal}
	for _, action := range q.actions() {
		res := q.role.trust.Evaluate(&policy.Request{Action: action, Resource: q.role.arn, Principal: principal, Context: pctx})
		var reason string
		if decide != nil {
			reason = decide(action, res)
		} else if res.Decision != policy.Allow {
			reason = "trust policy: " + action + ": " + res.Decision.String()
		}
		if reason != "" {
			return reason
		}
	}
	return ""
}

// setTimeKeys fills aws:CurrentTime and aws:EpochTime.
func setTimeKeys(pctx *policy.Context, now time.Time) {
	pctx.Set("aws:CurrentTime", now.UTC().Format(time.RFC3339))
	pctx.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
}

// setRequestTagKeys fills aws:RequestTag/*, aws:TagKeys and sts:TransitiveTagKeys.
func setRequestTagKeys(pctx *policy.Context, tags map[string]string, transitive []string) {
	if len(tags) > 0 {
		keys := make([]string, 0, len(tags))
		for k, v := range tags {
			pctx.Set("aws:RequestTag/"+k, v)
			keys = append(keys, k)
		}
		pctx.Set("aws:TagKeys", keys...)
	}
	if len(transitive) > 0 {
		pctx.Set("sts:TransitiveTagKeys", transitive...)
	}
}
