package mapping

import (
	"slices"
	"strings"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/ldapdn"
)

// group is one of an identity's groups as the rules compare it: a name, or
// a DN when the string reads as one (ldapdn.Parse).
type group struct {
	orig string
	dn   bool
	// name is the folded name (when !dn).
	name string
	// rdns are the RDNs (when dn), each with its attribute values in the
	// order of their types (stable, as patterns order theirs).
	rdns [][]ava
	// first is the decoded value of the first attribute of a DN as written,
	// or the name: the GroupName of templates.
	first string
}

// ava is one attribute of an RDN: the type lower-cased, the value decoded
// and folded.
type ava struct{ typ, value string }

// foldFor is the fold rules apply to group names and DN values.
func foldFor(caseSensitive bool) func(string) string {
	if caseSensitive {
		return func(s string) string { return s }
	}
	return casefold.Unicode
}

// normalizeGroup reads s as a DN when ldapdn.Parse accepts it and as a plain
// name otherwise. A name is only case-folded (not trimmed). A DN is compared
// by its decoded values, so spacing and escaping do not matter and attribute
// types compare without regard to case: "CN=Admins, OU=x" == "cn=admins,ou=x".
func normalizeGroup(s string, caseSensitive bool) group {
	fold := foldFor(caseSensitive)
	dn, err := ldapdn.Parse(s)
	if err != nil {
		return group{orig: s, name: fold(s), first: s}
	}
	g := group{orig: s, dn: true, first: dn.RDNs[0].Attributes[0].Value, rdns: make([][]ava, len(dn.RDNs))}
	for i, rdn := range dn.RDNs {
		avas := make([]ava, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			avas[j] = ava{typ: casefold.ASCII(a.Type), value: fold(a.Value)}
		}
		slices.SortStableFunc(avas, func(x, y ava) int { return strings.Compare(x.typ, y.typ) })
		g.rdns[i] = avas
	}
	return g
}
