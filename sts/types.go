package sts

import (
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// Credentials are minted temporary credentials. Only SecretAccessKey and
// SessionToken are secret; LogValue redacts them.
type Credentials struct {
	AccessKeyID     string    `xml:"AccessKeyId" json:"AccessKeyId"`
	SecretAccessKey string    `xml:"SecretAccessKey" json:"SecretAccessKey"`
	SessionToken    string    `xml:"SessionToken" json:"SessionToken"`
	Expiration      time.Time `xml:"Expiration" json:"Expiration"`
}

// LogValue implements slog.LogValuer: the secret and token never reach a log.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_key_id", c.AccessKeyID),
		slog.String("secret_access_key", "REDACTED"),
		slog.String("session_token", "REDACTED"),
		slog.Time("expiration", c.Expiration),
	)
}

// AssumedRoleUser identifies the assumed-role session.
type AssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId" json:"AssumedRoleId"`
	Arn           string `xml:"Arn" json:"Arn"`
}

// Session is what a session token proves, as returned by Authenticate.
type Session struct {
	AccessKeyID, Account, RoleARN, RoleName, RoleID, SessionName, SourceIdentity string
	Tags                                                                         map[string]string
	TransitiveTagKeys                                                            []string
	Policy                                                                       string
	PolicyARNs                                                                   []string
	IssuedAt, Expiration                                                         time.Time
	Chained, MFA                                                                 bool
	Provider                                                                     string
	// FederatedKeys are the identity provider's condition keys that stay
	// available to later requests and chained AssumeRole calls (STS-SPEC
	// §5.5, §6.3): saml:sub, saml:sub_type, saml:namequalifier for SAML;
	// <provider>:sub, :aud, :amr for web identity.
	FederatedKeys map[string][]string
}

// AssumedRoleID is "<role id>:<session name>" (GetCallerIdentity UserId).
func (s *Session) AssumedRoleID() string { return s.RoleID + ":" + s.SessionName }

// AssumedRoleARN is "arn:<p>:sts::<acct>:assumed-role/<role name>/<session>"
// (partition taken from the role ARN).
func (s *Session) AssumedRoleARN() string {
	return awsspec.AssumedRoleARN(awsspec.PartitionOf(s.RoleARN), s.Account, s.RoleName, s.SessionName)
}

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

// GetCallerIdentityOutput is the GetCallerIdentityResult.
type GetCallerIdentityOutput struct {
	Arn     string `xml:"Arn" json:"Arn"`
	UserID  string `xml:"UserId" json:"UserId"`
	Account string `xml:"Account" json:"Account"`
}
