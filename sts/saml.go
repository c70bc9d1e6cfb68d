package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

const (
	actionSAML = "AssumeRoleWithSAML"
	// maxSAMLLen is the longest SAMLAssertion (base64 characters).
	maxSAMLLen = 100000
	// samlReplayGrace keeps a claimed assertion ID past its NotOnOrAfter to
	// cover the verifier's clock skew.
	samlReplayGrace = 5 * time.Minute
)

// AssumeRoleWithSAMLInput are the AssumeRoleWithSAML request parameters.
// An empty string means "absent" (the Query API binding tells an empty
// parameter, as in "Policy=", from an absent one: the empty one fails its
// minimum length).
type AssumeRoleWithSAMLInput struct {
	RoleArn, PrincipalArn, SAMLAssertion string
	Policy                               string
	PolicyArns                           []string
	// DurationSeconds is nil for the default (3600).
	DurationSeconds *int32
	// SourceIP is the client address for aws:SourceIp (optional).
	SourceIP string
	// SecureTransport says whether the client's request came over TLS
	// (aws:SecureTransport; see SecureTransport). aws:RequestedRegion of
	// this unsigned action is the STS's configured region.
	SecureTransport bool

	// empty: parameters sent empty on the wire (set by the Query API binding).
	empty emptyParams
}

// samlParams are the AssumeRoleWithSAML string parameters with a length
// constraint, in wire spelling.
var samlParams = []string{"RoleArn", "PrincipalArn", "SAMLAssertion", "Policy"}

// AssumeRoleWithSAMLOutput is the AssumeRoleWithSAMLResult.
type AssumeRoleWithSAMLOutput struct {
	Credentials      Credentials     `xml:"Credentials" json:"Credentials"`
	AssumedRoleUser  AssumedRoleUser `xml:"AssumedRoleUser" json:"AssumedRoleUser"`
	PackedPolicySize *int            `xml:"PackedPolicySize,omitempty" json:"PackedPolicySize,omitempty"`
	Subject          string          `xml:"Subject" json:"Subject"`
	SubjectType      string          `xml:"SubjectType" json:"SubjectType"`
	Issuer           string          `xml:"Issuer" json:"Issuer"`
	Audience         string          `xml:"Audience" json:"Audience"`
	NameQualifier    string          `xml:"NameQualifier" json:"NameQualifier"`
	SourceIdentity   string          `xml:"SourceIdentity,omitempty" json:"SourceIdentity,omitempty"`
}

func (s *Service) handleAssumeRoleWithSAML(ctx context.Context, req *Request) (any, error) {
	var v validation
	in := &AssumeRoleWithSAMLInput{
		RoleArn:         req.Get("RoleArn"),
		PrincipalArn:    req.Get("PrincipalArn"),
		SAMLAssertion:   req.Get("SAMLAssertion"),
		Policy:          req.Get("Policy"),
		SourceIP:        req.SourceIP,
		SecureTransport: req.SecureTransport,
		empty:           emptyParamsOf(req, samlParams...),
	}
	if raw, ok := req.Lookup("DurationSeconds"); ok {
		in.DurationSeconds = parseDuration(raw, &v)
	}
	arns, err := policyArnsParam(req)
	if err != nil {
		return nil, err
	}
	in.PolicyArns = arns
	if err := v.err(); err != nil {
		return nil, err
	}
	return s.AssumeRoleWithSAML(ctx, in)
}

func policyArnsParam(req *Request) ([]string, error) {
	arns, err := req.StructList("PolicyArns", "arn")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range arns {
		out = append(out, m["arn"])
	}
	return out, nil
}

func validateSAMLInput(in *AssumeRoleWithSAMLInput) error {
	var v validation
	e := in.empty
	v.checkARN("roleArn", in.RoleArn, e.present("RoleArn", in.RoleArn), true)
	v.checkARN("principalArn", in.PrincipalArn, e.present("PrincipalArn", in.PrincipalArn), true)
	v.checkParam("sAMLAssertion", in.SAMLAssertion, e.present("SAMLAssertion", in.SAMLAssertion), true, true, 4, maxSAMLLen, nil)
	v.checkPolicy(in.Policy, e.present("Policy", in.Policy))
	v.checkDuration(in.DurationSeconds)
	v.checkPolicyArns(in.PolicyArns)
	return v.err()
}

