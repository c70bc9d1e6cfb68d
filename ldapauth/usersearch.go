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
