// Package ldapauth is idbroker's LDAP client: it dials ldaps:// (or
// StartTLS, or plain ldap:// only when asked) with failover across several
// URLs, keeps a bounded pool of service-bound connections, finds a user with
// a filter template, checks the password with a bind on a connection that is
// never used for searches while bound as the user and is bound again as the
// service account before it returns to the pool, and resolves the user's
// groups (member/uniqueMember, memberUid, memberOf, nested with a visited
// set and depth limit, or AD's in-chain matching rule), with paged searches.
//
// Every call takes a context; dial, each request and a whole login are
// bounded by timeouts. Referrals are never chased. Errors wrap one of
// ErrInvalidCredentials, ErrUnavailable and ErrConfiguration.
//
// Of idbroker it imports only the shared leaves internal/ldapdn (the
// canonical DN) and internal/casefold (the case fold it applies).
package ldapauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/ldapdn"
)

// Client authenticates users against an LDAP directory. It is safe for
// concurrent use. Close releases its pooled connections.
type Client struct {
	cfg     Config
	pool    *pool
	log     *slog.Logger
	dummyDN string
}

// Result is a successful authentication (or look-up) of a user.
type Result struct {
	// DN is the user's DN, normalised (attribute types lower-cased, values
	// RFC 4514 escaped; ASCII case-folded unless CaseSensitive).
	DN string
	// RawDN is the DN exactly as the server returned it.
	RawDN string
	// Username is the canonical login name from UsernameAttribute (as the
	// server stores it, not as typed).
	Username string
	// ID is entryUUID or objectGUID (formatted as a UUID) when the server
	// returned one, else "".
	ID string
	// Email and Name come from EmailAttribute and NameAttribute (cn fallback).
	Email, Name string
	// Attributes holds the configured UserSearch.Attributes (plus the
	// username, email and name attributes), keyed by the configured names.
	Attributes map[string][]string
	// Groups is sorted by DN and has no duplicates.
	Groups []Group
	// Warnings lists non-fatal problems (for example the nesting depth limit
	// was reached).
	Warnings []string
	// Disabled says why the directory marks the account disabled or
	// locked, "" when it does not: Active Directory's userAccountControl
	// has ACCOUNTDISABLE (0x2), or OpenLDAP's password policy has set
	// pwdAccountLockedTime. Read with the user search at no extra cost. A
	// login leaves the decision to the directory, which refuses the bind
	// of such an account itself (and knows when a password-policy lock has
	// run out); a re-check of a login without the password (Lookup) has no
	// bind to refuse, and its caller decides on it.
	Disabled string
}

// Group is a group the user belongs to, directly or through nesting.
type Group struct {
	// DN is normalised like Result.DN.
	DN string
	// Name is the NameAttribute value (folded unless CaseSensitive); when
	// the entry has none, the value of the DN's first RDN.
	Name string
}

// New checks cfg (see Config.Validate) and returns a Client. It does not
// contact the server; use Check for that.
func New(cfg Config) (*Client, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := cfg.withDefaults()
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	var pemBytes []byte
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, &FieldError{Field: "ca_file", Msg: err.Error()}
		}
		pemBytes = append(pemBytes, b...)
	}
	if len(c.CAPEM) > 0 {
		pemBytes = append(append(pemBytes, '\n'), c.CAPEM...)
	}
	if len(pemBytes) > 0 {
		cp, err := certPool(pemBytes)
		if err != nil {
			return nil, &FieldError{Field: "ca_file", Msg: err.Error()}
		}
		tc.RootCAs = cp
	}
	if c.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
		if err != nil {
			return nil, &FieldError{Field: "client_cert_file", Msg: err.Error()}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	d := &dialer{startTLS: c.StartTLS, tlsBase: tc, timeout: c.DialTimeout}
	for _, raw := range c.URLs {
		u, err := parseURL(raw)
		if err != nil {
			return nil, &FieldError{Field: "url", Msg: err.Error()}
		}
		d.urls = append(d.urls, u)
	}
	p := &pool{
		d: d, bindDN: c.BindDN, bindPW: c.BindPassword, anon: c.BindDN == "",
		healthAfter: c.HealthCheckIdle, maxLife: c.MaxConnLifetime,
		sem: make(chan struct{}, c.MaxConns),
	}
	return &Client{
		cfg:     c,
		pool:    p,
		log:     c.Logger,
		dummyDN: "cn=idbroker-no-such-user-0d1c6f," + c.UserSearch.BaseDN,
	}, nil
}

