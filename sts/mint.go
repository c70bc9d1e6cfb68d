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

type mintParams struct {
	role                        *role
	sessionName, sourceIdentity string
	policy                      string
	policyARNs                  []string
	tags                        map[string]string
	transitive                  []string
	duration                    time.Duration
	chained, mfa                bool
	// mfaAuthTime is when the MFA happened (zero: without MFA, or unknown).
	mfaAuthTime time.Time
	provider    string
	federated   map[string][]string
	// sessionID is the login session the credentials come from;
	// parentKeys, parentRoles and parentIssued (Unix seconds) the ancestry
	// of chained credentials, root first (see Session).
	sessionID               string
	parentKeys, parentRoles []string
	parentIssued            []int64
	now                     time.Time
	// beforeIssue, when set, runs after the session token is sealed and
	// before the credentials count as issued; its error refuses them. The
	// SAML path claims the assertion here, so that no refusal (not even a
	// session too large to seal) uses the assertion up.
	beforeIssue func() error
}

// mint creates credentials for a role session: a random access key id, a
// sealed session token carrying the session, and the derived secret. A
// request made to the Query API directly first passes the issuance limits
// (limits.go), before anything is sealed or claimed.
func (s *Service) mint(ctx context.Context, p mintParams) (Credentials, AssumedRoleUser, error) {
	if err := s.admitIssue(ctx, &p); err != nil {
		return Credentials{}, AssumedRoleUser{}, err
	}
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
		MFAAuthTime: mfaUnix(p.mfa, p.mfaAuthTime),
		Federated:   p.federated, SessionID: p.sessionID,
		ParentAccessKeyIDs: p.parentKeys, ParentRoleARNs: p.parentRoles, ParentIssuedAt: p.parentIssued,
	}
	tok, err := key.seal(c)
	if err != nil {
		return Credentials{}, AssumedRoleUser{}, err
	}
	if p.beforeIssue != nil {
		if err := p.beforeIssue(); err != nil {
			return Credentials{}, AssumedRoleUser{}, err
		}
	}
	s.issued.Add(1)
	return Credentials{AccessKeyID: akid, SecretAccessKey: key.deriveSecret(akid), SessionToken: tok, Expiration: exp},
		AssumedRoleUser{
			AssumedRoleID: p.role.id + ":" + p.sessionName,
			Arn:           awsspec.AssumedRoleARN(s.partition, s.account, p.role.name, p.sessionName),
		}, nil
}

// emitIssued audits credentials issued for the request of ev.
func (s *Service) emitIssued(ctx context.Context, ev AuditEvent, creds Credentials) {
	ev.Outcome = "issued"
	ev.AccessKeyID = creds.AccessKeyID
	ev.Expiration = creds.Expiration
	s.emit(ctx, ev)
	s.observeIssued(ctx, ev)
}

// mintFailed answers a failed mint: a session too large to carry is
// PackedPolicyTooLarge, as AWS answers it (tags and policies that pass the
// packed-size check by compressing well can still make a token over
// maxSessionTokenLen); anything else is our fault, logged, and answered as
// InternalFailure.
func (s *Service) mintFailed(ctx context.Context, ev AuditEvent, err error) error {
	if refusal := s.limitRefusal(ctx, ev, err); refusal != nil {
		return refusal
	}
	var tl *tokenTooLargeError
	if errors.As(err, &tl) {
		return s.deny(ctx, ev, errPackedPolicyTooLarge(tl.size*100/maxSessionTokenLen), "mint: "+err.Error())
	}
	s.log.ErrorContext(ctx, "sts: mint", "err", err)
	return s.deny(ctx, ev, errInternal(), "mint: "+err.Error())
}

// checkSessionPolicies checks the session policies of a request: the
// inline one must parse, and managed session policy ARNs must name policies
// of ManagedPolicies (same account). Decisions compile them again from the
// session token, through the Service's cache (Authorize).
func (s *Service) checkSessionPolicies(doc string, arns []string) error {
	if doc != "" {
		if _, err := policy.Parse([]byte(doc), policy.Identity); err != nil {
			return errMalformedPolicy(err.Error())
		}
	}
	for _, arn := range arns {
		if _, ok := s.managed[arn]; !ok {
			return errMalformedPolicy("Policy " + arn + " does not exist or is not attachable.")
		}
	}
	return nil
}

// checkPackedSize is the PackedPolicySize of a session (policy.PackedSize);
// over 100 it is PackedPolicyTooLarge.
func checkPackedSize(doc string, arns []string, tags map[string]string) (int, error) {
	pct := policy.PackedSize(doc, arns, tags)
	if pct > 100 {
		return pct, errPackedPolicyTooLarge(pct)
	}
	return pct, nil
}

func errPackedPolicyTooLarge(pct int) *Error {
	return newError(http.StatusBadRequest, "PackedPolicyTooLarge",
		"Packed size of session policies and session tags exceeds the limit (%d%% of allowed)", pct)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// errDurationOverRoleMax refuses a DurationSeconds over the role's
// MaxSessionDuration.
func errDurationOverRoleMax() *Error {
	return errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
}
