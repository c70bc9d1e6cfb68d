package saml

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idbroker/idbroker/providers"
)

// Binding names accepted by MakeAuthnRequest.
const (
	BindingRedirect = crewjam.HTTPRedirectBinding
	BindingPOST     = crewjam.HTTPPostBinding
)

// Provider is one upstream SAML IdP with its own SP identity.
type Provider struct {
	name     string
	cfg      Config
	entityID string
	acsURL   string
	metaURL  string
	key      crypto.Signer
	cert     *x509.Certificate
	md       *metadataCache
	ver      *verifier
	logger   *slog.Logger
}

// New builds a Provider. Static metadata (file, XML) is parsed now; a URL is
// fetched on first use.
func New(cfg Config, opts Options) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !nameRE.MatchString(opts.Name) {
		return nil, fmt.Errorf("%w: provider name must match %s", providers.ErrConfiguration, nameRE)
	}
	base, err := url.Parse(opts.PublicURL)
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("%w: public URL must be an absolute http(s) URL", providers.ErrConfiguration)
	}
	if opts.ReplayCache == nil {
		return nil, fmt.Errorf("%w: a replay cache is required", providers.ErrConfiguration)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key, cert := opts.Key, opts.Certificate
	if cfg.SPKeyFile != "" {
		pair, err := tls.LoadX509KeyPair(cfg.SPCertFile, cfg.SPKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: sp_key_file/sp_cert_file: %w", providers.ErrConfiguration, err)
		}
		signer, ok := pair.PrivateKey.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: sp_key_file: unsupported key", providers.ErrConfiguration)
		}
		key, cert = signer, pair.Leaf
		if cert == nil {
			if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
				return nil, fmt.Errorf("%w: sp_cert_file: %w", providers.ErrConfiguration, err)
			}
		}
	}
	if key == nil || cert == nil {
		return nil, fmt.Errorf("%w: an SP key and certificate are required", providers.ErrConfiguration)
	}
	prefix := strings.TrimRight(opts.PublicURL, "/") + "/saml/" + opts.Name
	p := &Provider{
		name:     opts.Name,
		cfg:      cfg,
		entityID: cfg.EntityID,
		acsURL:   prefix + "/acs",
		metaURL:  prefix + "/metadata",
		key:      key,
		cert:     cert,
		logger:   opts.Logger.With("provider", opts.Name),
	}
	if p.entityID == "" {
		p.entityID = p.metaURL
	}
	p.md, err = newMetadataCache(MetadataSource{
		URL: cfg.IdPMetadataURL, File: cfg.IdPMetadataFile, XML: cfg.IdPMetadataXML,
		Refresh: cfg.MetadataRefresh, HTTPClient: opts.HTTPClient,
	}, p.logger, opts.Now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	rsaKey, _ := key.(*rsa.PrivateKey)
	p.ver = &verifier{
		recipients:        []string{p.acsURL},
		audiences:         []string{p.entityID},
		decryptKey:        rsaKey,
		allowSHA1:         cfg.AllowSHA1,
		allowIDPInitiated: cfg.AllowIdPInitiated,
		skew:              durationOr(cfg.ClockSkew, defaultClockSkew),
		maxAge:            durationOr(cfg.MaxIssueAge, defaultMaxIssueAge),
		now:               opts.Now,
		replay:            opts.ReplayCache,
	}
	return p, nil
}

// The clock settings of a configuration that names none.
const (
	defaultClockSkew   = 60 * time.Second
	defaultMaxIssueAge = 5 * time.Minute
)

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Name returns the provider's configured name.
func (p *Provider) Name() string { return p.name }

// EntityID returns our SP entity ID for this IdP.
func (p *Provider) EntityID() string { return p.entityID }

// ACSURL returns our assertion consumer service URL for this IdP.
func (p *Provider) ACSURL() string { return p.acsURL }

// Refresh re-fetches URL metadata now (for a periodic job); static sources are a no-op.
func (p *Provider) Refresh(ctx context.Context) error { return p.md.Refresh(ctx) }

