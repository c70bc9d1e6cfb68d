package sts

import (
	"context"
	"crypto/hmac"
	"net/http"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// Session is what a session token proves, as returned by Authenticate.
type Session struct {
	AccessKeyID, Account, RoleARN, RoleName, RoleID, SessionName, SourceIdentity string
	Tags                                                                         map[string]string
	TransitiveTagKeys                                                            []string
	Policy                                                                       string
	PolicyARNs                                                                   []string
	IssuedAt, Expiration                                                         time.Time
	Chained, MFA                                                                 bool
	// MFAAuthTime is when the multi-factor authentication behind MFA
	// happened (aws:MultiFactorAuthAge counts from it); zero without MFA,
	// or when the time is not known (a token sealed before it was carried).
	MFAAuthTime time.Time
	Provider    string
	// FederatedKeys are the identity provider's condition keys that stay
	// available to later requests and chained AssumeRole calls (STS-SPEC
	// §5.5, §6.3): saml:sub, saml:sub_type, saml:namequalifier for SAML;
	// <provider>:sub, :aud, :amr for web identity.
	FederatedKeys map[string][]string
	// SessionID is the login session the credentials came from: the sid
	// claim of the web identity token or the SessionIndex of the SAML
	// assertion ("" when it had none). Chained credentials inherit it.
	SessionID string
	// ParentAccessKeyIDs, ParentRoleARNs and ParentIssuedAt are the
	// credentials this session was chained from with AssumeRole — their
	// access key, role and issue time — root first, one entry per hop (at
	// most 10); empty for credentials that were not chained.
	ParentAccessKeyIDs, ParentRoleARNs []string
	ParentIssuedAt                     []time.Time
}

// AssumedRoleID is "<role id>:<session name>" (GetCallerIdentity UserId).
func (s *Session) AssumedRoleID() string { return s.RoleID + ":" + s.SessionName }

// AssumedRoleARN is "arn:<p>:sts::<acct>:assumed-role/<role name>/<session>"
// (partition taken from the role ARN).
func (s *Session) AssumedRoleARN() string {
	return awsspec.AssumedRoleARN(awsspec.PartitionOf(s.RoleARN), s.Account, s.RoleName, s.SessionName)
}

// openSession checks a session token presented with an access key id: size
// cap, a genuine token sealed by a key of the ring, the access key id bound
// inside it, and expiry (expired at exactly its Expiration). Errors are the
// AWS codes of STS-SPEC §3.
func (s *Service) openSession(accessKeyID, token string, now time.Time) (*tokenClaims, *ringKey, error) {
	if token == "" || !strings.HasPrefix(accessKeyID, "ASIA") {
		// No long-term keys exist here; a temporary key needs its token.
		return nil, nil, errInvalidClientToken()
	}
	if len(token) > maxSessionTokenLen {
		return nil, nil, newError(http.StatusBadRequest, "InvalidParameterValue", "The security token included in the request is too large")
	}
	claims, key, err := s.keys.openToken(token)
	if err != nil {
		return nil, nil, errInvalidClientToken()
	}
	if !hmac.Equal([]byte(claims.AccessKeyID), []byte(accessKeyID)) {
		return nil, nil, errInvalidClientToken()
	}
	if !now.Before(time.Unix(claims.Expiry, 0)) {
		return nil, nil, errExpiredToken()
	}
	return claims, key, nil
}

// SessionFromToken returns the session a token proves, without a request
// signature: it proves possession of the session token only (not of the
// secret key), so callers should prefer Authenticate on a signed request.
// Errors are *Error: InvalidClientTokenId (also for revoked credentials),
// ExpiredToken, InvalidParameterValue.
func (s *Service) SessionFromToken(accessKeyID, sessionToken string) (*Session, error) {
	claims, _, err := s.openSession(accessKeyID, sessionToken, s.now().UTC())
	if err != nil {
		return nil, err
	}
	if err := s.checkRevoked(context.Background(), "", claims); err != nil {
		return nil, err
	}
	return claims.session(), nil
}
