package sts

import (
	"context"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// RevocationChecker answers, on every SigV4-authenticated request and
// before any chaining, whether credentials are revoked. It must answer from
// memory (no I/O): it sits on the hot path of every signed request.
// internal/revocation.Set implements it.
type RevocationChecker interface {
	Revoked(c RevocationSubject) bool
}

// RevocationSubject is what a revocation can name of a credential: the
// credential itself, its role, the login session it came from and the
// credentials it was chained from.
type RevocationSubject struct {
	// AccessKeyID and RoleARN are the credential's own.
	AccessKeyID string
	RoleARN     string
	// SessionID is the login session the credentials came from (the sid of
	// the web identity token, the SessionIndex of the SAML assertion; ""
	// when there was none), inherited along a role chain. Provider is the
	// identity provider ARN that vouched for it: a session id is only
	// meaningful for the provider that issued it.
	SessionID, Provider string
	// ParentAccessKeyIDs, ParentRoleARNs and ParentIssuedAt are the
	// ancestry of chained credentials — each ancestor's access key, role
	// and issue time — root first (empty for credentials that were not
	// chained). A match on an ancestor is judged by that ancestor's issue
	// time and a match on the session by the root's, so that credentials
	// chained after a revocation from credentials issued before it (on a
	// replica that had not applied it yet) are refused with them.
	ParentAccessKeyIDs, ParentRoleARNs []string
	ParentIssuedAt                     []time.Time
	// IssuedAt is when the credential was minted (whole seconds, as the
	// session token carries it).
	IssuedAt time.Time
}

// maxChainDepth is how many AssumeRole hops a credential may be from its
// root: the ancestry the session token carries (one access key id and one
// role ARN per hop) is bounded so that a token stays small. Credentials
// already that deep cannot chain again.
const maxChainDepth = 10

// errChainTooDeep refuses an AssumeRole whose caller is maxChainDepth hops
// from its root.
func errChainTooDeep() *Error {
	return errValidation("Role chaining is limited to 10 hops: the calling credentials were chained from 10 others and cannot assume a role again.")
}

// maxSessionIDLen is the longest login session id (sid claim, SAML
// SessionIndex) a credential can carry.
const maxSessionIDLen = 256

// validSessionID reports whether id may be carried as a credential's
// SessionID: 1 to maxSessionIDLen printable ASCII characters, no space.
// Broker session ids and the session ids of common IdPs (UUIDs, GUIDs,
// "_"+hex) all are; anything else is refused rather than carried, so that
// a hostile token cannot smuggle bytes into the session token or the logs.
func validSessionID(id string) bool {
	if id == "" || len(id) > maxSessionIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// revocationSubject is what the RevocationChecker is asked about c.
func (c *tokenClaims) revocationSubject() RevocationSubject {
	return RevocationSubject{
		AccessKeyID: c.AccessKeyID, RoleARN: c.RoleARN,
		SessionID: c.SessionID, Provider: c.Provider,
		ParentAccessKeyIDs: c.ParentAccessKeyIDs, ParentRoleARNs: c.ParentRoleARNs,
		ParentIssuedAt: unixTimes(c.ParentIssuedAt), IssuedAt: time.Unix(c.IssuedAt, 0),
	}
}

// RevocationSubject is what the RevocationChecker is asked about s.
func (s *Session) RevocationSubject() RevocationSubject {
	return RevocationSubject{
		AccessKeyID: s.AccessKeyID, RoleARN: s.RoleARN,
		SessionID: s.SessionID, Provider: s.Provider,
		ParentAccessKeyIDs: s.ParentAccessKeyIDs, ParentRoleARNs: s.ParentRoleARNs,
		ParentIssuedAt: s.ParentIssuedAt, IssuedAt: s.IssuedAt,
	}
}

// checkRevoked refuses revoked credentials as AWS refuses an unknown token
// (403 InvalidClientTokenId), so that a revoked holder learns nothing more,
// and audits the refusal under action ("" for a caller outside the Query
// API: "Authenticate").
func (s *Service) checkRevoked(ctx context.Context, action string, c *tokenClaims) error {
	if s.revocations == nil || !s.revocations.Revoked(c.revocationSubject()) {
		return nil
	}
	if action == "" {
		action = "Authenticate"
	}
	ev := AuditEvent{
		Action: action, RoleARN: c.RoleARN, SessionName: c.SessionName, AccessKeyID: c.AccessKeyID,
		SessionID: c.SessionID, Expiration: time.Unix(c.Expiry, 0).UTC(),
	}
	ev.Principal = awsspec.AssumedRoleARN(awsspec.PartitionOf(c.RoleARN), c.Account, awsspec.RoleNameFromARN(c.RoleARN), c.SessionName)
	return s.deny(ctx, ev, errInvalidClientToken(), "credentials revoked")
}
