package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

const (
	actionWebIdentity = "AssumeRoleWithWebIdentity"
	maxWebTokenLen    = 20000
	claimTags         = "https://aws.amazon.com/tags"
	claimSourceID     = "https://aws.amazon.com/source_identity"
)

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
	arns, err := req.StructList("PolicyArns", "arn")
	if err != nil {
		return nil, err
	}
	for _, m := range arns {
		in.PolicyArns = append(in.PolicyArns, m["arn"])
	}
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
	v.checkParam("roleArn", in.RoleArn, e.present("RoleArn", in.RoleArn), true, false, 20, 2048, arnCharsPattern, patternARN)
	v.checkParam("roleSessionName", in.RoleSessionName, e.present("RoleSessionName", in.RoleSessionName), true, false, 2, 64, sessionNamePattern, patternSessionName)
	v.checkParam("webIdentityToken", in.WebIdentityToken, e.present("WebIdentityToken", in.WebIdentityToken), true, true, 4, maxWebTokenLen, nil, "")
	v.checkParam("providerId", in.ProviderId, e.present("ProviderId", in.ProviderId), false, false, 4, 2048, nil, "")
	v.checkParam("policy", in.Policy, e.present("Policy", in.Policy), false, false, 1, maxPolicyLen, policyCharsPattern, patternPolicy)
	v.checkDuration(in.DurationSeconds)
	v.checkPolicyArns(in.PolicyArns)
	return v.err()
}

