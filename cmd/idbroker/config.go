package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/mapping"
)

// fileConfig is the YAML configuration file (see configs/ for examples).
// Unknown keys are errors; ${ENV} references are expanded in values.
type fileConfig struct {
	Server    serverConfig     `yaml:"server"`
	AccountID string           `yaml:"account_id"`
	Partition string           `yaml:"partition"`
	Region    string           `yaml:"region"`
	Keys      keysConfig       `yaml:"keys"`
	Store     storeConfig      `yaml:"store"`
	Logging   loggingConfig    `yaml:"logging"`
	Providers []providerConfig `yaml:"providers"`
	Mapping   mapping.Config   `yaml:",inline"`
	Roles     []roleConfig     `yaml:"roles"`
	Policies  []namedPolicy    `yaml:"policies"`
	STS       stsConfig        `yaml:"sts"`
	Admin     adminConfig      `yaml:"admin"`

	// LoginProtection throttles password guessing (loginprotection.go).
	LoginProtection loginProtectionConfig `yaml:"login_protection"`
}

// adminConfig names who may use the administrators' APIs (GET
// /api/v1/explain): sessions of these roles, signed in with SigV4.
type adminConfig struct {
	// Roles are role names of the roles section.
	Roles []string `yaml:"roles"`
}

type serverConfig struct {
	Listen    string    `yaml:"listen"`
	PublicURL string    `yaml:"public_url"`
	TLS       tlsConfig `yaml:"tls"`
	// Pprof serves /debug/pprof/ when true (never on a public listener).
	Pprof bool `yaml:"pprof"`
	// TrustedProxies lists CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

type tlsConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

type keysConfig struct {
	// Dir holds the key ring made by `idbroker keys init DIR`. Empty: keys
	// are generated in memory (demo only; every restart invalidates sessions).
	Dir string `yaml:"dir"`
}

type storeConfig struct {
	Type string `yaml:"type"` // memory | redis
	URL  string `yaml:"url"`
	// Replicas is how many broker processes share the store; more than one
	// requires type redis.
	Replicas int `yaml:"replicas"`
}

type loggingConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// providerConfig is one upstream identity source. The keys besides name,
// type and display_name depend on the type; they decode into Settings, whose
// Go type the provider kind declares (see providerKinds).
type providerConfig struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	DisplayName string `yaml:"display_name"`

	// Settings points at the kind's settings struct (nil for unknown types).
	Settings any `yaml:"-"`
}

type providerHeader struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	DisplayName string `yaml:"display_name"`
}

// UnmarshalYAML decodes the common keys, then the rest by type.
func (p *providerConfig) UnmarshalYAML(n *yaml.Node) error {
	var h providerHeader
	if err := n.Decode(&h); err != nil {
		return err
	}
	p.Name, p.Type, p.DisplayName = h.Name, h.Type, h.DisplayName
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "name", "type", "display_name":
			continue
		}
		rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
	}
	kind, ok := providerKinds()[h.Type]
	if !ok {
		return nil // reported by validate
	}
	p.Settings = reflect.New(kind.settings).Interface()
	return rest.Decode(p.Settings)
}

type roleConfig struct {
	Name               string      `yaml:"name"`
	Path               string      `yaml:"path"`
	Description        string      `yaml:"description"`
	MaxSessionDuration duration    `yaml:"max_session_duration"`
	TrustPolicy        *policyDoc  `yaml:"trust_policy"`
	Policies           []policyDoc `yaml:"policies"`
	PolicyARNs         []string    `yaml:"policy_arns"`
	// TrustBroker adds a trust statement for the broker's own issuer (default
	// true for every role the rules may grant).
	TrustBroker *bool `yaml:"trust_broker"`
}

type namedPolicy struct {
	Name     string    `yaml:"name"`
	Document policyDoc `yaml:"document"`
}

type stsConfig struct {
	SAMLProviders []stsSAMLProvider `yaml:"saml_providers"`
	OIDCProviders []stsOIDCProvider `yaml:"oidc_providers"`

	// LDAPProvider names the ldap provider behind AssumeRoleWithLDAPIdentity
	// (default: the only one).
	LDAPProvider string `yaml:"ldap_provider"`
}

type stsSAMLProvider struct {
	Name         string `yaml:"name"`
	MetadataFile string `yaml:"metadata_file"`
	MetadataURL  string `yaml:"metadata_url"`
	AllowSHA1    bool   `yaml:"allow_sha1"`
}

