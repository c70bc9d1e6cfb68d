// Package ldapdn is idbroker's one reading of an LDAP distinguished name
// (RFC 4514) and its one canonical form. ldapauth normalises the DNs it
// reports with it; mapping reads the DNs among a user's groups, and the DN
// patterns of its rules, with it.
//
// Parsing is go-ldap's ParseDN (escapes, hex pairs, BER values after '#',
// insignificant spaces, multi-valued RDNs), with three refusals it leaves
// out: a string that is not valid UTF-8 (RFC 4514 DNs are UTF-8; go-ldap
// would turn each bad byte into U+FFFD, so two different strings would
// read alike), an empty DN, and an attribute type that is neither a
// descriptor nor a numeric OID (RFC 4512), which keeps ordinary names such
// as "Domain Admins=x" from reading as DNs.
//
// The package imports nothing of idbroker's.
package ldapdn

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// DN is a parsed DN: go-ldap's, so that callers need not import go-ldap.
type DN = ldap.DN

// ErrNotDN is wrapped by every error of Parse and Normalize.
var ErrNotDN = errors.New("not a distinguished name")

// errNoPair is Parse's answer to a string without '=', such as a plain
// group name: found without parsing, and without building an error.
var errNoPair = fmt.Errorf("%w: no attribute=value pair", ErrNotDN)

// Parse reads s as a DN: its RDNs in order, the attribute values of each
// decoded (unescaped), in the order written. Attribute types are kept as
// written; compare them without regard to ASCII case.
func Parse(s string) (*DN, error) {
	if strings.IndexByte(s, '=') < 0 {
		return nil, errNoPair
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrNotDN)
	}
	dn, err := ldap.ParseDN(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotDN, err)
	}
	if len(dn.RDNs) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrNotDN)
	}
	for _, rdn := range dn.RDNs {
		for _, a := range rdn.Attributes {
			if !ValidType(a.Type) {
				return nil, fmt.Errorf("%w: attribute type %q is neither a name nor a numeric OID", ErrNotDN, a.Type)
			}
		}
	}
	return dn, nil
}

// Normalize returns the canonical form of dn: attribute types lower-cased,
// values decoded, passed through fold (nil: kept as they are) and escaped
// the one way go-ldap escapes them (RFC 4514 specials, and every byte
// outside printable ASCII as a hex pair), the values of a multi-valued RDN
// sorted, RDNs joined by ",". Two DNs that differ only in spacing, escaping,
// the case of attribute types, the order within a multi-valued RDN (and
// whatever fold folds) have the same canonical form.
func Normalize(dn string, fold func(string) string) (string, error) {
	p, err := Parse(dn)
	if err != nil {
		return "", err
	}
	if fold != nil {
		for _, r := range p.RDNs {
			for _, a := range r.Attributes {
				a.Value = fold(a.Value)
			}
		}
	}
	return p.String(), nil
}

// ValidType reports whether t is an attribute type as RFC 4512 writes one:
// a descriptor (a letter, then letters, digits and hyphens) or a numeric
// OID (digits in dot-separated groups, no empty group).
func ValidType(t string) bool {
	if t == "" {
		return false
	}
	if t[0] >= '0' && t[0] <= '9' {
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
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !(letter || i > 0 && (c == '-' || c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}
