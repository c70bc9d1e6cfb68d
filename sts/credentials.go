package sts

import (
	"log/slog"
	"time"
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
