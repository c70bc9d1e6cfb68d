package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/sts/policy"
)

type mintParams struct {
	role                        *role
	sessionName, sourceIdentity string
	policy                      string
	policyARNs                  []string
	tags                        map[string]string
	transitive                  []string
	duration                    time.Duration
	chained, mfa                bool
	provider                    string
	federated                   map[string][]string
	now                         time.Time
}

// mint creates credentials for a role session: a random access key id, a
// sealed session token carrying the session, and the derived secret.
func (s *Service) mint(p mintParams) (Credentials, AssumedRoleUser, error) {
	key := s.keys.sealingKey()
	if key == nil {
		return Credentials{}, AssumedRoleUser{}, fmt.Errorf("sts: mint: empty key ring")
	}
	akid, err := newAccessKeyID()
	if err != nil {
		return Credentials{}, AssumedRoleUser{}, err
	}
	now := p.now.UTC().Truncate(time.Second)
	exp := now.Add(p.duration)
	c := &tokenClaims{
		AccessKeyID: akid, Account: s.account, RoleARN: p.role.arn, RoleID: p.role.id,
		SessionName: p.sessionName, SourceIdentity: p.sourceIdentity,
		Policy: p.policy, PolicyARNs: p.policyARNs, Tags: p.tags, TransitiveTagKeys: p.transitive,
		IssuedAt: now.Unix(), Expiry: exp.Unix(), Chained: p.chained, Provider: p.provider, MFA: p.mfa,
		Federated: p.federated,
	}
	tok, err := key.seal(c)
	if err != nil {
		return Credentials{}, AssumedRoleUser{}, err
	}
	s.issued.Add(1)
	return Credentials{AccessKeyID: akid, SecretAccessKey: key.deriveSecret(akid), SessionToken: tok, Expiration: exp},
		AssumedRoleUser{
			AssumedRoleID: p.role.id + ":" + p.sessionName,
			Arn:           assumedRoleARN(s.partition, s.account, p.role.name, p.sessionName),
		}, nil
}

// mintFailed answers a failed mint: an AWS error (a session too large to
// carry: PackedPolicyTooLarge) goes to the caller as it is; anything else is
// our fault, logged, and answered as InternalFailure.
func (s *Service) mintFailed(ctx context.Context, ev AuditEvent, err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		return s.deny(ctx, ev, ae, "mint: "+err.Error())
	}
	s.log.ErrorContext(ctx, "sts: mint", "err", err)
	return s.deny(ctx, ev, errInternal(), "mint: "+err.Error())
}

// sessionPolicies parses an inline session policy and resolves managed
// session policy ARNs (same account, must exist in ManagedPolicies).
func (s *Service) sessionPolicies(doc string, arns []string) ([]*policy.Policy, []string, error) {
	var out []*policy.Policy
	if doc != "" {
		p, err := policy.Parse([]byte(doc), policy.Identity)
		if err != nil {
			return nil, nil, errMalformedPolicy(err.Error())
		}
		p.SetName(sessionPolicyName)
		out = append(out, p)
	}
	var resolved []string
	for _, arn := range arns {
		p, ok := s.managed[arn]
		if !ok {
			return nil, nil, errMalformedPolicy("Policy " + arn + " does not exist or is not attachable.")
		}
		out = append(out, p)
		resolved = append(resolved, arn)
	}
	return out, resolved, nil
}

// checkPackedSize is the PackedPolicySize of a session (policy.PackedSize);
// over 100 it is PackedPolicyTooLarge.
func checkPackedSize(doc string, arns []string, tags map[string]string) (int, error) {
	pct := policy.PackedSize(doc, arns, tags)
	if pct > 100 {
		return pct, newError(http.StatusBadRequest, "PackedPolicyTooLarge",
			"Packed size of session policies and session tags exceeds the limit (%d%% of allowed)", pct)
	}
	return pct, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// GetCallerIdentity answers for an authenticated session (STS-SPEC §2.4).
func (s *Service) GetCallerIdentity(ctx context.Context, sess *Session) *GetCallerIdentityOutput {
	return &GetCallerIdentityOutput{Arn: sess.AssumedRoleARN(), UserID: sess.AssumedRoleID(), Account: sess.Account}
}

func (s *Service) handleGetCallerIdentity(ctx context.Context, req *Request) (any, error) {
	sess, err := s.Authenticate(req.HTTP, req.Body())
	if err != nil {
		return nil, err
	}
	return s.GetCallerIdentity(ctx, sess), nil
}
