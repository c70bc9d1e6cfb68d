package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

const (
	actionWebIdentity = "AssumeRoleWithWebIdentity"
	maxWebTokenLen    = 20000
	claimTags         = "https://aws.amazon.com/tags"
	claimSourceID     = "https://aws.amazon.com/source_identity"
	claimSessionID    = "sid"
)

// AssumeRoleWithWebIdentityInput are the AssumeRoleWithWebIdentity request
// parameters. An empty string means "absent" (the Query API binding tells
// an empty parameter, as in "Policy=", from an absent one: the empty one
// fails its minimum length).
type AssumeRoleWithWebIdentityInput struct {
	RoleArn          string
	RoleSessionName  string
	WebIdentityToken string
	ProviderId       string
	Policy           string
	PolicyArns       []string
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

// AssumeRoleWithWebIdentityOutput is the AssumeRoleWithWebIdentityResult.
type AssumeRoleWithWebIdentityOutput struct {
	Credentials                 Credentials     `xml:"Credentials" json:"Credentials"`
	SubjectFromWebIdentityToken string          `xml:"SubjectFromWebIdentityToken" json:"SubjectFromWebIdentityToken"`
	AssumedRoleUser             AssumedRoleUser `xml:"AssumedRoleUser" json:"AssumedRoleUser"`
	PackedPolicySize            *int            `xml:"PackedPolicySize,omitempty" json:"PackedPolicySize,omitempty"`
	Provider                    string          `xml:"Provider" json:"Provider"`
	Audience                    string          `xml:"Audience" json:"Audience"`
	SourceIdentity              string          `xml:"SourceIdentity,omitempty" json:"SourceIdentity,omitempty"`
}

// handleAssumeRoleWithWebIdentity is the Query API binding.
func (s *Service) handleAssumeRoleWithWebIdentity(ctx context.Context, req *Request) (any, error) {
	var v validation
	in := &AssumeRoleWithWebIdentityInput{
		RoleArn:          req.Get("RoleArn"),
		RoleSessionName:  req.Get("RoleSessionName"),
		WebIdentityToken: req.Get("WebIdentityToken"),
		ProviderId:       req.Get("ProviderId"),
		Policy:           req.Get("Policy"),
		SourceIP:         req.SourceIP,
		SecureTransport:  req.SecureTransport,
		empty:            emptyParamsOf(req, webIdentityParams...),
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
	return s.AssumeRoleWithWebIdentity(ctx, in)
}

// webIdentityParams are the AssumeRoleWithWebIdentity string parameters
// with a length constraint, in wire spelling.
var webIdentityParams = []string{"RoleArn", "RoleSessionName", "WebIdentityToken", "ProviderId", "Policy"}

// validateWebIdentityInput applies the model constraints of STS-SPEC §2.2.
func validateWebIdentityInput(in *AssumeRoleWithWebIdentityInput) error {
	var v validation
	e := in.empty
	v.checkARN("roleArn", in.RoleArn, e.present("RoleArn", in.RoleArn), true)
	v.checkName("roleSessionName", in.RoleSessionName, e.present("RoleSessionName", in.RoleSessionName), true)
	v.checkParam("webIdentityToken", in.WebIdentityToken, e.present("WebIdentityToken", in.WebIdentityToken), true, true, 4, maxWebTokenLen, nil)
	v.checkParam("providerId", in.ProviderId, e.present("ProviderId", in.ProviderId), false, false, 4, 2048, nil)
	v.checkPolicy(in.Policy, e.present("Policy", in.Policy))
	v.checkDuration(in.DurationSeconds)
	v.checkPolicyArns(in.PolicyArns)
	return v.err()
}

// AssumeRoleWithWebIdentity exchanges an OIDC ID token from a registered
// provider for temporary credentials of a role whose trust policy allows it.
// It is what the Query API action calls; errors are *Error. Every issue and
// refusal is audited.
//
// The token's unverified iss picks the registered provider; that
// provider's verifier is the one check of the token (signature, issuer,
// audience, expiry), and its WebIdentity is taken as verified.
// A token whose amr lists "mfa" makes an MFA-authenticated session
// (mfa.go: webIdentityMFA).
func (s *Service) AssumeRoleWithWebIdentity(ctx context.Context, in *AssumeRoleWithWebIdentityInput) (*AssumeRoleWithWebIdentityOutput, error) {
	ev := AuditEvent{Action: actionWebIdentity, RoleARN: in.RoleArn, SessionName: in.RoleSessionName, SourceIP: in.SourceIP}
	if err := validateWebIdentityInput(in); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	if in.ProviderId != "" {
		err := newError(http.StatusBadRequest, "InvalidParameterValue",
			"ProviderId is only for OAuth 2.0 access tokens and must not be specified with an OpenID Connect ID token")
		return nil, s.deny(ctx, ev, err, "")
	}
	if err := s.checkSessionPolicies(in.Policy, in.PolicyArns); err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}

	iss, err := tokenIssuer(in.WebIdentityToken)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken(msgNotJWT), "token is not a JWT: "+err.Error())
	}
	prov := s.providers[iss]
	if prov == nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("No OpenIDConnect provider found in your account for "+iss), "")
	}
	ev.Principal = prov.arn
	vctx, cancel := context.WithTimeout(ctx, s.verifyTimeout)
	id, err := prov.verifier.VerifyWebIdentity(vctx, in.WebIdentityToken)
	cancel()
	if err != nil {
		return nil, s.deny(ctx, ev, s.mapVerifyError(err), "verify: "+truncate(err.Error(), 300))
	}
	if id == nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid web identity token"), "verifier returned no identity")
	}
	ev.Principal = prov.arn + "|" + id.Subject
	if id.Subject == "" {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid web identity token"), "token has no sub")
	}

	// The refusal is built where it is returned: an issued request builds none.
	const denied = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
	r := s.roles[in.RoleArn]
	if r == nil {
		return nil, s.deny(ctx, ev, errAccessDenied(denied), "no such role")
	}
	tags, hasTags, err := tagsFromClaims(id.Claims)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid session tags in the web identity token"), err.Error())
	}
	sourceIdentity, err := sourceIdentityFromClaims(id.Claims)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with \"aws:\""), err.Error())
	}
	sessionID, err := sessionIDFromClaims(id.Claims)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid web identity token"), err.Error())
	}
	ev.SessionID = sessionID

	now := s.now().UTC()
	mfa, mfaAt, err := webIdentityMFA(id, now)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid web identity token"), err.Error())
	}
	pctx := policy.NewContext()
	q := &trustRequest{
		role: r, action: "sts:AssumeRoleWithWebIdentity",
		principalType: policy.PrincipalFederated, principal: []string{prov.arn},
		sessionName: in.RoleSessionName, sourceIdentity: sourceIdentity,
		tags: tags.tags, transitive: tags.transitive, tagSession: hasTags,
		sourceIP: in.SourceIP, secure: in.SecureTransport, now: now,
	}
	pctx.Set(prov.keys.aud, id.Audience)
	pctx.Set(prov.keys.sub, id.Subject)
	if len(id.AMR) > 0 {
		pctx.Set(prov.keys.amr, id.AMR...)
	}
	if id.AZP != "" {
		pctx.Set(prov.keys.azp, id.AZP)
	}
	pctx.Set("aws:FederatedProvider", prov.arn)
	setMFAKeys(pctx, mfa, mfaAt, now)
	if reason := s.checkTrust(q, pctx, nil); reason != "" {
		return nil, s.deny(ctx, ev, errAccessDenied(denied), reason)
	}

	duration := time.Duration(durationOf(in.DurationSeconds)) * time.Second
	if duration > r.maxDuration {
		return nil, s.deny(ctx, ev, errDurationOverRoleMax(), "")
	}
	packed, err := checkPackedSize(in.Policy, in.PolicyArns, tags.tags)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	creds, user, err := s.mint(ctx, mintParams{
		role: r, sessionName: in.RoleSessionName, sourceIdentity: sourceIdentity,
		policy: in.Policy, policyARNs: in.PolicyArns, tags: tags.tags, transitive: tags.transitive,
		duration: duration, provider: prov.arn, now: now, mfa: mfa, mfaAuthTime: mfaAt,
		federated: webIdentityKeys(prov.keys, id), sessionID: sessionID,
	})
	if err != nil {
		return nil, s.mintFailed(ctx, ev, err)
	}
	s.emitIssued(ctx, ev, creds)
	out := &AssumeRoleWithWebIdentityOutput{
		Credentials:                 creds,
		SubjectFromWebIdentityToken: id.Subject,
		AssumedRoleUser:             user,
		Provider:                    prov.arn,
		Audience:                    id.Audience,
		SourceIdentity:              sourceIdentity,
	}
	if in.Policy != "" || len(in.PolicyArns) > 0 || hasTags {
		out.PackedPolicySize = &packed
	}
	return out, nil
}

