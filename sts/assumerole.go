package sts

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

const (
	actionAssumeRole = "AssumeRole"
	// maxChainedDuration is AWS's hard cap for role chaining.
	maxChainedDuration = time.Hour
)

// AssumeRoleInput are the AssumeRole request parameters. An empty string
// means "absent" (the Query API binding tells an empty parameter, as in
// "ExternalId=", from an absent one: the empty one fails its minimum length).
type AssumeRoleInput struct {
	RoleArn, RoleSessionName string
	Policy                   string
	PolicyArns               []string
	// DurationSeconds is nil for the default (3600).
	DurationSeconds   *int32
	Tags              []Tag
	TransitiveTagKeys []string
	ExternalId        string
	SerialNumber      string
	TokenCode         string
	SourceIdentity    string
	// SourceIP is the client address (aws:SourceIp); SecureTransport says
	// whether the request came over TLS (aws:SecureTransport; see
	// SecureTransport).
	SourceIP        string
	SecureTransport bool
	// RequestedRegion is the region of the request's SigV4 credential scope
	// (aws:RequestedRegion); "" means the STS's configured region.
	RequestedRegion string

	// empty: parameters sent empty on the wire (set by the Query API binding).
	empty emptyParams
}

// assumeRoleParams are the AssumeRole string parameters with a length
// constraint, in wire spelling.
var assumeRoleParams = []string{"RoleArn", "RoleSessionName", "Policy", "ExternalId", "SerialNumber", "TokenCode", "SourceIdentity"}

// AssumeRoleOutput is the AssumeRoleResult.
type AssumeRoleOutput struct {
	Credentials      Credentials     `xml:"Credentials" json:"Credentials"`
	AssumedRoleUser  AssumedRoleUser `xml:"AssumedRoleUser" json:"AssumedRoleUser"`
	PackedPolicySize *int            `xml:"PackedPolicySize,omitempty" json:"PackedPolicySize,omitempty"`
	SourceIdentity   string          `xml:"SourceIdentity,omitempty" json:"SourceIdentity,omitempty"`
}

func validateAssumeRoleInput(in *AssumeRoleInput, v *validation) error {
	e := in.empty
	v.checkARN("roleArn", in.RoleArn, e.present("RoleArn", in.RoleArn), true)
	v.checkName("roleSessionName", in.RoleSessionName, e.present("RoleSessionName", in.RoleSessionName), true)
	v.checkPolicy(in.Policy, e.present("Policy", in.Policy))
	v.checkPolicyArns(in.PolicyArns)
	v.checkDuration(in.DurationSeconds)
	v.checkTags("tags", in.Tags)
	v.checkTransitiveKeys(in.TransitiveTagKeys)
	v.checkParam("externalId", in.ExternalId, e.present("ExternalId", in.ExternalId), false, false, 2, 1224, externalIDChars)
	v.checkMFA(in.SerialNumber, in.TokenCode, e)
	v.checkName("sourceIdentity", in.SourceIdentity, e.present("SourceIdentity", in.SourceIdentity), false)
	return v.err()
}