// Close closes idle pooled connections. Connections in use are closed
// when they are returned.
func (c *Client) Close() error {
	c.pool.close()
	return nil
}

// ValidUsername reports whether username could be valid at all: non-empty,
// at most MaxUsernameBytes, valid UTF-8, no NUL or other control character.
func ValidUsername(username string) bool {
	if username == "" || len(username) > MaxUsernameBytes || !utf8.ValidString(username) {
		return false
	}
	for _, r := range username {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// withConn runs fn on a pooled connection for pp. A network failure on a
// reused connection (it may have died while idle) is retried once on a
// freshly dialled one.
func (c *Client) withConn(ctx context.Context, pp purpose, fn func(cn *conn) error) error {
	for attempt := 0; ; attempt++ {
		cn, fresh, err := c.pool.get(ctx, pp, c.cfg.RequestTimeout)
		if err != nil {
			return err
		}
		err = fn(cn)
		broken := cn.broken
		c.pool.put(cn)
		if err != nil && broken && !fresh && attempt == 0 && ctx.Err() == nil && retryable(err) {
			c.log.DebugContext(ctx, "ldap connection failed on reuse; retrying on a new one", slog.String("url", cn.url))
			continue
		}
		return err
	}
}

// resultFromEntry is the Result of a found entry, before its groups.
func (c *Client) resultFromEntry(e *ldap.Entry) *Result {
	us := c.cfg.UserSearch
	res := &Result{RawDN: e.DN, Attributes: map[string][]string{}}
	if dn, err := NormalizeDN(e.DN, !c.cfg.CaseSensitive); err == nil {
		res.DN = dn
	} else {
		res.DN = e.DN
	}
	res.Username = e.GetEqualFoldAttributeValue(us.UsernameAttribute)
	res.Email = e.GetEqualFoldAttributeValue(us.EmailAttribute)
	res.Name = e.GetEqualFoldAttributeValue(us.NameAttribute)
	if res.Name == "" {
		res.Name = e.GetEqualFoldAttributeValue("cn")
	}
	if id := e.GetEqualFoldAttributeValue("entryUUID"); id != "" {
		res.ID = id
	} else if g := e.GetEqualFoldRawAttributeValue("objectGUID"); len(g) == 16 {
		res.ID = formatGUID(g)
	}
	res.Disabled = disabled(e)
	for _, a := range dedupFold(append([]string{us.UsernameAttribute, us.EmailAttribute, us.NameAttribute}, us.Attributes...)) {
		if v := e.GetEqualFoldAttributeValues(a); len(v) > 0 {
			res.Attributes[a] = append([]string(nil), v...)
		}
	}
	return res
}

// formatGUID renders an AD objectGUID (little-endian first three fields).
func formatGUID(b []byte) string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
}

// dedupFold drops empty names and names that repeat an earlier one in
// another case, by the rule go-ldap's GetEqualFoldAttributeValues applies
// to attribute names (strings.EqualFold), so that one attribute is never
// asked for or copied twice.
func dedupFold(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, s) }) {
			out = append(out, s)
		}
	}
	return out
}

