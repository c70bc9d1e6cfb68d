package mapping

import (
	"strings"
	"unicode/utf8"
)

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