type stsOIDCProvider struct {
	Issuer    string   `yaml:"issuer"`
	ClientIDs []string `yaml:"client_ids"`
	// Timeout bounds each discovery and JWKS request (default 5s).
	Timeout duration `yaml:"timeout"`
	// JWKSRefreshInterval is the least time between two JWKS fetches, and
	// so how soon an outage is retried (default 30s).
	JWKSRefreshInterval duration `yaml:"jwks_refresh_interval"`
}

// Bounds of sts.oidc_providers[].timeout and .jwks_refresh_interval (0:
// the providers/oidc default).
const (
	minOIDCTimeout, maxOIDCTimeout                 = 100 * time.Millisecond, time.Minute
	minJWKSRefreshInterval, maxJWKSRefreshInterval = 100 * time.Millisecond, time.Hour
)

// parseConfig parses and validates a configuration file. It reports every
// problem it finds at once, each naming its key path.
func parseConfig(data []byte, lookupEnv func(string) (string, bool)) (*fileConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config is not valid YAML: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("config is empty")
	}
	var errs []error
	expandEnv(&doc, "", lookupEnv, &errs)
	kc := keyChecker{lines: map[int]string{}, special: map[reflect.Type]func(*yaml.Node) []reflect.Type{
		reflect.TypeOf(providerConfig{}): func(n *yaml.Node) []reflect.Type {
			ts := []reflect.Type{reflect.TypeOf(providerHeader{})}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "type" {
					if k, ok := providerKinds()[n.Content[i+1].Value]; ok {
						ts = append(ts, k.settings)
					}
				}
			}
			return ts
		},
	}}
	kc.check(&doc, reflect.TypeOf(fileConfig{}), "", &errs)
	var cfg fileConfig
	if err := doc.Decode(&cfg); err != nil {
		errs = append(errs, yamlTypeErrors(err, kc.lines)...)
	}
	cfg.applyDefaults()
	errs = append(errs, cfg.validate()...)
	if len(errs) > 0 {
		return &cfg, &configError{errs: errs}
	}
	return &cfg, nil
}

// configError lists every problem of a configuration file.
type configError struct{ errs []error }

func (e *configError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "configuration has %d problem(s):", len(e.errs))
	for _, err := range e.errs {
		b.WriteString("\n  - ")
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *configError) Unwrap() []error { return e.errs }