// groups resolves the user's groups with the service account.
func (c *Client) groups(ctx context.Context, user *ldap.Entry, username string) ([]Group, []string, error) {
	gs := c.cfg.GroupSearch
	fold := !c.cfg.CaseSensitive
	found := map[string]Group{} // key: folded normalised DN
	var warnings []string
	var frontier []string // raw DNs whose parents are still to be looked up

	add := func(rawDN, name string) bool {
		key, err := NormalizeDN(rawDN, true)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("ignored group with unparsable DN %q", rawDN))
			return false
		}
		if _, ok := found[key]; ok {
			return false
		}
		dn, _ := NormalizeDN(rawDN, fold)
		if name == "" {
			name = firstRDNValue(rawDN)
		}
		if fold {
			name = FoldASCII(name)
		}
		found[key] = Group{DN: dn, Name: name}
		return true
	}

	if a := gs.MemberOfAttribute; a != "" {
		for _, dn := range user.GetEqualFoldAttributeValues(a) {
			name := ""
			if t, v := firstRDN(dn); strings.EqualFold(t, gs.NameAttribute) {
				name = v
			}
			if add(dn, name) {
				frontier = append(frontier, dn)
			}
		}
	}
	if gs.BaseDN != "" {
		filter := renderFilter(gs.Filter, username, user.DN)
		entries, err := c.pagedSearch(ctx, gs.BaseDN, filter, []string{gs.NameAttribute})
		if err != nil {
			return nil, nil, fmt.Errorf("ldapauth: group search: %w", err)
		}
		for _, e := range entries {
			if add(e.DN, e.GetEqualFoldAttributeValue(gs.NameAttribute)) {
				frontier = append(frontier, e.DN)
			}
		}
	}
	if gs.Nested && !gs.InChain && gs.BaseDN != "" {
		for depth := 1; len(frontier) > 0; depth++ {
			if depth > gs.MaxDepth {
				warnings = append(warnings, fmt.Sprintf("nested groups: stopped at max_depth %d", gs.MaxDepth))
				break
			}
			var next []string
			for start := 0; start < len(frontier); start += 50 {
				chunk := frontier[start:min(start+50, len(frontier))]
				parts := make([]string, len(chunk))
				for i, dn := range chunk {
					parts[i] = renderFilter(gs.NestedFilter, "", dn)
				}
				filter := parts[0]
				if len(parts) > 1 {
					filter = "(|" + strings.Join(parts, "") + ")"
				}
				entries, err := c.pagedSearch(ctx, gs.BaseDN, filter, []string{gs.NameAttribute})
				if err != nil {
					return nil, nil, fmt.Errorf("ldapauth: nested group search (depth %d): %w", depth, err)
				}
				for _, e := range entries {
					if add(e.DN, e.GetEqualFoldAttributeValue(gs.NameAttribute)) {
						next = append(next, e.DN)
					}
				}
			}
			if len(found) > gs.MaxGroups {
				return nil, nil, fmt.Errorf("ldapauth: more than %d groups: %w", gs.MaxGroups, ErrConfiguration)
			}
			frontier = next
		}
	}
	if len(found) > gs.MaxGroups {
		return nil, nil, fmt.Errorf("ldapauth: more than %d groups: %w", gs.MaxGroups, ErrConfiguration)
	}
	out := make([]Group, 0, len(found))
	for _, g := range found {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DN < out[j].DN })
	return out, warnings, nil
}

// pagedSearch runs a subtree search with the paged-results control and
// returns all entries. Unlike go-ldap's SearchWithPaging it returns no
// partial results with an error, caps pages and entries (a server that
// repeats its cookie forever cannot loop us), and treats referrals as
// errors. NoSuchObject (missing base) is an empty result.
func (c *Client) pagedSearch(ctx context.Context, base, filter string, attrs []string) ([]*ldap.Entry, error) {
	maxEntries := c.cfg.GroupSearch.MaxGroups
	maxPages := maxEntries/int(c.cfg.PageSize) + 2
	var entries []*ldap.Entry
	err := c.withConn(ctx, forService, func(cn *conn) error {
		entries = entries[:0]
		paging := ldap.NewControlPaging(c.cfg.PageSize)
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, int(c.cfg.RequestTimeout/time.Second), false, filter, attrs, []ldap.Control{paging})
		for page := 0; ; page++ {
			if page >= maxPages {
				return fmt.Errorf("more than %d result pages: %w", maxPages, ErrConfiguration)
			}
			var res *ldap.SearchResult
			err := cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error {
				var err error
				res, err = l.Search(req)
				return err
			})
			if err != nil {
				return err
			}
			if len(res.Referrals) > 0 {
				return fmt.Errorf("search returned %d referral(s), not followed: %w", len(res.Referrals), ErrConfiguration)
			}
			entries = append(entries, res.Entries...)
			if len(entries) > maxEntries {
				return fmt.Errorf("more than %d entries: %w", maxEntries, ErrConfiguration)
			}
			ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if !ok || len(ctrl.Cookie) == 0 {
				return nil
			}
			paging.SetCookie(ctrl.Cookie)
		}
	})
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, nil
		}
		return nil, classify("search", err)
	}
	return entries, nil
}

// NormalizeDN returns the canonical form of dn (see ldapdn.Normalize);
// with fold the values' ASCII letters are lower-cased (FoldASCII).
func NormalizeDN(dn string, fold bool) (string, error) {
	if fold {
		return ldapdn.Normalize(dn, casefold.ASCII)
	}
	return ldapdn.Normalize(dn, nil)
}

// FoldASCII is the case fold ldapauth applies to the DNs and group names it
// reports: casefold.ASCII, which lower-cases A-Z only, so that look-alikes
// (ſ, K) never fold onto ASCII names.
func FoldASCII(s string) string { return casefold.ASCII(s) }

func firstRDN(dn string) (typ, value string) {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return "", ""
	}
	return p.RDNs[0].Attributes[0].Type, p.RDNs[0].Attributes[0].Value
}

func firstRDNValue(dn string) string { _, v := firstRDN(dn); return v }
