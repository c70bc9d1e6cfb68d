package sts

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idbroker/idbroker/sts/policy"
)

const (
	actionAssumeRole = "AssumeRole"
	// maxChainedDuration is AWS's hard cap for role chaining.
	maxChainedDuration = time.Hour
	// Session/federation token durations (STS-SPEC §2.5, §2.6).
	maxUserTokenDuration = 129600
)

var (
	externalIDPattern   = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	serialNumberPattern = regexp.MustCompile(`^[\w+=/:,.@-]*$`)
	tokenCodePattern    = regexp.MustCompile(`^[0-9]*$`)
	accessKeyPattern    = regexp.MustCompile(`^\w*$`)
	tagKeyPattern       = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
)

const (
	patternExternalID   = `[\w+=,.@:\/-]*`
	patternSerialNumber = `[\w+=/:,.@-]*`
	patternTokenCode    = `[\d]*`
	patternAccessKey    = `[\w]*`
	patternTagKey       = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	patternTagValue     = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
)

// Tag is a session tag.
type Tag struct {
	Key, Value string
}

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

// GetAccessKeyInfoOutput is the GetAccessKeyInfoResult.
type GetAccessKeyInfoOutput struct {
	Account string `xml:"Account" json:"Account"`
}

// tagsParam reads Tags.member.N.Key/Value; a member without Key or Value is
// a null-constraint violation recorded in v.
func tagsParam(req *Request, name string, v *validation) ([]Tag, error) {
	list, err := req.StructList(name, "Key", "Value")
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(list))
	for i, m := range list {
		k, hasK := m["Key"]
		val, hasV := m["Value"]
		member := lowerFirst(name) + "." + strconv.Itoa(i+1) + ".member."
		if !hasK {
			v.null(member + "key")
		}
		if !hasV {
			v.null(member + "value")
		}
		out = append(out, Tag{Key: k, Value: val})
	}
	return out, nil
}

// checkTags applies the Tag list constraints (STS-SPEC §2, §8.2).
func (v *validation) checkTags(member string, tags []Tag) {
	if len(tags) > maxTags {
		v.add(member, tagsString(tags), false, "have length less than or equal to 50")
	}
	for i, t := range tags {
		pfx := member + "." + strconv.Itoa(i+1) + ".member."
		// Key is required: a member without one was refused as null when
		// the request was read, so an empty Key here was sent empty.
		v.checkParam(pfx+"key", t.Key, true, true, false, 1, 128, tagKeyPattern, patternTagKey)
		if n := utf8.RuneCountInString(t.Value); n > 256 {
			v.add(pfx+"value", t.Value, false, "have length less than or equal to 256")
		}
		if !tagPattern.MatchString(t.Value) {
			v.add(pfx+"value", t.Value, false, "satisfy regular expression pattern: "+patternTagValue)
		}
	}
}

