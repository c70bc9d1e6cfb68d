package ldapauth

import (
	"errors"
	"fmt"
	"github.com/idbroker/idbroker/internal/loopback"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Defaults applied by New to zero fields of a Config.
const (
	DefaultDialTimeout     = 5 * time.Second
	DefaultRequestTimeout  = 10 * time.Second
	DefaultLoginTimeout    = 20 * time.Second
	DefaultMaxConns        = 8
	DefaultHealthCheckIdle = 30 * time.Second
	DefaultMaxConnLifetime = 10 * time.Minute
	DefaultPageSize        = 500
	DefaultMaxGroups       = 10000
	DefaultMaxDepth        = 10
	DefaultUserFilter      = "(uid={username})"
	DefaultGroupFilter     = "(|(member={dn})(uniqueMember={dn})(memberUid={username}))"
	DefaultNestedFilter    = "(|(member={dn})(uniqueMember={dn}))"
	// InChainFilter finds every group a DN belongs to, directly or through
	// nesting, in one search (Active Directory LDAP_MATCHING_RULE_IN_CHAIN).
	InChainFilter = "(member:1.2.840.113556.1.4.1941:={dn})"
	// MaxUsernameBytes is the longest username accepted; longer ones are
	// refused as invalid credentials without contacting the server.
	MaxUsernameBytes = 256
)

// Config configures a Client. Field comments name the YAML keys that
// providers/ldap maps onto them; FieldError.Field uses the same names.
//
// Example (as providers/ldap reads it):
//
//	url: ldaps://ldap.example.org          # or urls: [ldaps://a, ldaps://b]
//	ca_file: /etc/idbroker/ldap-ca.pem
//	bind_dn: cn=reader,dc=example,dc=org
//	bind_password: ${LDAP_BIND_PASSWORD}
//	user_search: {base_dn: "ou=people,dc=example,dc=org", filter: "(uid={username})"}
//	group_search: {base_dn: "ou=groups,dc=example,dc=org", name_attribute: cn, nested: true}
type Config struct {
	// URLs are tried in order (failover) (key: url / urls). A URL without a
	// scheme is taken as ldaps://. ldap:// needs StartTLS or InsecureNoTLS.
	URLs []string
	// StartTLS upgrades ldap:// connections with the StartTLS extended
	// operation before anything else is sent (key: start_tls).
	StartTLS bool
	// InsecureNoTLS allows plain ldap:// without StartTLS (key: insecure_no_tls).
	// Passwords then cross the network in clear; see ValidatePlainLoopback.
	InsecureNoTLS bool
	// CAFile and CAPEM add trust anchors; with neither the system pool is
	// used (keys: ca_file, ca_pem).
	CAFile string
	CAPEM  []byte
	// ClientCertFile and ClientKeyFile present a client certificate
	// (keys: client_cert_file, client_key_file).
	ClientCertFile, ClientKeyFile string
	// BindDN and BindPassword are the service (lookup) account (keys:
	// bind_dn, bind_password). Both empty requires AnonymousSearch.
	BindDN, BindPassword string
	// AnonymousSearch allows searching without a service account
	// (key: anonymous_search). Users still authenticate by binding.
	AnonymousSearch bool

	UserSearch  UserSearch
	GroupSearch GroupSearch

	// CaseSensitive turns off case folding of group names and DNs
	// (key: case_fold, inverted). The default folds ASCII letters only, so
	// distinct non-ASCII names ("adminſ" vs "admins") never merge.
	CaseSensitive bool

	// DialTimeout bounds connecting and the TLS handshake (key: dial_timeout;
	// default 5s). RequestTimeout bounds each LDAP request (key:
	// request_timeout; default 10s). LoginTimeout bounds a whole
	// Authenticate call (key: login_timeout; default 20s). A context
	// deadline that is earlier always wins.
	DialTimeout, RequestTimeout, LoginTimeout time.Duration

	// MaxConns bounds the pooled connections (key: max_conns; default 8).
	MaxConns int
	// HealthCheckIdle: a pooled connection idle longer than this is probed
	// before reuse (default 30s). MaxConnLifetime: older connections are
	// closed instead of reused (default 10m).
	HealthCheckIdle, MaxConnLifetime time.Duration
	// PageSize is the paged-results page size for group searches (default 500).
	PageSize uint32

	// Logger receives debug events (pool, failover). Nil discards. Secrets
	// are never logged.
	Logger *slog.Logger
}

// UserSearch says how to find the entry of a user (key: user_search).
type UserSearch struct {
	// BaseDN is where users live (key: base_dn). Required.
	BaseDN string
	// Filter is a search filter in which {username} is replaced by the
	// escaped login name (key: filter; default "(uid={username})").
	Filter string
	// UsernameAttribute holds the canonical login name (key:
	// username_attribute; default "uid").
	UsernameAttribute string
	// EmailAttribute (default "mail") and NameAttribute (default
	// "displayName", falling back to "cn") fill Result.Email and Result.Name.
	EmailAttribute, NameAttribute string
	// Attributes are further attributes returned in Result.Attributes
	// (key: attributes).
	Attributes []string
}

// GroupSearch says how to find a user's groups (key: group_search). With
// neither BaseDN nor MemberOfAttribute no groups are looked up.
type GroupSearch struct {
	// BaseDN is where groups live (key: base_dn).
	BaseDN string
	// Filter selects the user's direct groups; {dn} is the user's DN and
	// {username} the canonical user name, both escaped (key: filter;
	// default DefaultGroupFilter: member, uniqueMember and memberUid).
	Filter string
	// NameAttribute is the group name attribute (key: name_attribute;
	// default "cn").
	NameAttribute string
	// MemberOfAttribute, when set (typically "memberOf"), also reads direct
	// group DNs from that attribute of the user entry (key: member_of_attribute).
	MemberOfAttribute string
	// Nested follows groups that are members of groups, up to MaxDepth
	// levels (default 10), with a visited set, using NestedFilter ({dn} is a
	// group DN; default DefaultNestedFilter) (keys: nested, max_depth,
	// nested_filter).
	Nested       bool
	MaxDepth     int
	NestedFilter string
	// InChain asks the server for all nested groups in one search with AD's
	// LDAP_MATCHING_RULE_IN_CHAIN (key: in_chain); Filter defaults to
	// InChainFilter then and no client-side recursion happens.
	InChain bool
	// MaxGroups caps the number of groups (default 10000); more is an error.
	MaxGroups int
}

// FieldError is a configuration problem with one key (YAML key path).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrConfiguration) hold for every FieldError.
func (e *FieldError) Unwrap() error { return ErrConfiguration }

// withDefaults returns a copy of cfg with defaults filled in.
func (cfg Config) withDefaults() Config {
	c := cfg
	c.URLs = append([]string(nil), cfg.URLs...)
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.LoginTimeout <= 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.HealthCheckIdle <= 0 {
		c.HealthCheckIdle = DefaultHealthCheckIdle
	}
	if c.MaxConnLifetime <= 0 {
		c.MaxConnLifetime = DefaultMaxConnLifetime
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.UserSearch.Filter == "" {
		c.UserSearch.Filter = DefaultUserFilter
	}
	if c.UserSearch.UsernameAttribute == "" {
		c.UserSearch.UsernameAttribute = "uid"
	}
	if c.UserSearch.EmailAttribute == "" {
		c.UserSearch.EmailAttribute = "mail"
	}
	if c.UserSearch.NameAttribute == "" {
		c.UserSearch.NameAttribute = "displayName"
	}
	g := &c.GroupSearch
	if g.NameAttribute == "" {
		g.NameAttribute = "cn"
	}
	if g.Filter == "" {
		if g.InChain {
			g.Filter = InChainFilter
		} else {
			g.Filter = DefaultGroupFilter
		}
	}
	if g.NestedFilter == "" {
		g.NestedFilter = DefaultNestedFilter
	}
	if g.MaxDepth <= 0 {
		g.MaxDepth = DefaultMaxDepth
	}
	if g.MaxGroups <= 0 {
		g.MaxGroups = DefaultMaxGroups
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem in cfg (after defaults), each as a
// *FieldError naming the key. It does no I/O beyond reading CA and client
// certificate files.
func (cfg Config) Validate() []error {
	c := cfg.withDefaults()
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if len(c.URLs) == 0 {
		add("url", "at least one LDAP URL is required")
	}
	for i, raw := range c.URLs {
		u, err := parseURL(raw)
		field := fmt.Sprintf("urls[%d]", i)
		if len(c.URLs) == 1 {
			field = "url"
		}
		if err != nil {
			add(field, "%v", err)
			continue
		}
		switch {
		case u.Scheme == "ldaps" && c.StartTLS:
			add("start_tls", "start_tls cannot be combined with ldaps:// (%s)", u.Host)
		case u.Scheme == "ldap" && !c.StartTLS && !c.InsecureNoTLS:
			add(field, "ldap:// sends passwords in clear: use ldaps://, set start_tls: true, or set insecure_no_tls: true (loopback only)")
		}
	}
	if c.InsecureNoTLS && c.StartTLS {
		add("insecure_no_tls", "insecure_no_tls and start_tls contradict each other")
	}
	if c.CAFile != "" {
		if b, err := os.ReadFile(c.CAFile); err != nil {
			add("ca_file", "cannot read: %v", err)
		} else if _, err := certPool(b); err != nil {
			add("ca_file", "%v", err)
		}
	}
	if len(c.CAPEM) > 0 {
		if _, err := certPool(c.CAPEM); err != nil {
			add("ca_pem", "%v", err)
		}
	}
	if (c.ClientCertFile == "") != (c.ClientKeyFile == "") {
		add("client_cert_file", "client_cert_file and client_key_file must be set together")
	}
	if c.BindDN == "" && !c.AnonymousSearch {
		add("bind_dn", "a service account is required (or set anonymous_search: true)")
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			add("bind_dn", "not a DN: %v", err)
		}
		if c.BindPassword == "" {
			add("bind_password", "required with bind_dn (an empty password would be an unauthenticated bind)")
		}
	}
	if c.UserSearch.BaseDN == "" {
		add("user_search.base_dn", "required")
	} else if _, err := ldap.ParseDN(c.UserSearch.BaseDN); err != nil {
		add("user_search.base_dn", "not a DN: %v", err)
	}
	if err := checkTemplate(c.UserSearch.Filter, true, false); err != nil {
		add("user_search.filter", "%v", err)
	} else if !strings.Contains(c.UserSearch.Filter, "{username}") {
		add("user_search.filter", "must contain {username}")
	}
	g := c.GroupSearch
	if g.BaseDN != "" {
		if _, err := ldap.ParseDN(g.BaseDN); err != nil {
			add("group_search.base_dn", "not a DN: %v", err)
		}
		if err := checkTemplate(g.Filter, true, true); err != nil {
			add("group_search.filter", "%v", err)
		}
	}
	if g.Nested {
		if g.BaseDN == "" {
			add("group_search.nested", "needs group_search.base_dn")
		}
		if err := checkTemplate(g.NestedFilter, false, true); err != nil {
			add("group_search.nested_filter", "%v", err)
		}
	}
	if g.InChain && g.BaseDN == "" {
		add("group_search.in_chain", "needs group_search.base_dn")
	}
	if g.MaxDepth > 100 {
		add("group_search.max_depth", "at most 100")
	}
	return errs
}

// checkTemplate renders the template with sample values and compiles it.
func checkTemplate(tmpl string, allowUser, allowDN bool) error {
	if !allowUser && strings.Contains(tmpl, "{username}") {
		return errors.New("{username} is not available here")
	}
	if !allowDN && strings.Contains(tmpl, "{dn}") {
		return errors.New("{dn} is not available here")
	}
	f := renderFilter(tmpl, "sample*user", "cn=sample,dc=example")
	if _, err := ldap.CompileFilter(f); err != nil {
		return fmt.Errorf("invalid filter %q: %w", tmpl, err)
	}
	return nil
}

// renderFilter substitutes {username} and {dn}, each escaped with
// ldap.EscapeFilter exactly once, here and nowhere else.
func renderFilter(tmpl, username, dn string) string {
	return strings.NewReplacer(
		"{username}", ldap.EscapeFilter(username),
		"{dn}", ldap.EscapeFilter(dn),
	).Replace(tmpl)
}

// RenderFilter is renderFilter for tests and for config check output.
func RenderFilter(tmpl, username, dn string) string { return renderFilter(tmpl, username, dn) }

func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("empty URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "ldaps://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		return nil, fmt.Errorf("scheme %q not supported (ldaps:// or ldap://)", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host", raw)
	}
	if u.Port() == "" {
		port := "636"
		if u.Scheme == "ldap" {
			port = "389"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

// ValidatePlainLoopback enforces idbroker's transport rule: a URL that
// would carry LDAP in clear (ldap:// without StartTLS) is allowed only on
// a loopback host. It returns one error per offending URL.
func ValidatePlainLoopback(urls []string, startTLS bool) []error {
	var errs []error
	for _, raw := range urls {
		u, err := parseURL(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if u.Scheme == "ldap" && !startTLS && !loopback.Host(u.Hostname()) {
			errs = append(errs, fmt.Errorf("plain ldap:// to %s is allowed only on loopback: use ldaps:// or start_tls: true", u.Hostname()))
		}
	}
	return errs
}
