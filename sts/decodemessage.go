package sts

import (
	"context"
	"net/http"
	"strconv"

	"github.com/idbroker/idbroker/sts/policy"
)

// handleDecodeAuthorizationMessage: this STS never encodes authorization
// messages, so a caller allowed to decode always gets
// InvalidAuthorizationMessageException.
func (s *Service) handleDecodeAuthorizationMessage(ctx context.Context, req *Request) (any, error) {
	sess, region, err := s.authenticate(ctx, req.Action, req.HTTP, req.Body())
	if err != nil {
		return nil, err
	}
	var v validation
	msg, present := req.Lookup("EncodedMessage")
	v.checkParam("encodedMessage", msg, present, true, false, 1, 10240, nil)
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