// mapVerifyError turns a verifier error into the AWS error (STS-SPEC §6.1).
func (s *Service) mapVerifyError(err error) *Error {
	switch {
	case errors.Is(err, awsspec.ErrTokenExpired):
		msg := "Token expired: current date/time " + strconv.FormatInt(s.now().Unix(), 10) + " must be before the expiration date/time"
		if te, ok := errors.AsType[*awsspec.TokenExpiredError](err); ok {
			msg += strconv.FormatInt(te.Expiry.Unix(), 10)
		}
		return apiError(http.StatusBadRequest, "ExpiredTokenException", msg)
	case errors.Is(err, awsspec.ErrKeyUnavailable), errors.Is(err, awsspec.ErrKeyNotFound):
		// AWS answers a key set it cannot fetch and a kid it cannot find
		// alike.
		return errInvalidIdentityToken(msgKeyUnavailable)
	case errors.Is(err, awsspec.ErrAudience):
		return errInvalidIdentityToken("Incorrect token audience")
	default:
		return errInvalidIdentityToken("Invalid web identity token")
	}
}

// tagsFromClaims reads session tags from the https://aws.amazon.com/tags
// claim (STS-SPEC §6.2). present says whether the claim is there (even
// empty, it asks for sts:TagSession).
func tagsFromClaims(claims map[string]any) (tags sessionTags, present bool, err error) {
	raw, ok := claims[claimTags]
	if !ok {
		return tags, false, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return tags, true, errors.New("tags claim is not an object")
	}
	if pt, ok := obj["principal_tags"]; ok {
		m, ok := pt.(map[string]any)
		if !ok {
			return tags, true, errors.New("principal_tags is not an object")
		}
		if len(m) > awsspec.MaxSessionTags {
			return tags, true, errors.New("more than 50 session tags")
		}
		for k, v := range m {
			var val string
			switch tv := v.(type) {
			case []any:
				if len(tv) != 1 {
					return tags, true, fmt.Errorf("tag %q must have exactly one value", k)
				}
				s, ok := tv[0].(string)
				if !ok {
					return tags, true, fmt.Errorf("tag %q value is not a string", k)
				}
				val = s
			case string:
				val = tv
			default:
				return tags, true, fmt.Errorf("tag %q value is not a string list", k)
			}
			if err := checkFederatedTag(k, val); err != nil {
				return tags, true, err
			}
			if err := tags.add(k, val); err != nil {
				return tags, true, fmt.Errorf("tag %q: %w", k, err)
			}
		}
	}
	if tt, ok := obj["transitive_tag_keys"]; ok {
		list, ok := tt.([]any)
		if !ok {
			return tags, true, errors.New("transitive_tag_keys is not a list")
		}
		if len(list) > awsspec.MaxSessionTags {
			return tags, true, errors.New("more than 50 transitive tag keys")
		}
		for _, it := range list {
			k, ok := it.(string)
			if !ok || tags.addTransitive(k) != nil {
				return tags, true, fmt.Errorf("transitive tag key %v is not a session tag", it)
			}
		}
	}
	return tags, true, nil
}

