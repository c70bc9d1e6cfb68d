// Package casefold holds idbroker's rules for comparing names without
// regard to case where the comparison decides access: group names and DN
// values in mapping rules, LDAP DNs and group names as ldapauth reports
// them, e-mail domains, per-account keys.
//
// Neither rule is strings.EqualFold. EqualFold lets a non-ASCII rune equal
// an ASCII letter ("adminſ" with U+017F LONG S equals "admins", U+212A
// KELVIN SIGN equals "k"), so a name an attacker can choose upstream could
// match a rule written for another. Both rules here keep such look-alikes
// apart. They differ, and each has its own name:
//
//   - ASCII folds only A-Z: the fold ldapauth applies to the DNs and group
//     names it reports and to its per-account keys.
//   - Unicode also folds non-ASCII letters ("Ärzte" == "ärzte"): the fold
//     mapping applies to both sides of every comparison of group names, DN
//     values and e-mail domains. Since mapping folds both sides itself, what
//     ldapauth left unfolded never decides a match.
//
// (IAM's case-insensitive comparisons in sts/policy follow AWS, which folds
// the way strings.EqualFold does; that is AWS's rule, not one of these.)
package casefold

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// ASCII lower-cases the ASCII letters A-Z and keeps every other byte as it
// is, including invalid UTF-8.
func ASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Unicode applies Unicode simple lower-casing rune by rune (never full case
// folding), except that a non-ASCII rune never becomes an ASCII one: "ADMINS"
// and "admins" fold alike, so do "Ärzte" and "ärzte", but "adminſ" (U+017F)
// stays apart from "admins", "ADMINK" with U+212A KELVIN SIGN from "admink",
// and "İstanbul" (U+0130) from "istanbul". Invalid UTF-8 bytes are kept as
// they are (never collapsed into U+FFFD).
func Unicode(s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] < utf8.RuneSelf
	}
	if ascii {
		return ASCII(s)
	}
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
