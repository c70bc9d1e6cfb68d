package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/yamltypes"
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
	Sessions  sessionsConfig   `yaml:"sessions"`
	Logging   loggingConfig    `yaml:"logging"`
	Providers []providerConfig `yaml:"providers"`
	Mapping   mapping.Config   `yaml:",inline"`
	Roles     []roleConfig     `yaml:"roles"`
	Policies  []namedPolicy    `yaml:"policies"`
	STS       stsConfig        `yaml:"sts"`
	Admin     adminConfig      `yaml:"admin"`
	Portal    portalConfig     `yaml:"portal"`

	// LoginProtection throttles password guessing (loginprotection.go).
	LoginProtection loginProtectionConfig `yaml:"login_protection"`

	// Limits are the issuance rate limits (limitsconfig.go).
	Limits limitsConfig `yaml:"limits"`
	// Reports keeps the credential report's and the access advisor's
	// aggregates (reportsconfig.go).
	Reports reportsConfig `yaml:"reports"`
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
	// MetricsListen is the host:port of a listener of its own serving
	// GET /metrics (Prometheus) and nothing else; "" (default): none.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsOnPublic also serves GET /metrics on the public listener
	// (default false: the numbers say who signs in how often, which is
	// not for the internet).
	MetricsOnPublic bool `yaml:"metrics_on_public"`
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
	// MFA is the provider's MFA policy: off (default), optional (people
	// who enrolled a TOTP device must use it) or required.
	MFA string `yaml:"mfa"`

	// Settings points at the kind's settings struct (nil for unknown types).
	Settings any `yaml:"-"`
}

type providerHeader struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	DisplayName string `yaml:"display_name"`
	MFA         string `yaml:"mfa"`
}

// UnmarshalYAML decodes the common keys, then the rest by type.
func (p *providerConfig) UnmarshalYAML(n *yaml.Node) error {
	var h providerHeader
	if err := n.Decode(&h); err != nil {
		return err
	}
	p.Name, p.Type, p.DisplayName, p.MFA = h.Name, h.Type, h.DisplayName, h.MFA
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "name", "type", "display_name", "mfa":
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
	Name               string             `yaml:"name"`
	Path               string             `yaml:"path"`
	Description        string             `yaml:"description"`
	MaxSessionDuration yamltypes.Duration `yaml:"max_session_duration"`
	TrustPolicy        *policyDoc         `yaml:"trust_policy"`
	Policies           []policyDoc        `yaml:"policies"`
	PolicyARNs         []string           `yaml:"policy_arns"`
	// TrustBroker adds a trust statement for the broker's own issuer (default
	// true for every role the rules may grant).
	TrustBroker *bool `yaml:"trust_broker"`
	// RequireMFA: the broker issues no credentials for the role without
	// multi-factor authentication in the session (upstream or TOTP).
	RequireMFA bool `yaml:"require_mfa"`
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
	Timeout yamltypes.Duration `yaml:"timeout"`
	// JWKSRefreshInterval is the least time between two JWKS fetches, and
	// so how soon an outage is retried (default 30s).
	JWKSRefreshInterval yamltypes.Duration `yaml:"jwks_refresh_interval"`
}

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
		c.Store.Type = store.TypeMemory
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

// roleARNs are the ARNs of every configured role.
func (c *fileConfig) roleARNs() []string {
	out := make([]string, 0, len(c.Roles))
	for _, r := range c.Roles {
		out = append(out, c.roleARN(r))
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
