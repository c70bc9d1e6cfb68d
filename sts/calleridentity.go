package sts

import "context"

// GetCallerIdentityOutput is the GetCallerIdentityResult.
type GetCallerIdentityOutput struct {
	Arn     string `xml:"Arn" json:"Arn"`
	UserID  string `xml:"UserId" json:"UserId"`
	Account string `xml:"Account" json:"Account"`
}

// GetCallerIdentity answers for an authenticated session (STS-SPEC §2.4).
func (s *Service) GetCallerIdentity(ctx context.Context, sess *Session) *GetCallerIdentityOutput {
	return &GetCallerIdentityOutput{Arn: sess.AssumedRoleARN(), UserID: sess.AssumedRoleID(), Account: sess.Account}
}

func (s *Service) handleGetCallerIdentity(ctx context.Context, req *Request) (any, error) {
	sess, _, err := s.authenticate(ctx, req.Action, req.HTTP, req.Body())
	if err != nil {
		return nil, err
	}
	return s.GetCallerIdentity(ctx, sess), nil
}
