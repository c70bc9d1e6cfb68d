package mapping

import (
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fold lower-cases s for comparison. It applies Unicode simple lower-casing
// rune by rune (never full case folding), with one restriction: a non-ASCII
// rune never folds to an ASCII one. So "ADMINS" == "admins", "Ärzte" ==
// "ärzte", but "adminſ" (U+017F long s) stays distinct from "admins" and
// "ADMINK" with U+212A KELVIN SIGN stays distinct from "admink", unlike
// strings.EqualFold. Invalid UTF-8 bytes are kept as they are.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteByte(s[i])
			i++
			continue
		}
		l := unicode.ToLower(r)
		if r >= utf8.RuneSelf && l < utf8.RuneSelf {
			l = r
		}
		b.WriteRune(l)
		i += size
	}
	return b.String()
}

// group is a normalised group name or DN.
type group struct {
	orig string
	dn   bool
	// name is the folded name (when !dn).
	name string
	// rdns are the canonical RDNs (when dn): "type=value" with sorted AVAs
	// joined by "+".
	rdns []string
	// first is the decoded value of the first AVA of a DN, or the name.
	first string
}

// canonical returns the comparison form: the folded name or the canonical DN.
func (g group) canonical() string {
	if g.dn {
		return strings.Join(g.rdns, ",")
	}
	return g.name
}

// normalizeGroup parses s as a DN when it looks like one (attr=value,...)
// and otherwise treats it as a plain name. Names are only case-folded (not
// trimmed); DNs lose insignificant spaces and get lower-case attribute types
// and canonical escaping: "CN=Admins, OU=x" == "cn=admins,ou=x".
func normalizeGroup(s string, caseSensitive bool) group {
	fold := Fold
	if caseSensitive {
		fold = func(s string) string { return s }
	}
	if rdns, err := parseDN(s); err == nil {
		g := group{orig: s, dn: true}
		for i, rdn := range rdns {
			if i == 0 {
				g.first = rdn[0].value
			}
			// Multi-valued RDNs: order AVAs by type (stable, as patterns do).
			slices.SortStableFunc(rdn, func(x, y ava) int { return strings.Compare(x.typ, y.typ) })
			avas := make([]string, len(rdn))
			for j, a := range rdn {
				avas[j] = a.typ + "=" + escapeDNValue(fold(a.value))
			}
			g.rdns = append(g.rdns, strings.Join(avas, "+"))
		}
		return g
	}
	return group{orig: s, name: fold(s), first: s}
}

type ava struct {
	typ   string
	value string
	// wild marks, per byte of value, an unescaped * or ? (for patterns).
	wild []bool
}

var errNotDN = errors.New("not a DN")

// parseDN parses an RFC 4514 distinguished name. It is strict enough that
// ordinary group names ("developers", "Domain Admins") are not DNs.
func parseDN(s string) ([][]ava, error) {
	var (
		rdns [][]ava
		cur  []ava
		i    = 0
	)
	if strings.TrimSpace(s) == "" {
		return nil, errNotDN
	}
	for {
		// attribute type
		for i < len(s) && s[i] == ' ' {
			i++
		}
		start := i
		for i < len(s) && s[i] != '=' {
			i++
		}
		if i >= len(s) {
			return nil, errNotDN
		}
		typ := strings.TrimRight(s[start:i], " ")
		if !validAttrType(typ) {
			return nil, errNotDN
		}
		i++ // '='
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var (
			val      []byte
			wild     []bool
			lastKept = 0 // length of val up to the last escaped or non-space byte
		)
		for i < len(s) && s[i] != ',' && s[i] != '+' && s[i] != ';' {
			c := s[i]
			if c == '\\' {
				if i+1 >= len(s) {
					return nil, errNotDN
				}
				if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
					val = append(val, unhex(s[i+1])<<4|unhex(s[i+2]))
					i += 3
				} else {
					val = append(val, s[i+1])
					i += 2
				}
				wild = append(wild, false)
				lastKept = len(val)
				continue
			}
			if c == '"' || c == '<' || c == '>' {
				return nil, errNotDN
			}
			val = append(val, c)
			wild = append(wild, c == '*' || c == '?')
			if c != ' ' {
				lastKept = len(val)
			}
			i++
		}
		val, wild = val[:lastKept], wild[:lastKept]
		cur = append(cur, ava{typ: strings.ToLower(typ), value: string(val), wild: wild})
		if i >= len(s) {
			rdns = append(rdns, cur)
			return rdns, nil
		}
		if s[i] != '+' {
			rdns = append(rdns, cur)
			cur = nil
		}
		i++
		if i >= len(s) {
			return nil, errNotDN // trailing separator
		}
	}
}