func sourceIdentityFromClaims(claims map[string]any) (string, error) {
	raw, ok := claims[claimSourceID]
	if !ok {
		return "", nil
	}
	si, ok := raw.(string)
	if !ok {
		return "", errors.New("source_identity claim is not a string")
	}
	if err := checkSourceIdentity(si); err != nil {
		return "", err
	}
	return si, nil
}

// sessionIDFromClaims reads the login session id of the token: the OIDC
// sid claim (OpenID Connect Front-Channel Logout 1.0 §3), "" when absent.
// A sid that is not a string of 1 to 256 printable ASCII characters is an
// error: the credentials would carry it.
func sessionIDFromClaims(claims map[string]any) (string, error) {
	raw, ok := claims[claimSessionID]
	if !ok {
		return "", nil
	}
	sid, ok := raw.(string)
	if !ok {
		return "", errors.New("sid claim is not a string")
	}
	if !validSessionID(sid) {
		return "", fmt.Errorf("sid claim is not 1 to %d printable ASCII characters", maxSessionIDLen)
	}
	return sid, nil
}

// webIdentityKeys are the provider keys that stay available to later
// requests of a web identity session (STS-SPEC §6.3: amr, aud, sub). aud
// and sub share one backing array, each with its capacity cut to its length.
func webIdentityKeys(k oidcKeys, id *WebIdentity) map[string][]string {
	vals := []string{id.Audience, id.Subject}
	m := make(map[string][]string, 3)
	m[k.aud], m[k.sub] = vals[0:1:1], vals[1:2:2]
	if len(id.AMR) > 0 {
		m[k.amr] = id.AMR
	}
	return m
}
