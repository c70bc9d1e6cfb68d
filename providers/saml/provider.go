// Package saml is idbroker's SAML 2.0 service provider for upstream IdPs, and
// the hardened SAML Response verifier that both the browser ACS and the STS's
// AssumeRoleWithSAML use.
//
// crewjam/saml supplies the metadata and AuthnRequest machinery, and is one
// of the two verifiers every Response must pass: the project's own checks run
// first (signatures with goxmldsig, as crewjam configures it; encrypted
// assertions opened with crewjam's xmlenc), enforcing what crewjam leaves out
// (THREATS.md §0.4): exactly one assertion, a single-Reference signature over
// the Response or the Assertion with everything read from the verified
// bytes, strict audience/recipient/destination/issuer checks, strong
// algorithms and clock windows with a per-instance clock. Then crewjam's
// (*ServiceProvider).ParseXMLResponse must accept the same decoded document,
// with an SP built for the call from the same metadata, the Recipient,
// Destination and Audience just validated and the SP decryption key
// (IdP-initiated parsing for AssumeRoleWithSAML); it reads crewjam's own
// clock and windows (MaxIssueDelay 90s, MaxClockSkew 180s). Only then is the
// assertion ID claimed in the replay cache.
package saml

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idbroker/idbroker/providers"
)

// Binding names accepted by MakeAuthnRequest.
const (
	BindingRedirect = crewjam.HTTPRedirectBinding
	BindingPOST     = crewjam.HTTPPostBinding
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
	if c.ClockSkew < 0 || c.ClockSkew > 10*time.Minute {
		errs = append(errs, errors.New("clock_skew: must be between 0 and 10m"))
	}
	if c.MaxIssueAge < 0 || c.MaxIssueAge > time.Hour {
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
		skew:              durationOr(cfg.ClockSkew, 60*time.Second),
		maxAge:            durationOr(cfg.MaxIssueAge, 5*time.Minute),
		now:               opts.Now,
		replay:            opts.ReplayCache,
	}
	return p, nil
}

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

// HandleACS verifies the HTTP-POST response at our ACS and returns the
// identity and a safe RelayState ("" unless it is a local path).
// possibleRequestIDs are the outstanding request IDs of this browser.
func (p *Provider) HandleACS(ctx context.Context, r *http.Request, possibleRequestIDs []string) (providers.Identity, string, error) {
	a, relay, err := p.verifyACS(ctx, r, possibleRequestIDs)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			p.logger.WarnContext(ctx, "saml response rejected", "class", e.Class.Error(), "reason", e.Reason)
		} else {
			p.logger.WarnContext(ctx, "saml response not processed", "err", err.Error())
		}
		return providers.Identity{}, "", err
	}
	id := p.identity(a)
	p.logger.InfoContext(ctx, "saml login", "assertion_id", a.ID, "mfa", id.MFA)
	return id, relay, nil
}

func (p *Provider) verifyACS(ctx context.Context, r *http.Request, possibleRequestIDs []string) (*Assertion, string, error) {
	if r.Method != http.MethodPost {
		return nil, "", fail(ErrMalformed, "ACS requires POST")
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxACSBase64+16<<10)
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, "", fail(ErrTooLarge, "ACS body too large")
			}
			return nil, "", fail(ErrMalformed, "ACS form cannot be parsed")
		}
	}
	if r.PostForm.Get("SAMLart") != "" {
		return nil, "", fail(ErrMalformed, "artifact binding is not supported")
	}
	if len(r.PostForm["SAMLResponse"]) != 1 {
		return nil, "", fail(ErrMalformed, "need exactly one SAMLResponse")
	}
	raw, err := decodeBase64(r.PostForm.Get("SAMLResponse"), maxACSBase64)
	if err != nil {
		return nil, "", err
	}
	md, err := p.md.get(ctx)
	if err != nil {
		return nil, "", err
	}
	a, err := p.ver.verify(ctx, raw, verifyRequest{
		idp:        &idpTrust{entityID: md.EntityID, certs: md.SigningCerts, descriptor: md.Descriptor},
		requestIDs: possibleRequestIDs,
	})
	if err != nil {
		return nil, "", err
	}
	return a, SafeRelayState(r.PostForm.Get("RelayState")), nil
}

