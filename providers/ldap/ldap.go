// Package ldap is the LDAP provider: it adapts ldapauth (the LDAP client) to
// providers.AccountAuthenticator (a password login in two steps, so that the
// broker can lock an account out by whichever name it is typed),
// providers.Lookuper (for administrators' tools), providers.Refresher (a
// broker session's re-check, with the service account) and
// providers.Identity.
//
// A provider block (keys below are relative to it; `name` and `type` belong
// to the composition root):
//
//   - name: corp
//     type: ldap
//     url: ldaps://ldap.example.org:636      # or urls: [ldaps://a:636, ldaps://b:636]
//     ca_file: /etc/idbroker/corp-ldap-ca.pem
//     bind_dn: cn=reader,dc=example,dc=org
//     bind_password: ${LDAP_BIND_PASSWORD}
//     user_search:
//     base_dn: ou=people,dc=example,dc=org
//     filter: "(&(objectClass=inetOrgPerson)(uid={username}))"
//     attributes: [department]
//     group_search:
//     base_dn: ou=groups,dc=example,dc=org
//     filter: "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
//     name_attribute: cn
//     nested: true
//     request_timeout: 5s
package ldap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/yamltypes"
	"github.com/idbroker/idbroker/ldapauth"
	"github.com/idbroker/idbroker/providers"
)

// Config is the YAML provider block for an LDAP directory. Defaults are
// those of ldapauth.Config.
type Config struct {
	// URL is one URL or a list (failover, tried in order); URLs is the same
	// as a list. ldaps:// is the default scheme.
	URL  yamltypes.StringList `yaml:"url"`
	URLs []string             `yaml:"urls"`
	// StartTLS upgrades ldap:// with StartTLS.
	StartTLS bool `yaml:"start_tls"`
	// InsecureNoTLS allows plain ldap:// without StartTLS, and only to a
	// loopback address (tests and demos).
	InsecureNoTLS bool `yaml:"insecure_no_tls"`
	// CAFile / CAPEM: trust anchors for the server certificate (default:
	// system roots).
	CAFile string `yaml:"ca_file"`
	CAPEM  string `yaml:"ca_pem"`
	// ClientCertFile / ClientKeyFile: optional client certificate.
	ClientCertFile string `yaml:"client_cert_file"`
	ClientKeyFile  string `yaml:"client_key_file"`
	// BindDN / BindPassword: the service (lookup) account. Use ${ENV} for
	// the password.
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password"`
	// AnonymousSearch allows an empty bind_dn (searches run anonymously).
	AnonymousSearch bool `yaml:"anonymous_search"`

	UserSearch  UserSearch  `yaml:"user_search"`
	GroupSearch GroupSearch `yaml:"group_search"`

	// CaseFold lower-cases (ASCII) group names and DNs; default true.
	CaseFold *bool `yaml:"case_fold"`

	// Timeouts, as Go durations ("5s"): connect+TLS (default 5s), each
	// request (10s), a whole login (20s).
	DialTimeout    yamltypes.Duration `yaml:"dial_timeout"`
	RequestTimeout yamltypes.Duration `yaml:"request_timeout"`
	LoginTimeout   yamltypes.Duration `yaml:"login_timeout"`
	// MaxConns bounds pooled connections (default 8).
	MaxConns int `yaml:"max_conns"`
}

// UserSearch is the user_search block.
type UserSearch struct {
	BaseDN string `yaml:"base_dn"`
	// Filter with {username} (escaped once); default "(uid={username})".
	Filter            string   `yaml:"filter"`
	UsernameAttribute string   `yaml:"username_attribute"` // default uid
	EmailAttribute    string   `yaml:"email_attribute"`    // default mail
	NameAttribute     string   `yaml:"name_attribute"`     // default displayName, then cn
	Attributes        []string `yaml:"attributes"`         // kept in Identity.Attributes
}

// GroupSearch is the group_search block.
type GroupSearch struct {
	BaseDN string `yaml:"base_dn"`
	// Filter with {dn} and {username}; default
	// "(|(member={dn})(uniqueMember={dn})(memberUid={username}))".
	Filter        string `yaml:"filter"`
	NameAttribute string `yaml:"name_attribute"` // default cn
	// MemberOfAttribute (e.g. memberOf) also reads group DNs from the user entry.
	MemberOfAttribute string `yaml:"member_of_attribute"`
	// Nested follows groups of groups up to MaxDepth (default 10).
	Nested       bool   `yaml:"nested"`
	MaxDepth     int    `yaml:"max_depth"`
	NestedFilter string `yaml:"nested_filter"`
	// InChain uses AD's LDAP_MATCHING_RULE_IN_CHAIN instead of recursion.
	InChain bool `yaml:"in_chain"`
}

