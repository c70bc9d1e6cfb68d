package sts

import "context"

// GetAccessKeyInfoOutput is the GetAccessKeyInfoResult.
type GetAccessKeyInfoOutput struct {
	Account string `xml:"Account" json:"Account"`
}

func (s *Service) handleGetAccessKeyInfo(ctx context.Context, req *Request) (any, error) {
	if _, _, err := s.authenticate(ctx, req.Action, req.HTTP, req.Body()); err != nil {
		return nil, err
	}
	var v validation
	akid, present := req.Lookup("AccessKeyId")
	v.checkParam("accessKeyId", akid, present, true, false, 16, 128, accessKeyChars)
	if err := v.err(); err != nil {
		return nil, err
	}
	// Every key this STS knows belongs to its one account; like AWS, the
	// answer reveals nothing about the key's state.
	return &GetAccessKeyInfoOutput{Account: s.account}, nil
}