func validAttrType(t string) bool {
	if t == "" {
		return false
	}
	if t[0] >= '0' && t[0] <= '9' { // numeric OID
		dot := true
		for i := 0; i < len(t); i++ {
			switch c := t[i]; {
			case c >= '0' && c <= '9':
				dot = false
			case c == '.' && !dot:
				dot = true
			default:
				return false
			}
		}
		return !dot
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// escapeDNValue escapes a decoded attribute value in one canonical way.
func escapeDNValue(v string) string { return escapeDNRun(v, true, true) }

// escapeDNRun escapes a piece of a value; atStart and atEnd say whether the
// piece begins or ends the value (a leading '#' or space and a trailing
// space are escaped only there).
func escapeDNRun(v string, atStart, atEnd bool) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' || c == ',' || c == '+' || c == '"' || c == '<' || c == '>' || c == ';' || c == '=':
			b.WriteByte('\\')
			b.WriteByte(c)
		case atStart && i == 0 && (c == '#' || c == ' '), atEnd && i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			const hexd = "0123456789abcdef"
			b.WriteByte('\\')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// globToken is one piece of a glob pattern: a literal, '*' or '?'.
type globToken struct {
	lit  string
	kind byte // 0 literal, '*', '?'
}

type glob []globToken

// compileNameGlob parses a glob where * and ? are wildcards and \ escapes
// *, ? and \ (any other backslash is literal, so DOMAIN\Admins works).
func compileNameGlob(p string) glob {
	var (
		g   glob
		lit strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			g = append(g, globToken{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p) && (p[i+1] == '*' || p[i+1] == '?' || p[i+1] == '\\'):
			lit.WriteByte(p[i+1])
			i++
		case c == '*' || c == '?':
			flush()
			g = append(g, globToken{kind: c})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return g
}

// match reports whether s matches the whole pattern. '?' matches one rune.
// It runs in O(len(g)*len(s)) time at worst.
func (g glob) match(s string) bool {
	// Classic greedy matching with one backtrack point for the last '*'.
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(g) {
			t := g[ti]
			switch t.kind {
			case '*':
				starT, starS = ti, si
				ti++
				continue
			case '?':
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			default:
				if strings.HasPrefix(s[si:], t.lit) {
					si += len(t.lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		ti, si = starT+1, starS
	}
}

// groupPattern matches normalised groups: a plain name or name glob matches
// names; a DN or DN glob matches DNs, RDN by RDN, so * never crosses a comma.
type groupPattern struct {
	raw  string
	dn   bool
	name glob   // folded
	rdns []glob // one per RDN, canonical form
}

func compileGroupPattern(p string, caseSensitive bool) (groupPattern, error) {
	if strings.TrimSpace(p) == "" {
		return groupPattern{}, errors.New("empty group pattern")
	}
	fold := Fold
	if caseSensitive {
		fold = func(s string) string { return s }
	}
	rdns, err := parseDN(p)
	if err != nil {
		return groupPattern{raw: p, name: compileNameGlob(fold(p))}, nil
	}
	gp := groupPattern{raw: p, dn: true}
	for _, rdn := range rdns {
		// Sort AVAs by type the same way normalizeGroup sorts "type=value".
		avas := make([]glob, len(rdn))
		keys := make([]string, len(rdn))
		for j, a := range rdn {
			keys[j] = a.typ
			var g glob
			g = append(g, globToken{lit: a.typ + "="})
			// split the value into literal runs and wildcards
			var lit []byte
			litStart := 0
			flush := func(end int) {
				if len(lit) > 0 {
					g = append(g, globToken{lit: escapeDNRun(fold(string(lit)), litStart == 0, end == len(a.value))})
					lit = nil
				}
			}
			for k := 0; k < len(a.value); k++ {
				if a.wild[k] {
					flush(k)
					g = append(g, globToken{kind: a.value[k]})
					litStart = k + 1
				} else {
					lit = append(lit, a.value[k])
				}
			}
			flush(len(a.value))
			avas[j] = g
		}
		idx := make([]int, len(rdn))
		for j := range idx {
			idx[j] = j
		}
		slices.SortStableFunc(idx, func(x, y int) int { return strings.Compare(keys[x], keys[y]) })
		var joined glob
		for n, j := range idx {
			if n > 0 {
				joined = append(joined, globToken{lit: "+"})
			}
			joined = append(joined, avas[j]...)
		}
		gp.rdns = append(gp.rdns, joined)
	}
	return gp, nil
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
	for i, r := range p.rdns {
		if !r.match(g.rdns[i]) {
			return false
		}
	}
	return true
}