func (s *Service) handleAssumeRole(ctx context.Context, req *Request) (any, error) {
	caller, region, err := s.authenticate(ctx, req.Action, req.HTTP, req.Body())
	if err != nil {
		return nil, err
	}
	var v validation
	in := &AssumeRoleInput{
		RoleArn:         req.Get("RoleArn"),
		RoleSessionName: req.Get("RoleSessionName"),
		Policy:          req.Get("Policy"),
		ExternalId:      req.Get("ExternalId"),
		SerialNumber:    req.Get("SerialNumber"),
		TokenCode:       req.Get("TokenCode"),
		SourceIdentity:  req.Get("SourceIdentity"),
		SourceIP:        req.SourceIP,
		SecureTransport: req.SecureTransport,
		RequestedRegion: region,
		empty:           emptyParamsOf(req, assumeRoleParams...),
	}
	if raw, ok := req.Lookup("DurationSeconds"); ok {
		in.DurationSeconds = parseDuration(raw, &v)
	}
	if in.PolicyArns, err = policyArnsParam(req); err != nil {
		return nil, err
	}
	if in.Tags, err = tagsParam(req, "Tags", &v); err != nil {
		return nil, err
	}
	if in.TransitiveTagKeys, err = req.List("TransitiveTagKeys"); err != nil {
		return nil, err
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return s.AssumeRole(ctx, caller, in)
}

// AssumeRole issues credentials for a role to a caller holding credentials
// minted by this STS (always role chaining: sessions are capped at one
// hour). The new credentials inherit the caller's SessionID and extend its
// ancestry (ParentAccessKeyIDs, ParentRoleARNs) with the caller; a caller
// already chained maxChainDepth (10) times is refused with ValidationError,
// and revoked caller credentials with InvalidClientTokenId. The target's trust policy must allow the caller — naming its role
// or session ARN directly, or naming the account, in which case the
// caller's role policies (intersected with its session policies) must also
// allow sts:AssumeRole on the target (STS-SPEC §7.5). Session tags need
// sts:TagSession, a source identity sts:SetSourceIdentity; transitive tags
// and the source identity of the caller are carried into the new session.
// A SerialNumber and TokenCode are verified by Config.MFA (mfa.go): the
// new session is MFA-authenticated from now, which the trust policy and
// the caller's policies see already; without them it inherits the caller's
// MFA and its time. Errors are *Error; every issue and refusal is audited.
func (s *Service) AssumeRole(ctx context.Context, caller *Session, in *AssumeRoleInput) (*AssumeRoleOutput, error) {
	ev := AuditEvent{Action: actionAssumeRole, RoleARN: in.RoleArn, SessionName: in.RoleSessionName, SourceIP: in.SourceIP}
	if caller == nil {
		return nil, s.deny(ctx, ev, apiError(http.StatusForbidden, "MissingAuthenticationToken", msgMissingAuth), "no caller session")
	}
	callerARN := caller.AssumedRoleARN()
	ev.Principal = callerARN
	ev.SessionID = caller.SessionID
	if s.revocations != nil && s.revocations.Revoked(caller.RevocationSubject()) {
		// A caller Session handed in directly (not from Authenticate in
		// this request) is checked here too: no chaining from revoked keys.
		return nil, s.deny(ctx, ev, errInvalidClientToken(), "caller credentials revoked")
	}
	var v validation
	if err := validateAssumeRoleInput(in, &v); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	if len(caller.ParentAccessKeyIDs) >= maxChainDepth {
		return nil, s.deny(ctx, ev, errChainTooDeep(), "")
	}
	denied := errAccessDenied("User: " + callerARN + " is not authorized to perform: sts:AssumeRole on resource: " + in.RoleArn)
	if awsspec.HasReservedPrefix(in.SourceIdentity) {
		return nil, s.deny(ctx, ev, errValidation("Source identity must not start with 'aws:'"), "")
	}
	if err := s.checkSessionPolicies(in.Policy, in.PolicyArns); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}

	// Session tags: inherited transitive tags plus the requested ones.
	var st sessionTags
	st.inherit(caller)
	for _, t := range in.Tags {
		switch err := st.add(t.Key, t.Value); {
		case errors.Is(err, errTagReserved):
			return nil, s.deny(ctx, ev, errValidation("Tag keys must not start with 'aws:'"), "")
		case errors.Is(err, errTagDuplicate):
			return nil, s.deny(ctx, ev, errValidation("Duplicate tag keys found. Please note that Tag keys are case insensitive."), "")
		case errors.Is(err, errTagInherited):
			return nil, s.deny(ctx, ev, errValidation("One or more of the specified session tag keys conflict with the keys of inherited transitive tags: "+t.Key), "")
		}
	}
	for _, k := range in.TransitiveTagKeys {
		if st.addTransitive(k) != nil {
			return nil, s.deny(ctx, ev, errValidation("The transitive tag key "+k+" is not among the session tags of the request"), "")
		}
	}
	if len(st.tags) > awsspec.MaxSessionTags {
		return nil, s.deny(ctx, ev, errValidation("The number of session tags, including inherited transitive tags, exceeds 50"), "")
	}

	// Source identity is immutable along a role chain.
	sourceIdentity := caller.SourceIdentity
	if in.SourceIdentity != "" {
		if sourceIdentity != "" && in.SourceIdentity != sourceIdentity {
			return nil, s.deny(ctx, ev, denied, "source identity cannot be changed once set")
		}
		sourceIdentity = in.SourceIdentity
	}

	r := s.roles[in.RoleArn]
	if r == nil {
		return nil, s.deny(ctx, ev, denied, "no such role")
	}
	now := s.now().UTC()
	// The new session's MFA is the caller's (with its time) unless this
	// call proves one itself; verified last before the decision, so that a
	// call refused for another reason does not use the code up.
	mfa, mfaAt := caller.MFA, caller.MFAAuthTime
	if in.SerialNumber != "" || in.TokenCode != "" {
		at, reason, err := s.verifyTokenCode(ctx, caller, in, now)
		if err != nil {
			return nil, s.deny(ctx, ev, err, reason)
		}
		mfa, mfaAt = true, at
	}
	pctx := policy.NewContext()
	q := &trustRequest{
		role: r, action: "sts:AssumeRole",
		principalType: policy.PrincipalAWS, principal: []string{callerARN, caller.RoleARN},
		sessionName: in.RoleSessionName, sourceIdentity: sourceIdentity,
		tags: tagsOf(in.Tags), transitive: in.TransitiveTagKeys, tagSession: len(st.tags) > 0,
		sourceIP: in.SourceIP, secure: in.SecureTransport, region: in.RequestedRegion, now: now,
	}
	s.fillSessionContext(pctx, caller, now)
	setMFAKeys(pctx, mfa, mfaAt, now)
	if in.ExternalId != "" {
		pctx.Set("sts:ExternalId", in.ExternalId)
	}
	callerPolicies, sessPolicies, err := s.sessionPolicySet(caller)
	if err != nil {
		return nil, s.deny(ctx, ev, denied, "caller session: "+err.Error())
	}
	account := map[string][]string{policy.PrincipalAWS: {awsspec.RootARN(awsspec.PartitionOf(caller.RoleARN), caller.Account)}}
	reason := s.checkTrust(q, pctx, func(action string, trust policy.Result) string {
		id := policy.Authorize(&policy.Request{Action: action, Resource: r.arn, Context: pctx}, callerPolicies, sessPolicies)
		switch {
		case trust.Decision == policy.ExplicitDeny:
			return "trust policy: " + action + ": ExplicitDeny"
		case id.Decision == policy.ExplicitDeny:
			return "caller policies: " + action + ": ExplicitDeny"
		case trust.Decision != policy.Allow:
			return "trust policy: " + action + ": " + trust.Decision.String()
		}
		// Allowed by naming the account (not the caller): the caller's own
		// policies must allow it too.
		viaAccount := r.trust.Evaluate(&policy.Request{Action: action, Resource: r.arn, Principal: account, Context: pctx})
		if viaAccount.Decision == policy.Allow && id.Decision != policy.Allow {
			return "trust policy names the account; caller policies: " + action + ": " + id.Decision.String()
		}
		return ""
	})
	if reason != "" {
		return nil, s.deny(ctx, ev, denied, reason)
	}

	duration := time.Duration(durationOf(in.DurationSeconds)) * time.Second
	if duration > maxChainedDuration {
		return nil, s.deny(ctx, ev, errValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."), "")
	}
	if duration > r.maxDuration {
		return nil, s.deny(ctx, ev, errDurationOverRoleMax(), "")
	}
	packed, err := checkPackedSize(in.Policy, in.PolicyArns, st.tags)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	creds, user, err := s.mint(ctx, mintParams{
		role: r, sessionName: in.RoleSessionName, sourceIdentity: sourceIdentity,
		policy: in.Policy, policyARNs: in.PolicyArns, tags: st.tags, transitive: st.transitive,
		duration: duration, chained: true, mfa: mfa, mfaAuthTime: mfaAt, provider: caller.Provider,
		federated: caller.FederatedKeys, now: now,
		// The new credentials keep the caller's login session and record
		// the caller as their parent, so that revoking the session, the
		// caller's key or its role reaches them too.
		sessionID:    caller.SessionID,
		parentKeys:   appendAncestor(caller.ParentAccessKeyIDs, caller.AccessKeyID),
		parentRoles:  appendAncestor(caller.ParentRoleARNs, caller.RoleARN),
		parentIssued: appendAncestor(unixSeconds(caller.ParentIssuedAt), caller.IssuedAt.Unix()),
	})
	if err != nil {
		return nil, s.mintFailed(ctx, ev, err)
	}
	s.emitIssued(ctx, ev, creds)
	out := &AssumeRoleOutput{Credentials: creds, AssumedRoleUser: user, SourceIdentity: sourceIdentity}
	if in.Policy != "" || len(in.PolicyArns) > 0 || len(st.tags) > 0 {
		out.PackedPolicySize = &packed
	}
	return out, nil
}

// appendAncestor returns ancestry with one more entry, never sharing the
// caller's backing array.
func appendAncestor[T any](ancestry []T, v T) []T {
	out := make([]T, len(ancestry), len(ancestry)+1)
	copy(out, ancestry)
	return append(out, v)
}

// unixSeconds converts times to Unix seconds.
func unixSeconds(ts []time.Time) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.Unix()
	}
	return out
}