// AssumeRoleWithSAML exchanges a SAML Response from a registered SAML
// provider for temporary credentials of a role that the assertion's Role
// attribute names (paired with PrincipalArn) and whose trust policy allows
// it. It is what the Query API action calls; errors are *Error. Every issue
// and refusal is audited; the assertion itself never reaches a log. An
// assertion with a multi-factor AuthnStatement (SAMLAssertion.MFAInstant)
// makes an MFA-authenticated session (mfa.go).
func (s *Service) AssumeRoleWithSAML(ctx context.Context, in *AssumeRoleWithSAMLInput) (*AssumeRoleWithSAMLOutput, error) {
	ev := AuditEvent{Action: actionSAML, RoleARN: in.RoleArn, Principal: in.PrincipalArn, SourceIP: in.SourceIP}
	if err := validateSAMLInput(in); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	if err := s.checkSessionPolicies(in.Policy, in.PolicyArns); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	prov := s.samlByARN[in.PrincipalArn]
	if prov == nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Specified provider doesn't exist"), "no SAML provider with this ARN")
	}
	vctx, cancel := context.WithTimeout(ctx, s.verifyTimeout)
	a, err := prov.verifier.VerifySAMLAssertion(vctx, in.SAMLAssertion, in.RoleArn)
	cancel()
	if err != nil {
		return nil, s.deny(ctx, ev, mapSAMLError(err), "verify: "+truncate(err.Error(), 300))
	}
	if a == nil || a.ID == "" || a.Issuer == "" {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid SAML response"), "verifier returned no assertion, ID or issuer")
	}
	ev.Principal = prov.arn + "|" + a.NameID
	// The refusal is built where it is returned: an issued request builds none.
	const denied = "Not authorized to perform sts:AssumeRoleWithSAML"
	if a.NameID == "" {
		return nil, s.deny(ctx, ev, errAccessDenied(denied), "assertion has no NameID")
	}
	attrs, err := readSAMLAttrs(a.Attributes)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	if !attrs.hasSessionName {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("RoleSessionName is required in AuthnResponse"), "")
	}
	ev.SessionName = attrs.sessionName
	if a.SessionIndex != "" && !validSessionID(a.SessionIndex) {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid SAML response"),
			fmt.Sprintf("SessionIndex is not 1 to %d printable ASCII characters", maxSessionIDLen))
	}
	ev.SessionID = a.SessionIndex
	if !samlRolePaired(attrs.roles, in.RoleArn, in.PrincipalArn) {
		return nil, s.deny(ctx, ev, errAccessDenied(denied), "no Role attribute value pairs RoleArn with PrincipalArn")
	}
	r := s.roles[in.RoleArn]
	if r == nil {
		return nil, s.deny(ctx, ev, errAccessDenied(denied), "no such role")
	}

	now := s.now().UTC()
	mfa, mfaAt, err := samlMFA(a, now)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid SAML response"), err.Error())
	}
	nq := NameQualifier(a.Issuer, s.account, prov.name)
	subType := SubjectType(a.NameIDFormat)
	tags := attrs.tags.tags
	hasTags := len(tags) > 0 || len(attrs.tags.transitive) > 0
	pctx := policy.NewContext()
	q := &trustRequest{
		role: r, action: "sts:AssumeRoleWithSAML",
		principalType: policy.PrincipalFederated, principal: []string{prov.arn},
		sessionName: attrs.sessionName, sourceIdentity: attrs.sourceIdentity,
		tags: tags, transitive: attrs.tags.transitive, tagSession: hasTags,
		sourceIP: in.SourceIP, secure: in.SecureTransport, now: now,
	}
	pctx.Set("saml:aud", a.Recipient)
	pctx.Set("saml:iss", a.Issuer)
	pctx.Set("saml:sub", a.NameID)
	pctx.Set("saml:sub_type", subType)
	pctx.Set("saml:namequalifier", nq)
	pctx.Set("saml:doc", s.account+"/"+prov.name)
	for key, vals := range samlContextAttrs(attrs.byName) {
		pctx.Set(key, vals...)
	}
	pctx.Set("aws:FederatedProvider", prov.arn)
	setMFAKeys(pctx, mfa, mfaAt, now)
	if reason := s.checkTrust(q, pctx, nil); reason != "" {
		return nil, s.deny(ctx, ev, errAccessDenied(denied), reason)
	}

	duration := time.Duration(durationOf(in.DurationSeconds)) * time.Second
	if in.DurationSeconds != nil && duration > r.maxDuration {
		return nil, s.deny(ctx, ev, errDurationOverRoleMax(), "")
	}
	if attrs.duration != nil {
		// The SessionDuration attribute can only shorten the session.
		duration = min(duration, time.Duration(*attrs.duration)*time.Second)
	}
	if !a.SessionNotOnOrAfter.IsZero() {
		left := a.SessionNotOnOrAfter.Sub(now).Truncate(time.Second)
		if left <= 0 {
			return nil, s.deny(ctx, ev, apiError(http.StatusBadRequest, "ExpiredTokenException", "Response has expired"), "SessionNotOnOrAfter has passed")
		}
		duration = min(duration, left)
	}
	packed, err := checkPackedSize(in.Policy, in.PolicyArns, tags)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}

	// Replay: one redemption per (provider, assertion, role), claimed only
	// once everything else holds (STS-SPEC §5.4, THREATS SAML-39).
	if s.replay == nil {
		return nil, s.deny(ctx, ev, errInternal(), "no replay cache configured")
	}
	until := a.NotOnOrAfter
	if until.IsZero() || until.Before(now) {
		until = now
	}
	// The claim runs inside mint, after the token is sealed, so that a
	// session too large to seal does not use the assertion up either.
	var claimReason string
	claim := func() error {
		fresh, err := s.replay.Claim(ctx, "sts-saml\x00"+prov.arn+"\x00"+a.ID+"\x00"+in.RoleArn, until.Add(samlReplayGrace))
		if err != nil {
			s.log.ErrorContext(ctx, "sts: replay cache", "err", err)
			claimReason = "replay cache: " + truncate(err.Error(), 200)
			return apiError(http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request.")
		}
		if !fresh {
			claimReason = "assertion already redeemed for this role"
			return errInvalidIdentityToken("Invalid SAML response")
		}
		return nil
	}

	creds, user, err := s.mint(ctx, mintParams{
		role: r, sessionName: attrs.sessionName, sourceIdentity: attrs.sourceIdentity,
		policy: in.Policy, policyARNs: in.PolicyArns, tags: tags, transitive: attrs.tags.transitive,
		duration: duration, provider: prov.arn, now: now, mfa: mfa, mfaAuthTime: mfaAt,
		federated:   map[string][]string{"saml:namequalifier": {nq}, "saml:sub": {a.NameID}, "saml:sub_type": {subType}},
		sessionID:   a.SessionIndex,
		beforeIssue: claim,
	})
	if claimReason != "" {
		return nil, s.deny(ctx, ev, err, claimReason)
	}
	if err != nil {
		return nil, s.mintFailed(ctx, ev, err)
	}
	s.emitIssued(ctx, ev, creds)
	out := &AssumeRoleWithSAMLOutput{
		Credentials: creds, AssumedRoleUser: user,
		Subject: a.NameID, SubjectType: subType, Issuer: a.Issuer, Audience: a.Recipient,
		NameQualifier: nq, SourceIdentity: attrs.sourceIdentity,
	}
	if in.Policy != "" || len(in.PolicyArns) > 0 || hasTags {
		out.PackedPolicySize = &packed
	}
	return out, nil
}

