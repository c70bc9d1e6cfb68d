package awsspec

import (
	"strings"
	"unicode"
)

// Lengths of what a session carries.
const (
	// MinSessionNameLen and MaxSessionNameLen bound a RoleSessionName and a
	// SourceIdentity (characters of NameRune).
	MinSessionNameLen = 2
	MaxSessionNameLen = 64
	// MaxSessionTags is how many session tags (and transitive tag keys) a
	// session may carry.
	MaxSessionTags = 50
	// MaxTagKeyLen and MaxTagValueLen bound a tag key (at least 1) and a tag
	// value (at least 0), in characters of TagRune.
	MaxTagKeyLen   = 128
	MaxTagValueLen = 256
)

// NameRune reports whether r is in the alphabet of a RoleSessionName and a
// SourceIdentity, [\w+=,.@-] with \w as ASCII [A-Za-z0-9_].
func NameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '_' || r == '+' || r == '=' || r == ',' || r == '.' || r == '@' || r == '-'
}

// TagRune reports whether r is in the alphabet of a tag key or value,
// [\p{L}\p{Z}\p{N}_.:/=+\-@].
func TagRune(r rune) bool {
	switch r {
	case '_', '.', ':', '/', '=', '+', '-', '@':
		return true
	}
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r)
}

// HasReservedPrefix reports whether s starts with "aws:" in any ASCII case,
// the prefix AWS reserves for its own tag keys, tag values of federated
// sessions, and source identities.
func HasReservedPrefix(s string) bool {
	return len(s) >= 4 && strings.EqualFold(s[:4], "aws:")
}