func (c *fileConfig) applyDefaults() {
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.Partition == "" {
		c.Partition = "aws"
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Store.Type == "" {
		c.Store.Type = "memory"
	}
	if c.Logging.Level == "" {
		c.Logging.Level = "info"
	}
	if c.Logging.Format == "" {
		c.Logging.Format = "text"
	}
	c.LoginProtection.applyDefaults()
}

// publicURLFor is the URL the server is reached at when server.public_url is
// not set: it follows the listen address.
func publicURLFor(listen string, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return scheme + "://" + listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	samlNameRE = regexp.MustCompile(`^[\w._-]{1,128}$`)
)

func (c *fileConfig) validate() []error {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		add("server.listen", "%q is not host:port", c.Server.Listen)
	}
	if c.Server.PublicURL != "" {
		u, err := url.Parse(c.Server.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			add("server.public_url", "%q must be an absolute http(s) URL without query", c.Server.PublicURL)
		} else if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			add("server.public_url", "%q must use https:// (plain http only on loopback addresses)", c.Server.PublicURL)
		}
	}
	if (c.Server.TLS.CertFile == "") != (c.Server.TLS.KeyFile == "") {
		add("server.tls", "cert_file and key_file must be set together")
	}
	for i, cidr := range c.Server.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not a CIDR", cidr)
		}
	}
	// account_id, partition, policies and roles are the STS's to check
	// (sts.New, which config check runs on every file).
	switch c.Store.Type {
	case "memory":
		if c.Store.Replicas > 1 {
			add("store.type", "memory cannot be shared by %d replicas: use redis", c.Store.Replicas)
		}
	case "redis":
		if u, err := url.Parse(c.Store.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			add("store.url", "%q must be a redis:// or rediss:// URL", c.Store.URL)
		}
	default:
		add("store.type", "%q must be memory or redis", c.Store.Type)
	}
	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		add("logging.level", "%q must be debug, info, warn or error", c.Logging.Level)
	}
	switch c.Logging.Format {
	case "text", "json":
	default:
		add("logging.format", "%q must be text or json", c.Logging.Format)
	}

	names := map[string]bool{}
	for i, p := range c.Providers {
		key := fmt.Sprintf("providers[%d]", i)
		if !nameRE.MatchString(p.Name) {
			add(key+".name", "%q must be lower-case letters, digits, - or _ (used in URLs)", p.Name)
		} else if names[p.Name] {
			add(key+".name", "%q is used by another provider", p.Name)
		}
		names[p.Name] = true
		kind, ok := providerKinds()[p.Type]
		switch {
		case p.Type == "":
			add(key+".type", "missing (one of %s)", providerKindNames())
		case !ok:
			add(key+".type", "%q is not a provider type (one of %s)", p.Type, providerKindNames())
		case p.Settings != nil:
			for _, err := range kind.validate(p.Settings) {
				errs = append(errs, fmt.Errorf("%s.%w", key, err))
			}
		}
	}

	roleNames := map[string]bool{}
	for _, r := range c.Roles {
		roleNames[strings.ToLower(r.Name)] = true
	}

	for i, name := range c.Admin.Roles {
		if !roleNames[strings.ToLower(name)] {
			add(fmt.Sprintf("admin.roles[%d]", i), "%q is not a role of the roles section", name)
		}
	}

	samlNames := map[string]bool{}
	for i, p := range c.STS.SAMLProviders {
		key := fmt.Sprintf("sts.saml_providers[%d]", i)
		if !samlNameRE.MatchString(p.Name) {
			add(key+".name", "%q must match [\\w._-]{1,128}", p.Name)
		} else if samlNames[p.Name] || p.Name == "idbroker" {
			add(key+".name", "%q is already used", p.Name)
		}
		samlNames[p.Name] = true
		if (p.MetadataFile == "") == (p.MetadataURL == "") {
			add(key, "set exactly one of metadata_file and metadata_url")
		}
		if p.MetadataURL != "" {
			if err := checkUpstreamURL(p.MetadataURL, "https"); err != nil {
				add(key+".metadata_url", "%v", err)
			}
		}
	}
	issuers := map[string]bool{}
	for i, p := range c.STS.OIDCProviders {
		key := fmt.Sprintf("sts.oidc_providers[%d]", i)
		if err := checkUpstreamURL(p.Issuer, "https"); err != nil {
			add(key+".issuer", "%v", err)
		} else if u, _ := url.Parse(p.Issuer); u.RawQuery != "" || u.Fragment != "" {
			add(key+".issuer", "%q must not have a query or fragment", p.Issuer)
		}
		if issuers[p.Issuer] {
			add(key+".issuer", "%q is registered twice", p.Issuer)
		}
		issuers[p.Issuer] = true
		if len(p.ClientIDs) == 0 || len(p.ClientIDs) > 100 {
			add(key+".client_ids", "list 1 to 100 client ids")
		}
		for j, id := range p.ClientIDs {
			if id == "" || len(id) > 255 {
				add(fmt.Sprintf("%s.client_ids[%d]", key, j), "must be 1 to 255 characters")
			}
		}
		if d := time.Duration(p.Timeout); d != 0 && (d < minOIDCTimeout || d > maxOIDCTimeout) {
			add(key+".timeout", "%s must be between %s and %s", d, minOIDCTimeout, maxOIDCTimeout)
		}
		if d := time.Duration(p.JWKSRefreshInterval); d != 0 && (d < minJWKSRefreshInterval || d > maxJWKSRefreshInterval) {
			add(key+".jwks_refresh_interval", "%s must be between %s and %s", d, minJWKSRefreshInterval, maxJWKSRefreshInterval)
		}
	}
	errs = append(errs, c.LoginProtection.validate()...)
	errs = append(errs, c.validateLDAPSTS()...)
	return errs
}

// errNoTrust is a role nobody could assume.
func errNoTrust(i int) error {
	return fmt.Errorf("roles[%d].trust_policy: missing (and trust_broker is false, so nobody could assume the role)", i)
}

// checkUpstreamURL accepts secure URLs, and plain ones only on loopback.
func checkUpstreamURL(raw, secureScheme string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	plain := strings.TrimSuffix(secureScheme, "s")
	switch u.Scheme {
	case secureScheme:
		return nil
	case plain:
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use %s:// (plain %s:// only on loopback addresses)", raw, secureScheme, plain)
	}
	return fmt.Errorf("%q must use %s://", raw, secureScheme)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// trustedProxies parses server.trusted_proxies (validated already).
func (c *fileConfig) trustedProxies() []netip.Prefix {
	var out []netip.Prefix
	for _, cidr := range c.Server.TrustedProxies {
		if p, err := netip.ParsePrefix(cidr); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// adminRoleARNs are the ARNs of the roles named in admin.roles (names are
// matched case-insensitively, as IAM does).
func (c *fileConfig) adminRoleARNs() []string {
	var out []string
	for _, name := range c.Admin.Roles {
		for _, r := range c.Roles {
			if strings.EqualFold(r.Name, name) {
				out = append(out, c.roleARN(r))
				break
			}
		}
	}
	return out
}

// loadConfigFile reads, expands and validates a configuration file.
func loadConfigFile(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(data, os.LookupEnv)
}
