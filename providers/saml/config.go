package saml

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// Config is one upstream SAML IdP, as written in the configuration file.
type Config struct {
	// IdPMetadataURL is fetched (https, or http on loopback) and refreshed
	// every MetadataRefresh; the last good copy is kept when a fetch fails.
	IdPMetadataURL  string `yaml:"idp_metadata_url"`
	IdPMetadataFile string `yaml:"idp_metadata_file"`
	IdPMetadataXML  string `yaml:"idp_metadata_xml"`
	// MetadataRefresh is the refresh interval for IdPMetadataURL (default 1h).
	MetadataRefresh time.Duration `yaml:"metadata_refresh"`
	// EntityID is our SP entity ID (default <public_url>/saml/<name>/metadata).
	EntityID string `yaml:"entity_id"`
	// GroupsAttribute names the attribute (Name or FriendlyName) holding groups.
	GroupsAttribute string `yaml:"groups_attribute"`
	// GroupsDelimiter, when set, splits each groups value (e.g. ",").
	GroupsDelimiter string `yaml:"groups_delimiter"`
	// EmailAttribute, NameAttribute, UsernameAttribute name attributes
	// (Name or FriendlyName). Username defaults to the NameID; email defaults
	// to the NameID when its Format is emailAddress.
	EmailAttribute    string `yaml:"email_attribute"`
	NameAttribute     string `yaml:"name_attribute"`
	UsernameAttribute string `yaml:"username_attribute"`
	// AllowIdPInitiated accepts unsolicited responses (default false).
	AllowIdPInitiated bool `yaml:"allow_idp_initiated"`
	// AllowSHA1 accepts RSA-SHA1/ECDSA-SHA1 signatures and SHA-1 digests.
	AllowSHA1 bool `yaml:"allow_sha1"`
	// ClockSkew is the tolerance for time checks (default 60s, at most 10m).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// MaxIssueAge is how old IssueInstant may be (default 5m).
	MaxIssueAge time.Duration `yaml:"max_issue_age"`
	// SignRequests signs AuthnRequests with the SP key.
	SignRequests bool `yaml:"sign_requests"`
	// SPKeyFile and SPCertFile (PEM) are the SP signing/encryption key pair;
	// when empty the integrator passes one in Options.
	SPKeyFile  string `yaml:"sp_key_file"`
	SPCertFile string `yaml:"sp_cert_file"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the configuration and names each bad key.
func (c Config) Validate() error {
	var errs []error
	if err := (MetadataSource{URL: c.IdPMetadataURL, File: c.IdPMetadataFile, XML: c.IdPMetadataXML}).validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MetadataRefresh < 0 {
		errs = append(errs, errors.New("metadata_refresh: must not be negative"))
	}
	if c.MetadataRefresh != 0 && c.IdPMetadataURL == "" {
		errs = append(errs, errors.New("metadata_refresh: only meaningful with idp_metadata_url"))
	}
	if c.EntityID != "" {
		if u, err := url.Parse(c.EntityID); err != nil || (u.Scheme == "") {
			errs = append(errs, errors.New("entity_id: must be an absolute URI"))
		}
	}
	if c.GroupsDelimiter != "" && c.GroupsAttribute == "" {
		errs = append(errs, errors.New("groups_delimiter: requires groups_attribute"))
	}
	if c.ClockSkew < 0 || c.ClockSkew > maxClockSkew {
		errs = append(errs, errors.New("clock_skew: must be between 0 and 10m"))
	}
	if c.MaxIssueAge < 0 || c.MaxIssueAge > maxMaxIssueAge {
		errs = append(errs, errors.New("max_issue_age: must be between 0 and 1h"))
	}
	if (c.SPKeyFile == "") != (c.SPCertFile == "") {
		errs = append(errs, errors.New("sp_key_file, sp_cert_file: set both or neither"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	return nil
}

// Options carries what the integrator supplies besides Config.
type Options struct {
	// Name is the provider's configured name; it appears in our URLs.
	Name string
	// PublicURL is the broker's external base URL (https://broker.example).
	PublicURL string
	// Key and Certificate are the SP key pair, used when Config names no files.
	Key         crypto.Signer
	Certificate *x509.Certificate
	// ReplayCache is required (shared across instances in production).
	ReplayCache ReplayCache
	// HTTPClient fetches metadata URLs (default: 10s timeout client).
	HTTPClient *http.Client
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}
