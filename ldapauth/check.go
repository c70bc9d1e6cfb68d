package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// CheckResult is the outcome of one online check (for `idbroker config
// check --online`): what was tested, whether it passed, what is wrong and
// what to try.
type CheckResult struct {
	// Name is a short label ("connect ldaps://a:636", "service bind", …).
	Name string
	OK   bool
	// Detail says what happened; Suggestion what to try when !OK.
	Detail, Suggestion string
	// Err is the underlying error when !OK (wraps a sentinel).
	Err error
}

// Check contacts the directory and tests, in order: each URL (dial, TLS),
// the service bind, the user search base and filter, the member_of
// attribute, the group search base, filter and nested filter (rendered as a
// login renders them, and run). Filters' attributes are checked against the
// server's schema when it can be read. It never authenticates a user. Later checks are skipped when no
// connection could be made.
func (c *Client) Check(ctx context.Context) []CheckResult {
	var out []CheckResult
	anyOK := false
	for _, u := range c.pool.d.urls {
		name := "connect " + u.Redacted()
		cn, err := c.pool.d.dialOne(ctx, u)
		if err != nil {
			out = append(out, CheckResult{Name: name, Detail: err.Error(), Err: classify("dial", err),
				Suggestion: "check host and port are reachable from here, the scheme (ldaps:// vs ldap:// + start_tls), and that ca_file/ca_pem holds the CA that signed the server certificate for this host name"})
			continue
		}
		cn.close()
		anyOK = true
		tlsNote := "TLS"
		if u.Scheme == "ldap" && !c.cfg.StartTLS {
			tlsNote = "PLAIN (no TLS)"
		}
		out = append(out, CheckResult{Name: name, OK: true, Detail: "connected (" + tlsNote + ")"})
	}
	if !anyOK {
		return out
	}

	cn, _, err := c.pool.get(ctx, forService, c.cfg.RequestTimeout)
	if err != nil {
		r := CheckResult{Name: "service bind", Detail: err.Error(), Err: err,
			Suggestion: "check bind_dn and bind_password (the full DN of the lookup account, e.g. cn=reader,dc=example,dc=org)"}
		if errors.Is(err, ErrUnavailable) {
			r.Suggestion = "the server did not answer the bind in time; check request_timeout and server load"
		}
		return append(out, r)
	}
	defer c.pool.put(cn)
	who := c.cfg.BindDN
	if who == "" {
		who = "anonymous"
	}
	out = append(out, CheckResult{Name: "service bind", OK: true, Detail: "bound as " + who})

	// base reads the entry dn and reports whether it is readable.
	base := func(name, dn, hint string) bool {
		err := cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error {
			_, err := l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
			return err
		})
		if err != nil {
			sugg := hint
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				sugg = "the entry " + dn + " does not exist or the service account may not read it (slapd answers No such object for both): check the DN and the ACLs"
			}
			out = append(out, CheckResult{Name: name, Detail: err.Error(), Err: classify(name, err), Suggestion: sugg})
			return false
		}
		out = append(out, CheckResult{Name: name, OK: true, Detail: dn + " exists and is readable"})
		return true
	}
	base("user search base", c.cfg.UserSearch.BaseDN, "check user_search.base_dn")

	schema, schemaErr := c.schemaAttributes(ctx, cn)
	// checkFilter runs one rendered filter as the login would (subtree,
	// service account, one entry at most) and checks that the attributes
	// it names exist in the server's schema: an unknown attribute is not an
	// error to the server (it evaluates to Undefined and matches nothing),
	// so a typo would otherwise pass and every login fail. A default
	// filter (an alternation over attributes some servers lack) fails only
	// when none of its attributes exists.
	checkFilter := func(name, key, base, filter string, isDefault bool) {
		fail := func(detail string, err error, sugg string) {
			out = append(out, CheckResult{Name: name, Detail: detail, Err: err, Suggestion: sugg})
		}
		attrs, err := filterAttributes(filter)
		if err != nil {
			fail(fmt.Sprintf("%s: %v", filter, err), fmt.Errorf("%s: %w: %w", key, ErrConfiguration, err), "check "+key+" syntax (RFC 4515: parenthesised, values escaped)")
			return
		}
		note := ""
		if schema == nil {
			note = " (attributes not verified: the schema could not be read: " + schemaErr.Error() + ")"
		} else {
			var missing []string
			for _, a := range attrs {
				if !schema[strings.ToLower(a)] {
					missing = append(missing, a)
				}
			}
			switch {
			case len(missing) > 0 && (!isDefault || len(missing) == len(attrs)):
				fail(fmt.Sprintf("%s: attribute(s) %s not in the server schema", filter, strings.Join(missing, ", ")),
					fmt.Errorf("%s: unknown attribute(s) %s: %w", key, strings.Join(missing, ", "), ErrConfiguration),
					"check the attribute names in "+key+" (a misspelt attribute matches nothing, so every login would fail)")
				return
			case len(missing) > 0:
				note = " (not in the schema, ignored: " + strings.Join(missing, ", ") + ")"
			}
		}
		err = cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error {
			res, err := l.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false, filter, []string{"1.1"}, nil))
			if err == nil && len(res.Referrals) > 0 {
				return fmt.Errorf("referral returned: %w", ErrConfiguration)
			}
			return err
		})
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			fail(fmt.Sprintf("%s: %v", filter, err), classify(key, err), "check "+key+" syntax and that its attributes exist in the server schema")
			return
		}
		out = append(out, CheckResult{Name: name, OK: true, Detail: "accepted: " + filter + note})
	}

	us, gs := c.cfg.UserSearch, c.cfg.GroupSearch
	checkFilter("user search filter", "user_search.filter", us.BaseDN,
		renderFilter(us.Filter, checkUsername, ""), us.Filter == DefaultUserFilter)

	if a := gs.MemberOfAttribute; a != "" && schema != nil && !schema[strings.ToLower(a)] {
		out = append(out, CheckResult{Name: "member_of attribute", Detail: a + " is not in the server schema",
			Err:        fmt.Errorf("group_search.member_of_attribute: unknown attribute %s: %w", a, ErrConfiguration),
			Suggestion: "check group_search.member_of_attribute (memberOf needs the memberof overlay on OpenLDAP)"})
	}
	if gs.BaseDN != "" {
		if !base("group search base", gs.BaseDN, "check group_search.base_dn") {
			return out
		}
		// The group search as a login renders it, for a user that does not
		// exist: {dn} under the user base, {username} a fixed name.
		userDN := "cn=" + ldap.EscapeDN(checkUsername) + "," + us.BaseDN
		isDefault := gs.Filter == DefaultGroupFilter || (gs.InChain && gs.Filter == InChainFilter)
		checkFilter("group search filter", "group_search.filter", gs.BaseDN, renderFilter(gs.Filter, checkUsername, userDN), isDefault)
		if gs.Nested && !gs.InChain {
			groupDN := "cn=" + ldap.EscapeDN(checkUsername) + "," + gs.BaseDN
			checkFilter("nested group filter", "group_search.nested_filter", gs.BaseDN, renderFilter(gs.NestedFilter, "", groupDN), gs.NestedFilter == DefaultNestedFilter)
		}
	} else if gs.MemberOfAttribute == "" {
		out = append(out, CheckResult{Name: "group search", OK: true, Detail: "no group lookup configured (group_search.base_dn and member_of_attribute are empty)"})
	}
	return out
}

