package ldapauth

import (
	"context"
	"slices"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// searchEntry encodes a SearchResultEntry with single-valued attributes.
func searchEntry(dn string, attrs ...[2]string) *ber.Packet {
	e := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "entry")
	e.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "dn"))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attrs")
	for _, kv := range attrs {
		a := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attr")
		a.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, kv[0], "type"))
		vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
		vals.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, kv[1], "v"))
		a.AppendChild(vals)
		list.AppendChild(a)
	}
	e.AppendChild(list)
	return e
}

// recordedSearch is what a search request asked for.
type recordedSearch struct {
	base   string
	filter string // decompiled (escaped) text
	value  string // raw assertion value of an extensible-match filter
}

// OpenLDAP has no LDAP_MATCHING_RULE_IN_CHAIN, so a recording peer stands
// in for Active Directory: with in_chain the client sends exactly one group
// search whose filter carries the user's DN escaped once, takes the groups
// the server answers as the whole (nested) set, and does no recursion of
// its own even with nested: true.
func TestInChainGroupSearch(t *testing.T) {
	const (
		groupsBase = "ou=groups,dc=example,dc=org"
		// A DN as AD returns it: RFC 4514 escapes (\2C, \C3\BC) and filter
		// metacharacters ( ) * that must be escaped in the filter.
		userDN = `cn=J\C3\BCrgen Smith\2C (ext*),ou=people,dc=example,dc=org`
		// userDN escaped once for a filter: \ ( * ) as \5c \28 \2a \29.
		escaped = `cn=J\5cC3\5cBCrgen Smith\5c2C \28ext\2a\29,ou=people,dc=example,dc=org`
	)
	tests := []struct {
		name       string
		filter     string // group_search.filter; "" is the in_chain default
		wantFilter string
	}{
		{"default filter", "", "(member:1.2.840.113556.1.4.1941:=" + escaped + ")"},
		{"custom filter", "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={dn}))",
			"(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=" + escaped + "))"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu       sync.Mutex
				searches []recordedSearch
			)
			f := &fakeServer{handle: func(id int64, op ber.Tag, req *ber.Packet) []*ber.Packet {
				switch op {
				case opBindRequest:
					return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
				case opSearchRequest:
					rs := recordedSearch{base: req.Children[0].Data.String()}
					filter, err := ldap.DecompileFilter(req.Children[6])
					if err != nil {
						t.Errorf("undecodable filter: %v", err)
					}
					rs.filter = filter
					var findValue func(p *ber.Packet)
					findValue = func(p *ber.Packet) {
						if p.ClassType == ber.ClassContext && p.Tag == ldap.FilterExtensibleMatch {
							for _, c := range p.Children {
								if c.Tag == ldap.MatchingRuleAssertionMatchValue {
									rs.value = c.Data.String()
								}
							}
							return
						}
						for _, c := range p.Children {
							findValue(c)
						}
					}
					findValue(req.Children[6])
					mu.Lock()
					searches = append(searches, rs)
					n := len(searches)
					mu.Unlock()
					if n == 1 { // the user search
						return []*ber.Packet{envelope(id, searchEntry(userDN, [2]string{"uid", "jsmith"})),
							envelope(id, ldapResult(opSearchResultDone, 0, ""))}
					}
					// AD answers the whole nested set at once.
					return []*ber.Packet{
						envelope(id, searchEntry("CN=Team A,"+groupsBase, [2]string{"cn", "Team A"})),
						envelope(id, searchEntry("CN=Dept X,"+groupsBase, [2]string{"cn", "Dept X"})),
						envelope(id, searchEntry(`CN=Org\2C All,`+groupsBase)), // no cn returned: named from the RDN
						envelope(id, ldapResult(opSearchResultDone, 0, "")),
					}
				}
				return nil
			}}
			cfg := faultConfig(startFake(t, f))
			cfg.GroupSearch = GroupSearch{BaseDN: groupsBase, InChain: true, Nested: true, Filter: tc.filter}
			c, _ := newClient(t, cfg)
			res, err := c.Authenticate(context.Background(), "jsmith", "pw")
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(searches) != 2 {
				t.Fatalf("%d searches %+v, want the user search and one group search", len(searches), searches)
			}
			g := searches[1]
			if g.base != groupsBase || g.filter != tc.wantFilter {
				t.Errorf("group search base %q filter %q, want %q %q", g.base, g.filter, groupsBase, tc.wantFilter)
			}
			if g.value != userDN {
				t.Errorf("assertion value on the wire %q, want the DN itself %q (escaped once)", g.value, userDN)
			}
			type pair struct{ dn, name string }
			var got []pair
			for _, gr := range res.Groups {
				got = append(got, pair{gr.DN, gr.Name})
			}
			want := []pair{
				{"cn=dept x," + groupsBase, "dept x"},
				{`cn=org\, all,` + groupsBase, "org, all"},
				{"cn=team a," + groupsBase, "team a"},
			}
			if !slices.Equal(got, want) {
				t.Errorf("groups %q, want %q", got, want)
			}
		})
	}
}
