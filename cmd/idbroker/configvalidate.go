package main

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/loopback"
	"github.com/idbroker/idbroker/providers/oidc"
)

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	samlNameRE = regexp.MustCompile(`^[\w._-]{1,128}$`)
)

// problems collects what is wrong with a configuration, each problem
// naming its key path.
type problems []error

func (p *problems) add(key, format string, a ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
}

// validate checks the whole file offline, section by section, and returns
// every problem (the order is the file's).
func (c *fileConfig) validate() []error {
	var p problems
	c.checkServer(&p)
	c.checkProviders(&p)
	// account_id, partition, policies and roles are the STS's to check
	// (sts.New, which config check runs on every file).
	roleNames := map[string]bool{}
	for _, r := range c.Roles {
		roleNames[strings.ToLower(r.Name)] = true
	}
	for i, name := range c.Admin.Roles {
		if !roleNames[strings.ToLower(name)] {
			p.add(fmt.Sprintf("admin.roles[%d]", i), "%q is not a role of the roles section", name)
		}
	}
	c.checkSTS(&p)
	p = append(p, c.Portal.validate()...)
	p = append(p, checkRoleDescriptions(c.Roles)...)
	p = append(p, c.LoginProtection.validate()...)
	p = append(p, c.Limits.validate()...)
	p = append(p, c.Reports.validate()...)
	p = append(p, c.validateLDAPSTS()...)
	return p
}

// checkServer checks server, store, sessions and logging.
func (c *fileConfig) checkServer(p *problems) {
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		p.add("server.listen", "%q is not host:port", c.Server.Listen)
	}
	if c.Server.PublicURL != "" {
		u, err := url.Parse(c.Server.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			p.add("server.public_url", "%q must be an absolute http(s) URL without query", c.Server.PublicURL)
		} else if u.Scheme == "http" && !loopback.Host(u.Hostname()) {
			p.add("server.public_url", "%q must use https:// (plain http only on loopback addresses)", c.Server.PublicURL)
		}
	}
	if err := c.Server.pprofProblem(); err != "" {
		p.add("server.pprof", "%s", err)
	}
	if c.Server.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.Server.MetricsListen); err != nil {
			p.add("server.metrics_listen", "%q is not host:port", c.Server.MetricsListen)
		}
	}
	if (c.Server.TLS.CertFile == "") != (c.Server.TLS.KeyFile == "") {
		p.add("server.tls", "cert_file and key_file must be set together")
	}
	for i, cidr := range c.Server.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			p.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not a CIDR", cidr)
		}
	}
	*p = append(*p, c.Store.validate()...)
	*p = append(*p, c.Sessions.validate()...)
	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("logging.level", "%q must be debug, info, warn or error", c.Logging.Level)
	}
	switch c.Logging.Format {
	case "text", "json":
	default:
		p.add("logging.format", "%q must be text or json", c.Logging.Format)
	}
}

// checkProviders checks each provider's name and type, and its settings
// with its kind's own validation.
func (c *fileConfig) checkProviders(p *problems) {
	names := map[string]bool{}
	for i, pc := range c.Providers {
		key := fmt.Sprintf("providers[%d]", i)
		if !nameRE.MatchString(pc.Name) {
			p.add(key+".name", "%q must be lower-case letters, digits, - or _ (used in URLs)", pc.Name)
		} else if names[pc.Name] {
			p.add(key+".name", "%q is used by another provider", pc.Name)
		}
		names[pc.Name] = true
		if !broker.ValidMFAPolicy(pc.MFA) {
			p.add(key+".mfa", "%q must be off, optional or required", pc.MFA)
		}
		kind, ok := providerKinds()[pc.Type]
		switch {
		case pc.Type == "":
			p.add(key+".type", "missing (one of %s)", providerKindNames())
		case !ok:
			p.add(key+".type", "%q is not a provider type (one of %s)", pc.Type, providerKindNames())
		case pc.Settings != nil:
			for _, err := range kind.validate(pc.Settings) {
				*p = append(*p, fmt.Errorf("%s.%w", key, err))
			}
		}
	}
}

// checkSTS checks the identity providers the STS trusts directly.
func (c *fileConfig) checkSTS(p *problems) {
	samlNames := map[string]bool{}
	for i, sp := range c.STS.SAMLProviders {
		key := fmt.Sprintf("sts.saml_providers[%d]", i)
		if !samlNameRE.MatchString(sp.Name) {
			p.add(key+".name", "%q must match [\\w._-]{1,128}", sp.Name)
		} else if samlNames[sp.Name] || sp.Name == "idbroker" {
			p.add(key+".name", "%q is already used", sp.Name)
		}
		samlNames[sp.Name] = true
		if (sp.MetadataFile == "") == (sp.MetadataURL == "") {
			p.add(key, "set exactly one of metadata_file and metadata_url")
		}
		if sp.MetadataURL != "" {
			if err := checkUpstreamURL(sp.MetadataURL, "https"); err != nil {
				p.add(key+".metadata_url", "%v", err)
			}
		}
	}
	issuers := map[string]bool{}
	for i, op := range c.STS.OIDCProviders {
		key := fmt.Sprintf("sts.oidc_providers[%d]", i)
		if err := checkUpstreamURL(op.Issuer, "https"); err != nil {
			p.add(key+".issuer", "%v", err)
		} else if u, _ := url.Parse(op.Issuer); u.RawQuery != "" || u.Fragment != "" {
			p.add(key+".issuer", "%q must not have a query or fragment", op.Issuer)
		}
		if issuers[op.Issuer] {
			p.add(key+".issuer", "%q is registered twice", op.Issuer)
		}
		issuers[op.Issuer] = true
		if len(op.ClientIDs) == 0 || len(op.ClientIDs) > 100 {
			p.add(key+".client_ids", "list 1 to 100 client ids")
		}
		for j, id := range op.ClientIDs {
			if id == "" || len(id) > 255 {
				p.add(fmt.Sprintf("%s.client_ids[%d]", key, j), "must be 1 to 255 characters")
			}
		}
		if err := oidc.CheckTimeout(time.Duration(op.Timeout)); err != nil {
			p.add(key+".timeout", "%v", err)
		}
		if err := oidc.CheckJWKSRefreshInterval(time.Duration(op.JWKSRefreshInterval)); err != nil {
			p.add(key+".jwks_refresh_interval", "%v", err)
		}
	}
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
		if loopback.Host(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q must use %s:// (plain %s:// only on loopback addresses)", raw, secureScheme, plain)
	}
	return fmt.Errorf("%q must use %s://", raw, secureScheme)
}

// pprofProblem refuses the profiler on a listener other hosts can reach:
// it has no authentication, and its profiles and command line say what the
// process holds. "" when it is off or the listener is loopback only.
func (s serverConfig) pprofProblem() string {
	if !s.Pprof || loopback.Addr(s.Listen) {
		return ""
	}
	return fmt.Sprintf("the profiler has no authentication: it is served only when server.listen (or --listen) is a loopback address, not %q", s.Listen)
}