func (c Config) urls() []string {
	return append(append([]string(nil), c.URL...), c.URLs...)
}

// ldapauthConfig maps the block onto ldapauth.Config.
func (c Config) ldapauthConfig(logger *slog.Logger) ldapauth.Config {
	fold := c.CaseFold == nil || *c.CaseFold
	return ldapauth.Config{
		URLs:            c.urls(),
		StartTLS:        c.StartTLS,
		InsecureNoTLS:   c.InsecureNoTLS,
		CAFile:          c.CAFile,
		CAPEM:           []byte(c.CAPEM),
		ClientCertFile:  c.ClientCertFile,
		ClientKeyFile:   c.ClientKeyFile,
		BindDN:          c.BindDN,
		BindPassword:    c.BindPassword,
		AnonymousSearch: c.AnonymousSearch,
		UserSearch: ldapauth.UserSearch{
			BaseDN:            c.UserSearch.BaseDN,
			Filter:            c.UserSearch.Filter,
			UsernameAttribute: c.UserSearch.UsernameAttribute,
			EmailAttribute:    c.UserSearch.EmailAttribute,
			NameAttribute:     c.UserSearch.NameAttribute,
			Attributes:        c.UserSearch.Attributes,
		},
		GroupSearch: ldapauth.GroupSearch{
			BaseDN:            c.GroupSearch.BaseDN,
			Filter:            c.GroupSearch.Filter,
			NameAttribute:     c.GroupSearch.NameAttribute,
			MemberOfAttribute: c.GroupSearch.MemberOfAttribute,
			Nested:            c.GroupSearch.Nested,
			MaxDepth:          c.GroupSearch.MaxDepth,
			NestedFilter:      c.GroupSearch.NestedFilter,
			InChain:           c.GroupSearch.InChain,
		},
		CaseSensitive:  !fold,
		DialTimeout:    time.Duration(c.DialTimeout),
		RequestTimeout: time.Duration(c.RequestTimeout),
		LoginTimeout:   time.Duration(c.LoginTimeout),
		MaxConns:       c.MaxConns,
		Logger:         logger,
	}
}

// Validate reports every problem in the block; each error names its key
// relative to the provider block. Plain ldap:// is accepted only with
// insecure_no_tls and only to loopback addresses.
func (c Config) Validate() []error {
	var errs []error
	if len(c.URL) > 0 && len(c.URLs) > 0 {
		errs = append(errs, errors.New("urls: give either url or urls, not both"))
	}
	errs = append(errs, c.ldapauthConfig(nil).Validate()...)
	if c.InsecureNoTLS {
		for _, err := range ldapauth.ValidatePlainLoopback(c.urls(), c.StartTLS) {
			errs = append(errs, fmt.Errorf("insecure_no_tls: %w", err))
		}
	}
	if c.MaxConns < 0 {
		errs = append(errs, errors.New("max_conns: must not be negative"))
	}
	if c.GroupSearch.MaxDepth < 0 {
		errs = append(errs, errors.New("group_search.max_depth: must not be negative"))
	}
	return errs
}

// Provider authenticates users against an LDAP directory.
type Provider struct {
	name   string
	client *ldapauth.Client
	log    *slog.Logger
}

var (
	_ providers.AccountAuthenticator = (*Provider)(nil)
	_ providers.Lookuper             = (*Provider)(nil)
)

// New validates cfg and builds the provider. It does not contact the
// directory (see Check). logger may be nil.
func New(name string, cfg Config, logger *slog.Logger) (*Provider, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.Group("provider", "type", "ldap", "name", name))
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("ldap provider %q: %w: %w", name, providers.ErrConfiguration, errors.Join(errs...))
	}
	client, err := ldapauth.New(cfg.ldapauthConfig(logger))
	if err != nil {
		return nil, fmt.Errorf("ldap provider %q: %w: %w", name, providers.ErrConfiguration, err)
	}
	return &Provider{name: name, client: client, log: logger}, nil
}

// Close releases pooled connections.
func (p *Provider) Close() error { return p.client.Close() }

// Check runs the online checks (for `idbroker config check --online`).
func (p *Provider) Check(ctx context.Context) []ldapauth.CheckResult { return p.client.Check(ctx) }

