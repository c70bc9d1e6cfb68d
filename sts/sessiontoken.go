package sts

import (
	"context"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// maxUserTokenDuration is the longest DurationSeconds of GetSessionToken
// and GetFederationToken (STS-SPEC §2.5, §2.6): 36 hours.
const maxUserTokenDuration = 129600

// GetSessionToken and GetFederationToken are actions of IAM users. Every
// caller of this STS holds role-session credentials, so both are answered
// as AWS answers such a caller, once the request itself is valid.

// handleGetSessionToken validates the request and answers as AWS answers
// session credentials: every caller here holds session credentials.
func (s *Service) handleGetSessionToken(ctx context.Context, req *Request) (any, error) {
	if _, _, err := s.authenticate(ctx, req.Action, req.HTTP, req.Body()); err != nil {
		return nil, err
	}
	var v validation
	var d *int32
	if raw, ok := req.Lookup("DurationSeconds"); ok {
		d = parseDuration(raw, &v)
	}
	v.checkDurationRange(d, awsspec.MinDurationSeconds, maxUserTokenDuration)
	v.checkMFA(req.Get("SerialNumber"), req.Get("TokenCode"), emptyParamsOf(req, "SerialNumber", "TokenCode"))
	if err := v.err(); err != nil {
		return nil, err
	}
	return nil, errAccessDenied("Cannot call GetSessionToken with session credentials")
}

// handleGetFederationToken validates the request and answers as AWS answers
// session credentials.
func (s *Service) handleGetFederationToken(ctx context.Context, req *Request) (any, error) {
	if _, _, err := s.authenticate(ctx, req.Action, req.HTTP, req.Body()); err != nil {
		return nil, err
	}
	var v validation
	var d *int32
	if raw, ok := req.Lookup("DurationSeconds"); ok {
		d = parseDuration(raw, &v)
	}
	name, hasName := req.Lookup("Name")
	v.checkParam("name", name, hasName, true, false, awsspec.MinSessionNameLen, 32, nameChars)
	doc, hasPolicy := req.Lookup("Policy")
	v.checkPolicy(doc, hasPolicy)
	arns, err := policyArnsParam(req)
	if err != nil {
		return nil, err
	}
	v.checkPolicyArns(arns)
	v.checkDurationRange(d, awsspec.MinDurationSeconds, maxUserTokenDuration)
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
