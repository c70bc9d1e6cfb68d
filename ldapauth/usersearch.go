package ldapauth

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// The attributes that say a directory has disabled an account, read by
// every user search (asked for by name: pwdAccountLockedTime is
// operational; a server that does not know one ignores it).
const (
	// attrUserAccountControl is Active Directory's account flags.
	attrUserAccountControl = "userAccountControl"
	// uacAccountDisable is its ACCOUNTDISABLE bit.
	uacAccountDisable = 0x2
	// attrPwdAccountLockedTime is set by OpenLDAP's password policy
	// (draft-behera-ldap-password-policy) when it locks the account, or
	// by an administrator (000001010000Z: locked until unlocked).
	attrPwdAccountLockedTime = "pwdAccountLockedTime"
)

// userAttributes are the attributes the user search reads.
func (c *Client) userAttributes() []string {
	us := c.cfg.UserSearch
	attrs := []string{us.UsernameAttribute, us.EmailAttribute, us.NameAttribute, "cn", "entryUUID", "objectGUID",
		attrUserAccountControl, attrPwdAccountLockedTime}
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

// disabled reports why the directory marks the entry's account disabled
// or locked ("" when it does not): AD's userAccountControl with
// ACCOUNTDISABLE, or a pwdAccountLockedTime. A userAccountControl that is
// not an integer counts as disabled (the flags cannot be read, so the
// account is not known to be enabled).
func disabled(e *ldap.Entry) string {
	if v := e.GetEqualFoldAttributeValue(attrUserAccountControl); v != "" {
		flags, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch {
		case err != nil:
			return "userAccountControl is not an integer"
		case flags&uacAccountDisable != 0:
			return "userAccountControl has ACCOUNTDISABLE"
		}
	}
	if e.GetEqualFoldAttributeValue(attrPwdAccountLockedTime) != "" {
		return "pwdAccountLockedTime is set (password policy lock)"
	}
	return ""
}