// Login authenticates the user with a bind and returns the identity
// (FindAccount then LoginAccount, under one login timeout). Groups hold both
// the group names and the group DNs (folded unless case_fold is false).
// Errors wrap providers.ErrInvalidCredentials, ErrUnavailable or
// ErrConfiguration.
func (p *Provider) Login(ctx context.Context, username, password string) (providers.Identity, error) {
	res, err := p.client.Authenticate(ctx, username, password)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("ldap provider %q: %w", p.name, mapErr(err))
	}
	return p.identity(ctx, "login", res, username), nil
}

// account is what Provider puts in providers.Account.Ref: the directory's
// account and the name that found it.
type account struct {
	acct     ldapauth.Account
	username string
}

// FindAccount finds the entry username names with the service account. Its
// Key is the entry's normalised, case-folded DN (ldapauth.AccountKey), the
// same for every name the user filter accepts for it (uid, mail, …); an
// unknown user has Key "" and no error. An impossible username wraps
// providers.ErrInvalidCredentials.
func (p *Provider) FindAccount(ctx context.Context, username string) (providers.Account, error) {
	acct, err := p.client.FindAccount(ctx, username)
	if err != nil {
		return providers.Account{}, fmt.Errorf("ldap provider %q: %w", p.name, mapErr(err))
	}
	return providers.Account{Key: acct.Key(), Ref: account{acct: acct, username: username}}, nil
}

// LoginAccount tries password on an account FindAccount returned, with a
// user bind (a dummy bind for an unknown account), and returns the identity
// Login would. An account this provider did not find is a wiring error,
// refused without a bind.
func (p *Provider) LoginAccount(ctx context.Context, acct providers.Account, password string) (providers.Identity, error) {
	a, ok := acct.Ref.(account)
	if !ok {
		return providers.Identity{}, fmt.Errorf("ldap provider %q: the account was not found by an ldap provider", p.name)
	}
	res, err := p.client.AuthenticateAccount(ctx, a.acct, password)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("ldap provider %q: %w", p.name, mapErr(err))
	}
	return p.identity(ctx, "login", res, a.username), nil
}

// Lookup returns the identity Login would return for username, found with
// the service account and without a user bind (ldapauth.Client.Lookup). It
// is for administrators' tools (`idbroker explain --provider --user`), never
// for an HTTP route. An unknown user returns an error wrapping
// providers.ErrInvalidCredentials whose text says "no such user".
func (p *Provider) Lookup(ctx context.Context, username string) (providers.Identity, error) {
	res, err := p.client.Lookup(ctx, username)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("ldap provider %q: %w", p.name, mapErr(err))
	}
	return p.identity(ctx, "lookup", res, username), nil
}

// identity builds the Identity of a login, look-up or re-check of the
// name username (op names it in the warnings logged).
func (p *Provider) identity(ctx context.Context, op string, res *ldapauth.Result, username string) providers.Identity {
	for _, w := range res.Warnings {
		p.log.WarnContext(ctx, "ldap "+op+" warning", slog.String("warning", w))
	}
	id := providers.Identity{
		Provider:    p.name,
		Subject:     res.DN,
		Username:    res.Username,
		Email:       res.Email,
		DisplayName: res.Name,
		Attributes:  res.Attributes,
		AuthTime:    time.Now(),
		Upstream:    encodeUpstream(username),
	}
	if res.ID != "" {
		id.Subject = strings.ToLower(res.ID)
	}
	if id.Username == "" {
		id.Username = username
	}
	seen := map[string]bool{}
	for _, g := range res.Groups {
		for _, v := range []string{g.Name, g.DN} {
			if v != "" && !seen[v] {
				seen[v] = true
				id.Groups = append(id.Groups, v)
			}
		}
	}
	if id.Attributes == nil {
		id.Attributes = map[string][]string{}
	}
	id.Attributes["dn"] = []string{res.DN}
	return id
}

// mapErr translates ldapauth's sentinels into the providers ones, keeping
// the chain for the operator's log.
func mapErr(err error) error {
	switch {
	case errors.Is(err, ldapauth.ErrInvalidCredentials):
		return fmt.Errorf("%w: %w", providers.ErrInvalidCredentials, err)
	case errors.Is(err, ldapauth.ErrUnavailable):
		return fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	case errors.Is(err, ldapauth.ErrConfiguration):
		return fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	return fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
}