func tagsString(tags []Tag) string {
	parts := make([]string, len(tags))
	for i, t := range tags {
		parts[i] = "Tag(key=" + t.Key + ", value=" + t.Value + ")"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (v *validation) checkTransitiveKeys(keys []string) {
	if len(keys) > maxTags {
		v.add("transitiveTagKeys", "["+strings.Join(keys, ", ")+"]", false, "have length less than or equal to 50")
	}
	for i, k := range keys {
		// A list member is always present; an empty one was sent empty.
		v.checkParam("transitiveTagKeys."+strconv.Itoa(i+1)+".member", k, true, true, false, 1, 128, tagKeyPattern, patternTagKey)
	}
}

// checkDurationRange is checkDuration with the action's own bounds.
func (v *validation) checkDurationRange(d *int32, lo, hi int) {
	if d == nil {
		return
	}
	s := strconv.Itoa(int(*d))
	if int(*d) < lo {
		v.add("durationSeconds", s, false, "have value greater than or equal to "+strconv.Itoa(lo))
	}
	if int(*d) > hi {
		v.add("durationSeconds", s, false, "have value less than or equal to "+strconv.Itoa(hi))
	}
}

func (v *validation) checkMFA(serial, code string, empty emptyParams) {
	v.checkParam("serialNumber", serial, empty.present("SerialNumber", serial), false, false, 9, 256, serialNumberPattern, patternSerialNumber)
	if empty.present("TokenCode", code) {
		if utf8.RuneCountInString(code) != 6 {
			if len(code) < 6 {
				v.add("tokenCode", code, false, "have length greater than or equal to 6")
			} else {
				v.add("tokenCode", code, false, "have length less than or equal to 6")
			}
		}
		if !tokenCodePattern.MatchString(code) {
			v.add("tokenCode", code, false, "satisfy regular expression pattern: "+patternTokenCode)
		}
	}
}

func validateAssumeRoleInput(in *AssumeRoleInput, v *validation) error {
	e := in.empty
	v.checkParam("roleArn", in.RoleArn, e.present("RoleArn", in.RoleArn), true, false, 20, 2048, arnCharsPattern, patternARN)
	v.checkParam("roleSessionName", in.RoleSessionName, e.present("RoleSessionName", in.RoleSessionName), true, false, 2, 64, sessionNamePattern, patternSessionName)
	v.checkParam("policy", in.Policy, e.present("Policy", in.Policy), false, false, 1, maxPolicyLen, policyCharsPattern, patternPolicy)
	v.checkPolicyArns(in.PolicyArns)
	v.checkDuration(in.DurationSeconds)
	v.checkTags("tags", in.Tags)
	v.checkTransitiveKeys(in.TransitiveTagKeys)
	v.checkParam("externalId", in.ExternalId, e.present("ExternalId", in.ExternalId), false, false, 2, 1224, externalIDPattern, patternExternalID)
	v.checkMFA(in.SerialNumber, in.TokenCode, e)
	v.checkParam("sourceIdentity", in.SourceIdentity, e.present("SourceIdentity", in.SourceIdentity), false, false, 2, 64, sessionNamePattern, patternSessionName)
	return v.err()
}

func (s *Service) handleAssumeRole(ctx context.Context, req *Request) (any, error) {
	caller, region, err := s.authenticate(req.HTTP, req.Body())
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
// hour). The target's trust policy must allow the caller — naming its role
// or session ARN directly, or naming the account, in which case the
// caller's role policies (intersected with its session policies) must also
// allow sts:AssumeRole on the target (STS-SPEC §7.5). Session tags need
// sts:TagSession, a source identity sts:SetSourceIdentity; transitive tags
// and the source identity of the caller are carried into the new session.
// Errors are *Error; every issue and refusal is audited.
func (s *Service) AssumeRole(ctx context.Context, caller *Session, in *AssumeRoleInput) (*AssumeRoleOutput, error) {
	ev := AuditEvent{Action: actionAssumeRole, RoleARN: in.RoleArn, SessionName: in.RoleSessionName, SourceIP: in.SourceIP}
	if caller == nil {
		return nil, s.deny(ctx, ev, apiError(http.StatusForbidden, "MissingAuthenticationToken", msgMissingAuth), "no caller session")
	}
	callerARN := caller.AssumedRoleARN()
	ev.Principal = callerARN
	var v validation
	if err := validateAssumeRoleInput(in, &v); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	denied := errAccessDenied("User: " + callerARN + " is not authorized to perform: sts:AssumeRole on resource: " + in.RoleArn)
	if in.SerialNumber != "" || in.TokenCode != "" {
		// No MFA devices exist in this STS, so no code can be validated.
		return nil, s.deny(ctx, ev, errAccessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code. "), "MFA parameters given; no MFA device is registered")
	}
	if strings.HasPrefix(strings.ToLower(in.SourceIdentity), "aws:") {
		return nil, s.deny(ctx, ev, errValidation("Source identity must not start with 'aws:'"), "")
	}
	if err := s.checkSessionPolicies(in.Policy, in.PolicyArns); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}

	// Session tags: inherited transitive tags plus the requested ones.
	tags := map[string]string{}
	var transitive []string
	inherited := map[string]bool{}
	for _, k := range caller.TransitiveTagKeys {
		if val, ok := caller.Tags[k]; ok {
			tags[k] = val
			transitive = append(transitive, k)
			inherited[strings.ToLower(k)] = true
		}
	}
	requested := map[string]bool{}
	for _, t := range in.Tags {
		lk := strings.ToLower(t.Key)
		if strings.HasPrefix(lk, "aws:") {
			return nil, s.deny(ctx, ev, errValidation("Tag keys must not start with 'aws:'"), "")
		}
		if requested[lk] {
			return nil, s.deny(ctx, ev, errValidation("Duplicate tag keys found. Please note that Tag keys are case insensitive."), "")
		}
		if inherited[lk] {
			return nil, s.deny(ctx, ev, errValidation("One or more of the specified session tag keys conflict with the keys of inherited transitive tags: "+t.Key), "")
		}
		requested[lk] = true
		tags[t.Key] = t.Value
	}
	for _, k := range in.TransitiveTagKeys {
		if !requested[strings.ToLower(k)] {
			return nil, s.deny(ctx, ev, errValidation("The transitive tag key "+k+" is not among the session tags of the request"), "")
		}
		transitive = append(transitive, k)
	}
	if len(tags) > maxTags {
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
	pctx := policy.NewContext()
	s.fillSessionContext(pctx, caller, now)
	setRequestTagKeys(pctx, tagsOf(in.Tags), in.TransitiveTagKeys)
	pctx.Set("sts:RoleSessionName", in.RoleSessionName)
	if in.ExternalId != "" {
		pctx.Set("sts:ExternalId", in.ExternalId)
	}
	if sourceIdentity != "" {
		pctx.Set("sts:SourceIdentity", sourceIdentity)
	}
	if in.SourceIP != "" {
		pctx.Set("aws:SourceIp", in.SourceIP)
	}
	s.setTransportKeys(pctx, in.SecureTransport, in.RequestedRegion)
	actions := []string{"sts:AssumeRole"}
	if len(tags) > 0 {
		actions = append(actions, "sts:TagSession")
	}
	if sourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	callerPolicies, sessPolicies, err := s.sessionPolicySet(caller)
	if err != nil {
		return nil, s.deny(ctx, ev, denied, "caller session: "+err.Error())
	}
	direct := map[string][]string{policy.PrincipalAWS: {callerARN, caller.RoleARN}}
	account := map[string][]string{policy.PrincipalAWS: {"arn:" + partitionOf(caller.RoleARN) + ":iam::" + caller.Account + ":root"}}
	for _, action := range actions {
		req := &policy.Request{Action: action, Resource: r.arn, Principal: direct, Context: pctx}
		trust := r.trust.Evaluate(req)
		id := policy.Authorize(&policy.Request{Action: action, Resource: r.arn, Context: pctx}, callerPolicies, sessPolicies)
		switch {
		case trust.Decision == policy.ExplicitDeny:
			return nil, s.deny(ctx, ev, denied, "trust policy: "+action+": ExplicitDeny")
		case id.Decision == policy.ExplicitDeny:
			return nil, s.deny(ctx, ev, denied, "caller policies: "+action+": ExplicitDeny")
		case trust.Decision != policy.Allow:
			return nil, s.deny(ctx, ev, denied, "trust policy: "+action+": "+trust.Decision.String())
		}
		// Allowed by naming the account (not the caller): the caller's own
		// policies must allow it too.
		viaAccount := r.trust.Evaluate(&policy.Request{Action: action, Resource: r.arn, Principal: account, Context: pctx})
		if viaAccount.Decision == policy.Allow && id.Decision != policy.Allow {
			return nil, s.deny(ctx, ev, denied, "trust policy names the account; caller policies: "+action+": "+id.Decision.String())
		}
	}

	duration := time.Duration(defaultDuration) * time.Second
	if in.DurationSeconds != nil {
		duration = time.Duration(*in.DurationSeconds) * time.Second
	}
	if duration > maxChainedDuration {
		return nil, s.deny(ctx, ev, errValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."), "")
	}
	if duration > r.maxDuration {
		return nil, s.deny(ctx, ev, errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."), "")
	}
	packed, err := checkPackedSize(in.Policy, in.PolicyArns, tags)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	if len(tags) == 0 {
		tags = nil
	}
	creds, user, err := s.mint(mintParams{
		role: r, sessionName: in.RoleSessionName, sourceIdentity: sourceIdentity,
		policy: in.Policy, policyARNs: in.PolicyArns, tags: tags, transitive: transitive,
		duration: duration, chained: true, mfa: caller.MFA, provider: caller.Provider,
		federated: caller.FederatedKeys, now: now,
	})
	if err != nil {
		return nil, s.mintFailed(ctx, ev, err)
	}
	ev.Outcome = "issued"
	ev.AccessKeyID = creds.AccessKeyID
	ev.Expiration = creds.Expiration
	s.emit(ctx, ev)
	out := &AssumeRoleOutput{Credentials: creds, AssumedRoleUser: user, SourceIdentity: sourceIdentity}
	if in.Policy != "" || len(in.PolicyArns) > 0 || len(tags) > 0 {
		out.PackedPolicySize = &packed
	}
	return out, nil
}

func tagsOf(list []Tag) map[string]string {
	m := make(map[string]string, len(list))
	for _, t := range list {
		m[t.Key] = t.Value
	}
	return m
}

func (s *Service) handleGetAccessKeyInfo(ctx context.Context, req *Request) (any, error) {
	if _, err := s.Authenticate(req.HTTP, req.Body()); err != nil {
		return nil, err
	}
	var v validation
	akid, present := req.Lookup("AccessKeyId")
	v.checkParam("accessKeyId", akid, present, true, false, 16, 128, accessKeyPattern, patternAccessKey)
	if err := v.err(); err != nil {
		return nil, err
	}
	// Every key this STS knows belongs to its one account; like AWS, the
	// answer reveals nothing about the key's state.
	return &GetAccessKeyInfoOutput{Account: s.account}, nil
}

// handleGetSessionToken validates the request and answers as AWS answers
// session credentials: every caller here holds session credentials.
func (s *Service) handleGetSessionToken(ctx context.Context, req *Request) (any, error) {
	if _, err := s.Authenticate(req.HTTP, req.Body()); err != nil {
		return nil, err
	}
	var v validation
	var d *int32
	if raw, ok := req.Lookup("DurationSeconds"); ok {
		d = parseDuration(raw, &v)
	}
	v.checkDurationRange(d, minDuration, maxUserTokenDuration)
	v.checkMFA(req.Get("SerialNumber"), req.Get("TokenCode"), emptyParamsOf(req, "SerialNumber", "TokenCode"))
	if err := v.err(); err != nil {
		return nil, err
	}
	return nil, errAccessDenied("Cannot call GetSessionToken with session credentials")
}

// handleGetFederationToken validates the request and answers as AWS answers
// session credentials.
func (s *Service) handleGetFederationToken(ctx context.Context, req *Request) (any, error) {
	if _, err := s.Authenticate(req.HTTP, req.Body()); err != nil {
		return nil, err
	}
	var v validation
	var d *int32
	if raw, ok := req.Lookup("DurationSeconds"); ok {
		d = parseDuration(raw, &v)
	}
	name, hasName := req.Lookup("Name")
	v.checkParam("name", name, hasName, true, false, 2, 32, sessionNamePattern, patternSessionName)
	doc, hasPolicy := req.Lookup("Policy")
	v.checkParam("policy", doc, hasPolicy, false, false, 1, maxPolicyLen, policyCharsPattern, patternPolicy)
	arns, err := policyArnsParam(req)
	if err != nil {
		return nil, err
	}
	v.checkPolicyArns(arns)
	v.checkDurationRange(d, minDuration, maxUserTokenDuration)
	tags, err := tagsParam(req, "Tags", &v)
	if err != nil {
		return nil, err
	}
	v.checkTags("tags", tags)
	if err := v.err(); err != nil {
		return nil, err
	}
	return nil, errAccessDenied("Cannot call GetFederationToken with session credentials")
}

// handleDecodeAuthorizationMessage: this STS never encodes authorization
// messages, so a caller allowed to decode always gets
// InvalidAuthorizationMessageException.
func (s *Service) handleDecodeAuthorizationMessage(ctx context.Context, req *Request) (any, error) {
	sess, region, err := s.authenticate(req.HTTP, req.Body())
	if err != nil {
		return nil, err
	}
	var v validation
	msg, present := req.Lookup("EncodedMessage")
	v.checkParam("encodedMessage", msg, present, true, false, 1, 10240, nil, "")
	if err := v.err(); err != nil {
		return nil, err
	}
	res, err := s.Authorize(sess, "sts:DecodeAuthorizationMessage", "*", map[string][]string{
		"aws:SourceIp":        {req.SourceIP},
		"aws:SecureTransport": {strconv.FormatBool(req.SecureTransport)},
		"aws:RequestedRegion": {region},
	})
	if err != nil || res.Decision != policy.Allow {
		return nil, errAccessDenied("User: " + sess.AssumedRoleARN() + " is not authorized to perform: sts:DecodeAuthorizationMessage")
	}
	return nil, apiError(http.StatusBadRequest, "InvalidAuthorizationMessageException", "The message is invalid or was not issued by this service")
}
