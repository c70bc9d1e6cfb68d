package mapping

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/idbroker/idbroker/internal/casefold"
	"github.com/idbroker/idbroker/internal/ldapdn"
)

// groupPattern matches normalised groups: a plain name or name glob matches
// names; a DN or DN glob matches DNs, attribute value by attribute value,
// so a wildcard never reaches past the value it is written in.
type groupPattern struct {
	raw  string
	dn   bool
	name glob        // folded (when !dn)
	rdns [][]avaGlob // (when dn) ordered as group.rdns
}

// avaGlob is one attribute of an RDN of a DN pattern: the type lower-cased
// and a glob over the decoded, folded value.
type avaGlob struct {
	typ   string
	value glob
}

// compileGroupPattern reads p as a DN pattern when, with its wildcards taken
// as characters, it reads as a DN (ldapdn.Parse), and as a name glob
// otherwise. In a DN pattern an unescaped * or ? is a wildcard inside one
// attribute value, and \* and \? are the characters themselves (as are the
// RFC 4514 hex pairs \2a and \3f).
func compileGroupPattern(p string, caseSensitive bool) (groupPattern, error) {
	if strings.TrimSpace(p) == "" {
		return groupPattern{}, errors.New("empty group pattern")
	}
	fold := foldFor(caseSensitive)
	plain, marked := dnPatternForms(p)
	dn, err := ldapdn.Parse(plain)
	if err != nil {
		return groupPattern{raw: p, name: compileNameGlob(fold(p))}, nil
	}
	wild, err := ldapdn.Parse(marked)
	if err != nil || !sameShape(dn, wild) {
		return groupPattern{}, fmt.Errorf("group pattern %s: a wildcard outside an attribute value", quote(p))
	}
	gp := groupPattern{raw: p, dn: true, rdns: make([][]avaGlob, len(dn.RDNs))}
	for i, rdn := range dn.RDNs {
		avas := make([]avaGlob, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			avas[j] = avaGlob{typ: casefold.ASCII(a.Type), value: valueGlob(a.Value, wild.RDNs[i].Attributes[j].Value, fold)}
		}
		slices.SortStableFunc(avas, func(x, y avaGlob) int { return strings.Compare(x.typ, y.typ) })
		gp.rdns[i] = avas
	}
	return gp, nil
}

// dnPatternForms writes a DN pattern twice for ldapdn.Parse. In both, \* and
// \? (a literal wildcard character) become the RFC 4514 hex pairs \2a and
// \3f; an unescaped * or ? stays itself in plain and becomes 'x' in marked.
// Each of these decodes to one byte, so the two parses have values of the
// same lengths that differ exactly where the pattern has its wildcards.
func dnPatternForms(p string) (plain, marked string) {
	var a, b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			esc := p[i : i+2]
			switch p[i+1] {
			case '*':
				esc = `\2a`
			case '?':
				esc = `\3f`
			}
			a.WriteString(esc)
			b.WriteString(esc)
			i++
		case c == '*' || c == '?':
			a.WriteByte(c)
			b.WriteByte('x')
		default:
			a.WriteByte(c)
			b.WriteByte(c)
		}
	}
	return a.String(), b.String()
}

// sameShape reports whether two parses have the same RDNs, attribute counts
// and types, and values of the same lengths.
func sameShape(a, b *ldapdn.DN) bool {
	if len(a.RDNs) != len(b.RDNs) {
		return false
	}
	for i, ra := range a.RDNs {
		rb := b.RDNs[i]
		if len(ra.Attributes) != len(rb.Attributes) {
			return false
		}
		for j, x := range ra.Attributes {
			if y := rb.Attributes[j]; x.Type != y.Type || len(x.Value) != len(y.Value) {
				return false
			}
		}
	}
	return true
}

// valueGlob is the glob of one attribute value of a DN pattern: plain is the
// value with its wildcards, marked the same value with 'x' where plain has
// a wildcard. Literal runs are folded.
func valueGlob(plain, marked string, fold func(string) string) glob {
	var g glob
	start := 0
	flush := func(end int) {
		if end > start {
			g = append(g, globToken{lit: fold(plain[start:end])})
		}
	}
	for k := 0; k < len(plain); k++ {
		if plain[k] != marked[k] {
			flush(k)
			g = append(g, globToken{kind: plain[k]})
			start = k + 1
		}
	}
	flush(len(plain))
	return g
}

func (p groupPattern) match(g group) bool {
	if p.dn != g.dn {
		return false
	}
	if !p.dn {
		return p.name.match(g.name)
	}
	if len(p.rdns) != len(g.rdns) {
		return false
	}
	for i, rp := range p.rdns {
		rg := g.rdns[i]
		if len(rp) != len(rg) {
			return false
		}
		for j := range rp {
			if rp[j].typ != rg[j].typ || !rp[j].value.match(rg[j].value) {
				return false
			}
		}
	}
	return true
}
