package policy

import (
	"strings"
	"unicode/utf8"
)

// elemKind is one piece of a compiled text pattern.
type elemKind uint8

const (
	eText  elemKind = iota // literal text
	eStar                  // '*': any run of characters
	eQuest                 // '?': exactly one character
	eVar                   // ${key} or ${key, 'default'}: the key's single value, matched literally
)

type elem struct {
	kind   elemKind
	text   string // eText: the literal; eVar: the default value
	key    string // eVar: lower-cased context key
	hasDef bool   // eVar: a default was given
	vi     int    // eVar: index into the resolved values
}

// patKind selects the matching strategy chosen at compile time.
type patKind uint8

const (
	pAny    patKind = iota + 1 // "*" alone: matches everything
	pExact                     // no wildcard, no variable: string comparison
	pPrefix                    // literal followed by one trailing '*'
	pGlob                      // general case: elems
)

// pattern is a compiled string pattern (an Action, a Resource segment, a
// String*/Arn* condition value). Matching never parses and never allocates
// unless the pattern holds more than a few variables.
type pattern struct {
	kind  patKind
	lit   string // pExact / pPrefix
	elems []elem // pGlob
	nvars int
	raw   string
}

// compileOpts says how to read pattern text.
type compileOpts struct {
	wild bool // '*' and '?' are wildcards
	vars bool // ${...} is a policy variable (Version 2012-10-17 and an allowed position)
}

