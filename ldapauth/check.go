package ldapauth

import (
	"context"
	"errors"
	"fmt"

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
// the service bind, the user search base and filter, and the group search
// base. It never authenticates a user. Later checks are skipped when no
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

	base := func(name, dn, hint string) {
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
			return
		}
		out = append(out, CheckResult{Name: name, OK: true, Detail: dn + " exists and is readable"})
	}
	base("user search base", c.cfg.UserSearch.BaseDN, "check user_search.base_dn")

	filter := renderFilter(c.cfg.UserSearch.Filter, "idbroker-config-check", "")
	err = cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error {
		res, err := l.Search(ldap.NewSearchRequest(c.cfg.UserSearch.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false, filter, []string{"1.1"}, nil))
		if err == nil && len(res.Referrals) > 0 {
			return fmt.Errorf("referral returned: %w", ErrConfiguration)
		}
		return err
	})
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		out = append(out, CheckResult{Name: "user search filter", Detail: fmt.Sprintf("%s: %v", filter, err), Err: classify("user filter", err),
			Suggestion: "check user_search.filter syntax and that its attributes exist in the server schema"})
	} else {
		out = append(out, CheckResult{Name: "user search filter", OK: true, Detail: "accepted: " + filter})
	}

	if c.cfg.GroupSearch.BaseDN != "" {
		base("group search base", c.cfg.GroupSearch.BaseDN, "check group_search.base_dn")
	} else if c.cfg.GroupSearch.MemberOfAttribute == "" {
		out = append(out, CheckResult{Name: "group search", OK: true, Detail: "no group lookup configured (group_search.base_dn and member_of_attribute are empty)"})
	}
	return out
}