// mapSAMLError turns a verifier error into the AWS error.
func mapSAMLError(err error) *Error {
	switch {
	case errors.Is(err, awsspec.ErrSAMLSignature):
		return errInvalidIdentityToken("Response signature invalid")
	case errors.Is(err, awsspec.ErrSAMLIssuedTooLongAgo):
		return apiError(http.StatusBadRequest, "ExpiredTokenException", "Token must be redeemed within 5 minutes of issuance")
	case errors.Is(err, awsspec.ErrSAMLExpired):
		return apiError(http.StatusBadRequest, "ExpiredTokenException", "Response has expired")
	case errors.Is(err, awsspec.ErrSAMLAudience):
		return errInvalidIdentityToken("Response does not contain the required audience")
	case errors.Is(err, awsspec.ErrSAMLIssuer):
		return errInvalidIdentityToken("Issuer not present in specified provider")
	case errors.Is(err, awsspec.ErrSAMLRecipient):
		return errInvalidIdentityToken("Response does not contain a valid Recipient")
	case errors.Is(err, awsspec.ErrSAMLNotYetValid):
		return errInvalidIdentityToken("Response is not yet valid")
	case errors.Is(err, awsspec.ErrSAMLStatus):
		return apiError(http.StatusForbidden, "IDPRejectedClaim", "The identity provider did not report a successful authentication")
	case errors.Is(err, awsspec.ErrSAMLTooLarge):
		return errValidation("1 validation error detected: Value at 'sAMLAssertion' failed to satisfy constraint: Member must have length less than or equal to 100000")
	case errors.Is(err, awsspec.ErrSAMLUnavailable):
		return apiError(http.StatusBadRequest, "IDPCommunicationError", "The identity provider's metadata could not be loaded; retry later")
	default:
		return errInvalidIdentityToken("Invalid SAML response")
	}
}
