package broker

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/url"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// The broker as a SAML identity provider towards its own STS: for a SAML
// login it vouches for the chosen role the way ADFS vouches to AWS, with a
// signed SAML Response that follows AWS's assertion requirements, and
// redeems it with AssumeRoleWithSAML in process.

// SAMLIdPProviderName is the name the broker's SAML provider has in the STS
// (arn:<partition>:iam::<account>:saml-provider/idbroker).
const SAMLIdPProviderName = "idbroker"

// SAMLAssertionLifetime bounds the broker's assertions (AWS: redeem within 5 minutes).
const SAMLAssertionLifetime = 5 * time.Minute

// SAMLIdPConfig configures the broker's IdP side.
type SAMLIdPConfig struct {
	// PublicURL is the broker's public URL: the entity ID is
	// <PublicURL>/saml/idp/metadata and the Recipient <PublicURL>/saml.
	PublicURL string
	// ProviderARN is the STS's ARN for this IdP (saml-provider/idbroker).
	ProviderARN string
	// Key and Certificate sign the Responses (RSA-SHA256, exclusive C14N).
	Key         *rsa.PrivateKey
	Certificate *x509.Certificate
	// Now defaults to time.Now.
	Now func() time.Time
}

// SAMLIdP signs the broker's SAML Responses and serves its IdP metadata.
type SAMLIdP struct {
	entityID, recipient, providerARN string
	key                              *rsa.PrivateKey
	cert                             *x509.Certificate
	now                              func() time.Time
	// descriptor is the IdP metadata without its validUntil, which
	// metadataAt sets on every rendering.
	descriptor crewjam.EntityDescriptor
}

// NewSAMLIdP builds the broker's IdP.
func NewSAMLIdP(cfg SAMLIdPConfig) (*SAMLIdP, error) {
	if cfg.Key == nil || cfg.Certificate == nil {
		return nil, errors.New("saml idp: a key and certificate are required")
	}
	if pub, ok := cfg.Certificate.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&cfg.Key.PublicKey) {
		return nil, errors.New("saml idp: the certificate does not certify the key")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("saml idp: public URL must be an absolute http(s) URL")
	}
	if !strings.HasPrefix(cfg.ProviderARN, "arn:") || !strings.Contains(cfg.ProviderARN, ":saml-provider/") {
		return nil, errors.New("saml idp: provider ARN must be arn:<partition>:iam::<account>:saml-provider/<name>")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	i := &SAMLIdP{
		entityID: base + "/saml/idp/metadata", recipient: samlRecipient(cfg.PublicURL), providerARN: cfg.ProviderARN,
		key: cfg.Key, cert: cfg.Certificate, now: cfg.Now,
	}
	i.descriptor = i.buildDescriptor(base)
	if _, err := i.metadataAt(i.now()); err != nil {
		return nil, err
	}
	return i, nil
}

// EntityID is the IdP entity ID (the Issuer of every Response).
func (i *SAMLIdP) EntityID() string { return i.entityID }

// Recipient is SubjectConfirmationData/@Recipient and Response/@Destination
// of every Response: the broker's STS SAML endpoint (<public_url>/saml).
// The STS reports it as Audience and as the saml:aud condition key.
func (i *SAMLIdP) Recipient() string { return i.recipient }

// Audiences are the AudienceRestriction values: AWS's SP entity ID and the
// broker's STS endpoint.
func (i *SAMLIdP) Audiences() []string { return []string{awsspec.SAMLAudience, i.recipient} }

// ProviderARN is the STS's ARN for the broker's SAML provider.
func (i *SAMLIdP) ProviderARN() string { return i.providerARN }

// samlRecipient is the Recipient (and Destination) of the broker's
// Responses: the STS's SAML endpoint on the broker's public URL, which the
// roles that trust the broker name as SAML:aud (trust.go).
func samlRecipient(publicURL string) string { return strings.TrimSuffix(publicURL, "/") + "/saml" }