// checkUsername is the user name Check renders filters with.
const checkUsername = "idbroker-config-check"

// schemaAttributes returns the attribute type names (lower-cased, every
// alias) of the server's subschema subentry (RFC 4512), read with cn.
func (c *Client) schemaAttributes(ctx context.Context, cn *conn) (map[string]bool, error) {
	var names map[string]bool
	err := cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error {
		root, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"subschemaSubentry"}, nil))
		if err != nil {
			return fmt.Errorf("root DSE: %w", err)
		}
		dn := "cn=Subschema"
		if len(root.Entries) == 1 {
			if v := root.Entries[0].GetEqualFoldAttributeValue("subschemaSubentry"); v != "" {
				dn = v
			}
		}
		res, err := l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"attributeTypes"}, nil))
		if err != nil {
			return fmt.Errorf("subschema %s: %w", dn, err)
		}
		if len(res.Entries) != 1 {
			return fmt.Errorf("subschema %s: not readable", dn)
		}
		names = parseAttributeTypeNames(res.Entries[0].GetEqualFoldAttributeValues("attributeTypes"))
		if len(names) == 0 {
			return fmt.Errorf("subschema %s: no attributeTypes readable", dn)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// attributeTypeName matches the NAME of an RFC 4512 AttributeTypeDescription:
// NAME 'cn' or NAME ( 'cn' 'commonName' ).
var attributeTypeName = regexp.MustCompile(`\bNAME\s+(?:'([^']*)'|\(([^)]*)\))`)

var quoted = regexp.MustCompile(`'([^']*)'`)

func parseAttributeTypeNames(defs []string) map[string]bool {
	names := map[string]bool{}
	for _, d := range defs {
		m := attributeTypeName.FindStringSubmatch(d)
		switch {
		case m == nil:
		case m[1] != "":
			names[strings.ToLower(m[1])] = true
		default:
			for _, q := range quoted.FindAllStringSubmatch(m[2], -1) {
				names[strings.ToLower(q[1])] = true
			}
		}
	}
	return names
}

// filterAttributes returns the attribute descriptions a search filter
// names (options such as ;binary dropped, numeric OIDs left out, each once,
// in order), or the filter's syntax error.
func filterAttributes(filter string) ([]string, error) {
	p, err := ldap.CompileFilter(filter)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a, _, _ = strings.Cut(a, ";")
		if a == "" || (a[0] >= '0' && a[0] <= '9') || seen[strings.ToLower(a)] {
			return
		}
		seen[strings.ToLower(a)] = true
		out = append(out, a)
	}
	var walk func(p *ber.Packet, depth int)
	walk = func(p *ber.Packet, depth int) {
		if depth > 100 {
			return
		}
		switch p.Tag {
		case ldap.FilterAnd, ldap.FilterOr, ldap.FilterNot:
			for _, ch := range p.Children {
				walk(ch, depth+1)
			}
		case ldap.FilterPresent:
			add(p.Data.String())
		case ldap.FilterExtensibleMatch:
			for _, ch := range p.Children {
				if ch.Tag == ldap.MatchingRuleAssertionType {
					add(ch.Data.String())
				}
			}
		default: // equality, substrings, >=, <=, approx: the attribute first
			if len(p.Children) > 0 {
				add(p.Children[0].Data.String())
			}
		}
	}
	walk(p, 0)
	return out, nil
}
