package ldapauth

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

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