// serviceProvider builds the crewjam SP for the current IdP metadata.
func (p *Provider) serviceProvider(md *IdPMetadata) *crewjam.ServiceProvider {
	acs, _ := url.Parse(p.acsURL)
	meta, _ := url.Parse(p.metaURL)
	sp := &crewjam.ServiceProvider{
		EntityID:          p.entityID,
		Key:               p.key,
		Certificate:       p.cert,
		AcsURL:            *acs,
		MetadataURL:       *meta,
		IDPMetadata:       md.Descriptor,
		AuthnNameIDFormat: crewjam.UnspecifiedNameIDFormat,
	}
	if p.cfg.SignRequests {
		if _, ok := p.key.(*rsa.PrivateKey); ok {
			sp.SignatureMethod = dsig.RSASHA256SignatureMethod
		} else {
			sp.SignatureMethod = dsig.ECDSASHA256SignatureMethod
		}
	}
	return sp
}

// Metadata returns our SP metadata for the IdP's administrators: entity ID,
// the HTTP-POST ACS, the signing certificate and (RSA keys) the encryption certificate.
func (p *Provider) Metadata() ([]byte, error) {
	acs, _ := url.Parse(p.acsURL)
	meta, _ := url.Parse(p.metaURL)
	sp := &crewjam.ServiceProvider{
		EntityID: p.entityID, Key: p.key, Certificate: p.cert, AcsURL: *acs, MetadataURL: *meta,
		AuthnNameIDFormat: crewjam.UnspecifiedNameIDFormat,
	}
	if p.cfg.SignRequests {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	ed := sp.Metadata()
	d := &ed.SPSSODescriptors[0]
	// Only HTTP-POST is served at the ACS (no artifact resolution).
	d.AssertionConsumerServices = d.AssertionConsumerServices[:1]
	signing := crewjam.KeyDescriptor{Use: "signing"}
	var encryption []crewjam.KeyDescriptor
	for _, kd := range d.KeyDescriptors {
		switch kd.Use {
		case "encryption":
			signing.KeyInfo = kd.KeyInfo
			if _, ok := p.key.(*rsa.PrivateKey); ok {
				kd.EncryptionMethods = []crewjam.EncryptionMethod{
					{Algorithm: algAES128GCM}, {Algorithm: algAES256CBC}, {Algorithm: algAES128CBC}, {Algorithm: algRSAOAEP},
				}
				encryption = append(encryption, kd)
			}
		}
	}
	d.KeyDescriptors = append([]crewjam.KeyDescriptor{signing}, encryption...)
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml metadata: %w", err)
	}
	return out, nil
}

// AuthnRequest is a login request ready to send to the IdP.
type AuthnRequest struct {
	// ID is the request ID; the broker keeps it (sealed cookie) and passes it to HandleACS.
	ID string
	// RedirectURL is set for the HTTP-Redirect binding.
	RedirectURL string
	// HTMLForm is set for the HTTP-POST binding: a self-submitting page (it
	// contains an inline script; serve it with a CSP that allows it or a nonce).
	HTMLForm []byte
}

// MakeAuthnRequest creates an AuthnRequest for the given binding. RelayState
// must not exceed 80 bytes (SAML Bindings §3.4.3).
func (p *Provider) MakeAuthnRequest(ctx context.Context, binding, relayState string) (*AuthnRequest, error) {
	if len(relayState) > 80 {
		return nil, fmt.Errorf("saml: relay state longer than 80 bytes")
	}
	md, err := p.md.get(ctx)
	if err != nil {
		return nil, err
	}
	sp := p.serviceProvider(md)
	idpURL := sp.GetSSOBindingLocation(binding)
	if idpURL == "" {
		return nil, fmt.Errorf("%w: IdP metadata has no SingleSignOnService for %s", providers.ErrConfiguration, binding)
	}
	req, err := sp.MakeAuthenticationRequest(idpURL, binding, crewjam.HTTPPostBinding)
	if err != nil {
		return nil, fmt.Errorf("saml: authn request: %w", err)
	}
	out := &AuthnRequest{ID: req.ID}
	switch binding {
	case BindingRedirect:
		// crewjam appends RelayState unescaped; escape it first (the signature,
		// when any, covers the escaped form as the binding requires).
		u, err := req.Redirect(url.QueryEscape(relayState), sp)
		if err != nil {
			return nil, fmt.Errorf("saml: authn request: %w", err)
		}
		out.RedirectURL = u.String()
	case BindingPOST:
		out.HTMLForm = req.Post(relayState)
	default:
		return nil, fmt.Errorf("saml: unsupported binding")
	}
	return out, nil
}