func compilePattern(s string, o compileOpts) pattern {
	p := pattern{raw: s}
	var els []elem
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			els = append(els, elem{kind: eText, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case o.wild && c == '*':
			flush()
			if n := len(els); n == 0 || els[n-1].kind != eStar { // "**" == "*"
				els = append(els, elem{kind: eStar})
			}
			i++
		case o.wild && c == '?':
			flush()
			els = append(els, elem{kind: eQuest})
			i++
		case o.vars && c == '$' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				lit.WriteByte(c)
				i++
				continue
			}
			body := s[i+2 : i+2+end]
			switch body {
			case "*", "?", "$":
				lit.WriteString(body)
				i += 3 + end
				continue
			}
			key, def, hasDef, ok := parseVarBody(body)
			if !ok {
				lit.WriteByte(c)
				i++
				continue
			}
			flush()
			els = append(els, elem{kind: eVar, key: strings.ToLower(key), text: def, hasDef: hasDef, vi: p.nvars})
			p.nvars++
			i += 3 + end
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	switch {
	case len(els) == 1 && els[0].kind == eStar:
		p.kind = pAny
	case len(els) == 0:
		p.kind = pExact
	case len(els) == 1 && els[0].kind == eText:
		p.kind, p.lit = pExact, els[0].text
	case len(els) == 2 && els[0].kind == eText && els[1].kind == eStar:
		p.kind, p.lit = pPrefix, els[0].text
	default:
		p.kind, p.elems = pGlob, els
	}
	return p
}

// parseVarBody splits "key" or "key, 'default'" (IAM's syntax is comma,
// space, single-quoted literal; surrounding spaces are tolerated).
func parseVarBody(body string) (key, def string, hasDef, ok bool) {
	key = body
	if i := strings.IndexByte(body, ','); i >= 0 {
		key = body[:i]
		d := strings.TrimSpace(body[i+1:])
		if len(d) < 2 || d[0] != '\'' || d[len(d)-1] != '\'' {
			return "", "", false, false
		}
		def, hasDef = d[1:len(d)-1], true
	}
	key = strings.TrimSpace(key)
	if key == "" || strings.ContainsAny(key, "${}' ") {
		return "", "", false, false
	}
	return key, def, hasDef, true
}

// maxStackVars is how many variable values a match resolves without a heap
// allocation.
const maxStackVars = 4

// match reports whether s matches p. fold compares case-insensitively, the
// way IAM does and strings.EqualFold does: rune by rune, each rune equal to
// every rune of its Unicode simple-fold orbit.
// unresolved is true when a variable had no single value and no default: the
// pattern then matches nothing (IAM's rule for unresolvable variables).
func (p *pattern) match(s string, fold bool, ctx *Context) (ok, unresolved bool) {
	switch p.kind {
	case pAny:
		return true, false
	case pExact:
		if fold {
			return strings.EqualFold(p.lit, s), false
		}
		return s == p.lit, false
	case pPrefix:
		if fold {
			return hasPrefixFold(s, p.lit), false
		}
		return strings.HasPrefix(s, p.lit), false
	}
	if p.nvars == 0 {
		return globMatch(p.elems, nil, s, fold), false
	}
	var buf [maxStackVars]string
	vals := buf[:0]
	for i := range p.elems {
		e := &p.elems[i]
		if e.kind != eVar {
			continue
		}
		v, ok := ctx.single(e.key)
		if !ok {
			if !e.hasDef {
				return false, true
			}
			v = e.text
		}
		vals = append(vals, v)
	}
	return globMatch(p.elems, vals, s, fold), false
}

// globMatch matches s against els: '*' spans any run, '?' one character,
// text and variable values literally. Worst case O(len(pattern)*len(s)); no
// recursion, so hostile input cannot blow the stack or hang.
func globMatch(els []elem, vals []string, s string, fold bool) bool {
	text := func(e int) string {
		if els[e].kind == eVar {
			return vals[els[e].vi]
		}
		return els[e].text
	}
	// cursor into the virtual pattern: element index and byte offset within
	// a text/variable element. norm skips exhausted text elements.
	type cur struct{ e, o int }
	norm := func(c cur) cur {
		for c.e < len(els) {
			k := els[c.e].kind
			if (k == eText || k == eVar) && c.o >= len(text(c.e)) {
				c.e++
				c.o = 0
				continue
			}
			break
		}
		return c
	}
	px := norm(cur{})
	nx := 0
	starP, starN := cur{}, -1
	for {
		if px.e < len(els) {
			switch els[px.e].kind {
			case eStar:
				px = norm(cur{px.e + 1, 0})
				starP, starN = px, nx
				continue
			case eQuest:
				if nx < len(s) {
					nx += runeLen(s, nx)
					px = norm(cur{px.e + 1, 0})
					continue
				}
			default:
				if nx < len(s) {
					t := text(px.e)
					if !fold {
						if t[px.o] == s[nx] {
							px.o++
							px = norm(px)
							nx++
							continue
						}
					} else if pn, sn, eq := foldEqAt(t, px.o, s, nx); eq {
						px.o += pn
						px = norm(px)
						nx += sn
						continue
					}
				}
			}
		} else if nx == len(s) {
			return true
		}
		if starN >= 0 && starN < len(s) {
			starN += runeLen(s, starN)
			px, nx = starP, starN
			continue
		}
		return false
	}
}

func runeLen(s string, i int) int {
	if s[i] < utf8.RuneSelf {
		return 1
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return n
}

// foldEqAt compares the characters at t[i] and s[j] case-insensitively (by
// strings.EqualFold) and returns their byte lengths, which may differ: K
// (U+212A) is three bytes and folds to the one-byte k.
func foldEqAt(t string, i int, s string, j int) (tn, sn int, eq bool) {
	if t[i] == s[j] && t[i] < utf8.RuneSelf {
		return 1, 1, true
	}
	tn, sn = runeLen(t, i), runeLen(s, j)
	return tn, sn, strings.EqualFold(t[i:i+tn], s[j:j+sn])
}

// hasPrefixFold reports whether s begins with prefix, case-insensitively
// (by strings.EqualFold, rune by rune).
func hasPrefixFold(s, prefix string) bool {
	n := min(len(s), len(prefix))
	if n == len(prefix) && strings.EqualFold(prefix, s[:n]) {
		return true
	}
	if isASCII(prefix) && isASCII(s[:n]) {
		// Rune by rune is byte by byte here: the comparison above was exact.
		return false
	}
	i, j := 0, 0
	for i < len(prefix) {
		if j >= len(s) {
			return false
		}
		pn, sn, eq := foldEqAt(prefix, i, s, j)
		if !eq {
			return false
		}
		i, j = i+pn, j+sn
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// arnSegments is the number of colon-separated ARN components; the last one
// (the resource) keeps any further colons.
const arnSegments = 6

// arnPattern is a Resource/NotResource entry or an Arn* condition value,
// compiled per colon-separated segment (§7.2): wildcards never cross a colon,
// except within the final resource segment.
type arnPattern struct {
	any  bool // "*"
	segs []pattern
	raw  string
	// prefix, when every segment but the last is a plain literal, is those
	// segments joined with their colons ("arn:aws:s3:::"): matching is then
	// one prefix comparison and the last segment.
	prefix string
}

// compileARN compiles an ARN pattern. Variables are honoured only in the
// resource segment (after the fifth colon).
func compileARN(s string, vars bool) arnPattern {
	if s == "*" {
		return arnPattern{any: true, raw: s}
	}
	ap := arnPattern{raw: s}
	rest := s
	for i := 0; ; i++ {
		last := i == arnSegments-1
		j := -1
		if !last {
			j = strings.IndexByte(rest, ':')
		}
		if j < 0 {
			ap.segs = append(ap.segs, compilePattern(rest, compileOpts{wild: true, vars: vars && last}))
			break
		}
		ap.segs = append(ap.segs, compilePattern(rest[:j], compileOpts{wild: true}))
		rest = rest[j+1:]
	}
	if n := len(ap.segs); n >= 2 {
		var b strings.Builder
		for _, sp := range ap.segs[:n-1] {
			if sp.kind != pExact {
				return ap
			}
			b.WriteString(sp.lit)
			b.WriteByte(':')
		}
		ap.prefix = b.String()
	}
	return ap
}

// match reports whether the ARN s matches. A pattern with k < 6 segments
// lets its last segment absorb the rest of s.
func (ap *arnPattern) match(s string, ctx *Context) (ok, unresolved bool) {
	if ap.any {
		return true, false
	}
	if ap.prefix != "" {
		// Literal segments hold no colon, so a prefix match is a match of
		// each of them, and the rest of s is the last segment.
		if !strings.HasPrefix(s, ap.prefix) {
			return false, false
		}
		return ap.segs[len(ap.segs)-1].match(s[len(ap.prefix):], false, ctx)
	}
	rest := s
	for i := range ap.segs {
		seg := rest
		if i < len(ap.segs)-1 {
			j := strings.IndexByte(rest, ':')
			if j < 0 {
				return false, false
			}
			seg, rest = rest[:j], rest[j+1:]
		}
		ok, unres := ap.segs[i].match(seg, false, ctx)
		if unres {
			return false, true
		}
		if !ok {
			return false, false
		}
	}
	return true, false
}