// SafeRelayState returns rs when it is a local absolute path ("/x"): no
// scheme, not "//x", not "/\x", no control characters or backslashes; otherwise "".
func SafeRelayState(rs string) string {
	if len(rs) == 0 || len(rs) > 2048 || rs[0] != '/' {
		return ""
	}
	if len(rs) > 1 && (rs[1] == '/' || rs[1] == '\\') {
		return ""
	}
	for _, c := range rs {
		if c == '\\' || unicode.IsControl(c) || c == unicode.ReplacementChar {
			return ""
		}
	}
	u, err := url.Parse(rs)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	// Reject encoded slashes or backslashes that a later decode could turn into "//".
	lower := strings.ToLower(rs)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return ""
	}
	return rs
}

// AttrNameIDFormat is the Identity.Attributes key holding the Format of the
// assertion's NameID (absent when the NameID has no Format).
const AttrNameIDFormat = "saml:nameid_format"

// identity maps a verified assertion to providers.Identity.
func (p *Provider) identity(a *Assertion) providers.Identity {
	attrs := map[string][]string{}
	for _, at := range a.Attributes {
		attrs[at.Name] = append(attrs[at.Name], at.Values...)
		if at.FriendlyName != "" && at.FriendlyName != at.Name {
			attrs[at.FriendlyName] = append(attrs[at.FriendlyName], at.Values...)
		}
	}
	first := func(name string) string {
		if name == "" {
			return ""
		}
		for _, v := range lookup(a, name) {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
		return ""
	}
	// The NameID Format rides in Attributes under a reserved key (Identity
	// has no field for it); it always reflects the NameID, never an IdP
	// attribute that happens to carry the same name.
	delete(attrs, AttrNameIDFormat)
	if a.NameIDFormat != "" {
		attrs[AttrNameIDFormat] = []string{a.NameIDFormat}
	}
	id := providers.Identity{
		Provider:   p.name,
		Subject:    a.Issuer + "!" + a.NameID,
		Username:   a.NameID,
		Attributes: attrs,
		AuthTime:   a.AuthnInstant,
		Expiry:     a.SessionNotOnOrAfter,
	}
	if u := first(p.cfg.UsernameAttribute); u != "" {
		id.Username = u
	}
	id.Email = first(p.cfg.EmailAttribute)
	if id.Email == "" && p.cfg.EmailAttribute == "" && a.NameIDFormat == string(crewjam.EmailAddressNameIDFormat) {
		id.Email = a.NameID
	}
	// The IdP vouches for the attribute inside a signed assertion (as dex does).
	id.EmailVerified = id.Email != ""
	id.DisplayName = first(p.cfg.NameAttribute)
	if p.cfg.GroupsAttribute != "" {
		for _, v := range lookup(a, p.cfg.GroupsAttribute) {
			parts := []string{v}
			if p.cfg.GroupsDelimiter != "" {
				parts = strings.Split(v, p.cfg.GroupsDelimiter)
			}
			for _, g := range parts {
				if g = strings.TrimSpace(g); g != "" {
					id.Groups = append(id.Groups, g)
				}
			}
		}
	}
	for _, ref := range a.AuthnContextClassRefs {
		if isMFA(ref) {
			id.MFA = true
		}
	}
	return id
}

// lookup returns the values of the attribute whose Name or FriendlyName is name.
func lookup(a *Assertion, name string) []string {
	var out []string
	for _, at := range a.Attributes {
		if at.Name == name || (at.FriendlyName != "" && at.FriendlyName == name) {
			out = append(out, at.Values...)
		}
	}
	return out
}

// isMFA recognises AuthnContextClassRefs that state multi-factor
// authentication (REFEDS MFA, Azure "multipleauthn", vendor "MFA"/"multifactor").
func isMFA(ref string) bool {
	r := strings.ToLower(ref)
	for _, s := range []string{"mfa", "multifactor", "multi-factor", "multipleauthn"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}
