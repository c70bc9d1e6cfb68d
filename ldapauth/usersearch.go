package ldapauth

import (
	"context"
	"fmt"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// userAttributes are the attributes the user search reads.
func (c *Client) userAttributes() []string {
	us := c.cfg.UserSearch
	attrs := []string{us.UsernameAttribute, us.EmailAttribute, us.NameAttribute, "cn", "entryUUID", "objectGUID"}
	if a := c.cfg.GroupSearch.MemberOfAttribute; a != "" {
		attrs = append(attrs, a)
	}
	attrs = append(attrs, us.Attributes...)
	return dedupFold(attrs)
}

// findUser searches the user entry with the service account. It returns
// errNoSuchUser for zero entries and ErrConfiguration for several.
func (c *Client) findUser(ctx context.Context, username string) (*ldap.Entry, error) {
	filter := renderFilter(c.cfg.UserSearch.Filter, username, "")
	var entries []*ldap.Entry
	err := c.withConn(ctx, forService, func(cn *conn) error {
		req := ldap.NewSearchRequest(c.cfg.UserSearch.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			2, int(c.cfg.RequestTimeout/time.Second), false, filter, c.userAttributes(), nil)
		return cn.do(ctx, c.cfg.RequestTimeout, func(l *ldap.Conn) error {
			res, err := l.Search(req)
			if res != nil {
				entries = res.Entries
				if len(res.Referrals) > 0 {
					return fmt.Errorf("search returned %d referral(s), not followed: %w", len(res.Referrals), ErrConfiguration)
				}
			}
			return err
		})
	})
	switch {
	case err != nil && ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) && len(entries) > 1:
		return nil, fmt.Errorf("ldapauth: user search matched several entries: %w", ErrConfiguration)
	case err != nil && ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return nil, fmt.Errorf("ldapauth: user search base %q not found: %w", c.cfg.UserSearch.BaseDN, ErrConfiguration)
	case err != nil:
		return nil, classify("ldapauth: user search", err)
	case len(entries) == 0:
		return nil, errNoSuchUser
	case len(entries) > 1:
		return nil, fmt.Errorf("ldapauth: user search matched %d entries: %w", len(entries), ErrConfiguration)
	}
	return entries[0], nil
}