// AssumeRoleWithWebIdentity exchanges an OIDC ID token from a registered
// provider for temporary credentials of a role whose trust policy allows it.
// It is what the Query API action calls; errors are *Error. Every issue and
// refusal is audited.
func (s *Service) AssumeRoleWithWebIdentity(ctx context.Context, in *AssumeRoleWithWebIdentityInput) (*AssumeRoleWithWebIdentityOutput, error) {
	ev := AuditEvent{Action: actionWebIdentity, RoleARN: in.RoleArn, SessionName: in.RoleSessionName}
	if in.SourceIP != "" {
		ev.SourceIP = in.SourceIP
	}
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

	// Pick the provider by the token's unverified iss, then verify.
	peek, err := peekJWT(in.WebIdentityToken)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken(msgNotJWT), "token is not a JWT: "+err.Error())
	}
	prov := s.providers[peek.Iss]
	if prov == nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("No OpenIDConnect provider found in your account for "+peek.Iss), "")
	}
	ev.Principal = prov.arn
	vctx, cancel := context.WithTimeout(ctx, s.verifyTimeout)
	id, err := prov.verifier.VerifyWebIdentity(vctx, in.WebIdentityToken)
	cancel()
	if err != nil {
		return nil, s.deny(ctx, ev, s.mapVerifyError(err, peek), "verify: "+truncate(err.Error(), 300))
	}
	if id == nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid web identity token"), "verifier returned no identity")
	}
	ev.Principal = prov.arn + "|" + id.Subject
	switch {
	case id.Issuer != prov.issuer:
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid web identity token"), "verified issuer differs from the provider")
	case !prov.clientIDs[id.Audience]:
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Incorrect token audience"), "audience not among the provider's client IDs")
	case id.Subject == "":
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid web identity token"), "token has no sub")
	}

	denied := errAccessDenied("Not authorized to perform sts:AssumeRoleWithWebIdentity")
	r := s.roles[in.RoleArn]
	if r == nil {
		return nil, s.deny(ctx, ev, denied, "no such role")
	}
	tags, transitive, hasTags, err := tagsFromClaims(id.Claims)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Invalid session tags in the web identity token"), err.Error())
	}
	sourceIdentity, err := sourceIdentityFromClaims(id.Claims)
	if err != nil {
		return nil, s.deny(ctx, ev, errInvalidIdentityToken("Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with \"aws:\""), err.Error())
	}

	pctx := policy.NewContext()
	pfx := prov.hostPath + ":"
	pctx.Set(pfx+"aud", id.Audience)
	pctx.Set(pfx+"sub", id.Subject)
	if len(id.AMR) > 0 {
		pctx.Set(pfx+"amr", id.AMR...)
	}
	if id.AZP != "" {
		pctx.Set(pfx+"azp", id.AZP)
	}
	pctx.Set("aws:FederatedProvider", prov.arn)
	pctx.Set("sts:RoleSessionName", in.RoleSessionName)
	now := s.now().UTC()
	setTimeKeys(pctx, now)
	if in.SourceIP != "" {
		pctx.Set("aws:SourceIp", in.SourceIP)
	}
	s.setTransportKeys(pctx, in.SecureTransport, "")
	if hasTags {
		keys := make([]string, 0, len(tags))
		for k, val := range tags {
			pctx.Set("aws:RequestTag/"+k, val)
			keys = append(keys, k)
		}
		if len(keys) > 0 {
			pctx.Set("aws:TagKeys", keys...)
		}
		if len(transitive) > 0 {
			pctx.Set("sts:TransitiveTagKeys", transitive...)
		}
	}
	if sourceIdentity != "" {
		pctx.Set("sts:SourceIdentity", sourceIdentity)
	}
	principal := map[string][]string{policy.PrincipalFederated: {prov.arn}}
	actions := []string{"sts:AssumeRoleWithWebIdentity"}
	if hasTags {
		actions = append(actions, "sts:TagSession")
	}
	if sourceIdentity != "" {
		actions = append(actions, "sts:SetSourceIdentity")
	}
	for _, action := range actions {
		res := r.trust.Evaluate(&policy.Request{Action: action, Resource: r.arn, Principal: principal, Context: pctx})
		if res.Decision != policy.Allow {
			return nil, s.deny(ctx, ev, denied, "trust policy: "+action+": "+res.Decision.String())
		}
	}

	duration := time.Duration(defaultDuration) * time.Second
	if in.DurationSeconds != nil {
		duration = time.Duration(*in.DurationSeconds) * time.Second
	}
	if duration > r.maxDuration {
		return nil, s.deny(ctx, ev, errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."), "")
	}
	packed, err := checkPackedSize(in.Policy, in.PolicyArns, tags)
	if err != nil {
		return nil, s.deny(ctx, ev, err, "")
	}
	creds, user, err := s.mint(mintParams{
		role: r, sessionName: in.RoleSessionName, sourceIdentity: sourceIdentity,
		policy: in.Policy, policyARNs: in.PolicyArns, tags: tags, transitive: transitive,
		duration: duration, provider: prov.arn, now: now,
		federated: webIdentityKeys(pfx, id),
	})
	if err != nil {
		return nil, s.mintFailed(ctx, ev, err)
	}
	ev.Outcome = "issued"
	ev.AccessKeyID = creds.AccessKeyID
	ev.Expiration = creds.Expiration
	s.emit(ctx, ev)
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

// mapVerifyError turns a verifier error into the AWS error.
func (s *Service) mapVerifyError(err error, peek *jwtPeek) *Error {
	switch {
	case errors.Is(err, ErrTokenExpired):
		msg := "Token expired: current date/time " + strconv.FormatInt(s.now().Unix(), 10) + " must be before the expiration date/time"
		if peek.Exp != nil {
			msg += strconv.FormatInt(*peek.Exp, 10)
		}
		return apiError(http.StatusBadRequest, "ExpiredTokenException", msg)
	case errors.Is(err, ErrKeyUnavailable), errors.Is(err, awsspec.ErrKeyNotFound):
		// STS-SPEC §6.1: AWS answers a JWKS it cannot fetch and a kid it
		// cannot find alike.
		return errInvalidIdentityToken(msgKeyUnavailable)
	case errors.Is(err, ErrAudience):
		return errInvalidIdentityToken("Incorrect token audience")
	default:
		return errInvalidIdentityToken("Invalid web identity token")
	}
}

// tagsFromClaims reads session tags from the https://aws.amazon.com/tags
// claim (STS-SPEC §6.2).
func tagsFromClaims(claims map[string]any) (tags map[string]string, transitive []string, present bool, err error) {
	raw, ok := claims[claimTags]
	if !ok {
		return nil, nil, false, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, nil, true, errors.New("tags claim is not an object")
	}
	tags = map[string]string{}
	lower := map[string]bool{}
	if pt, ok := obj["principal_tags"]; ok {
		m, ok := pt.(map[string]any)
		if !ok {
			return nil, nil, true, errors.New("principal_tags is not an object")
		}
		if len(m) > 50 {
			return nil, nil, true, errors.New("more than 50 session tags")
		}
		for k, v := range m {
			var val string
			switch tv := v.(type) {
			case []any:
				if len(tv) != 1 {
					return nil, nil, true, fmt.Errorf("tag %q must have exactly one value", k)
				}
				s, ok := tv[0].(string)
				if !ok {
					return nil, nil, true, fmt.Errorf("tag %q value is not a string", k)
				}
				val = s
			case string:
				val = tv
			default:
				return nil, nil, true, fmt.Errorf("tag %q value is not a string list", k)
			}
			if err := checkTag(k, val); err != nil {
				return nil, nil, true, err
			}
			if lower[strings.ToLower(k)] {
				return nil, nil, true, fmt.Errorf("duplicate tag key %q (keys are case-insensitive)", k)
			}
			lower[strings.ToLower(k)] = true
			tags[k] = val
		}
	}
	if tt, ok := obj["transitive_tag_keys"]; ok {
		list, ok := tt.([]any)
		if !ok {
			return nil, nil, true, errors.New("transitive_tag_keys is not a list")
		}
		if len(list) > 50 {
			return nil, nil, true, errors.New("more than 50 transitive tag keys")
		}
		for _, it := range list {
			k, ok := it.(string)
			if !ok || !lower[strings.ToLower(k)] {
				return nil, nil, true, fmt.Errorf("transitive tag key %v is not a session tag", it)
			}
			transitive = append(transitive, k)
		}
	}
	return tags, transitive, true, nil
}

func checkTag(k, v string) error {
	if n := utf8.RuneCountInString(k); n < 1 || n > 128 || !tagPattern.MatchString(k) || strings.HasPrefix(strings.ToLower(k), "aws:") {
		return fmt.Errorf("invalid tag key %q", k)
	}
	if utf8.RuneCountInString(v) > 256 || !tagPattern.MatchString(v) || strings.HasPrefix(strings.ToLower(v), "aws:") {
		return fmt.Errorf("invalid value for tag %q", k)
	}
	return nil
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

func checkSourceIdentity(si string) error {
	if n := len(si); n < 2 || n > 64 || !sessionNamePattern.MatchString(si) || strings.HasPrefix(strings.ToLower(si), "aws:") {
		return fmt.Errorf("invalid source identity %q", si)
	}
	return nil
}

// webIdentityKeys are the provider keys that stay available to later
// requests of a web identity session (STS-SPEC §6.3: amr, aud, sub).
func webIdentityKeys(pfx string, id *WebIdentity) map[string][]string {
	m := map[string][]string{pfx + "aud": {id.Audience}, pfx + "sub": {id.Subject}}
	if len(id.AMR) > 0 {
		m[pfx+"amr"] = id.AMR
	}
	return m
}
