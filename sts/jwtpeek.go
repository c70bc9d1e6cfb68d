package sts

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// jwtPeek is the unverified part of a JWT used for routing and messages.
type jwtPeek struct {
	Iss string
	Exp *int64
}

// peekJWT reads iss (and exp) from a compact JWS without verifying it.
// The token length is already capped by validation. The payload is
// checked to be well-formed JSON and walked once without building values
// (the verifier decodes it properly); member names match as encoding/json
// matches struct fields (case-insensitively), and a repeated member counts
// with its last value, as encoding/json does.
func peekJWT(tok string) (*jwtPeek, error) {
	first := strings.IndexByte(tok, '.')
	if first < 0 {
		return nil, errors.New("not three segments")
	}
	rest := tok[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 || strings.IndexByte(rest[second+1:], '.') >= 0 {
		return nil, errors.New("not three segments")
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rest[:second], "="))
	if err != nil {
		return nil, errors.New("payload is not base64url")
	}
	sc := peekScanner{data: payload}
	issRaw, expRaw, ok := sc.topLevel()
	if !ok {
		return nil, errors.New("payload is not a JSON object")
	}
	var iss string
	if len(issRaw) > 0 && issRaw[0] == '"' {
		if bytes.IndexByte(issRaw, '\\') < 0 && isASCII(issRaw) {
			iss = string(issRaw[1 : len(issRaw)-1])
		} else if json.Unmarshal(issRaw, &iss) != nil {
			return nil, errors.New("payload is not a JSON object")
		}
	}
	if iss == "" {
		return nil, errors.New("no iss")
	}
	p := &jwtPeek{Iss: iss}
	if len(expRaw) > 0 && (expRaw[0] == '-' || expRaw[0] >= '0' && expRaw[0] <= '9') {
		if f, err := strconv.ParseFloat(string(expRaw), 64); err == nil && f > 0 && f < 1e12 {
			e := int64(f)
			p.Exp = &e
		}
	}
	return p, nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// peekScanner checks JSON syntax (RFC 8259, as encoding/json accepts it)
// and returns the raw tokens of the top-level "iss" and "exp" members.
type peekScanner struct {
	data []byte
	pos  int
}

const maxPeekDepth = 10000 // encoding/json's own nesting limit

func (s *peekScanner) topLevel() (iss, exp []byte, ok bool) {
	s.space()
	if s.pos >= len(s.data) {
		return nil, nil, false
	}
	if s.data[s.pos] != '{' {
		// encoding/json decodes a top-level null into a struct without
		// error (and finds no iss); anything else is an error.
		if !s.value(0) {
			return nil, nil, false
		}
		s.space()
		return nil, nil, s.pos == len(s.data) && isNull(s.data)
	}
	s.pos++
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.space()
		return nil, nil, s.pos == len(s.data)
	}
	for {
		s.space()
		start := s.pos
		if !s.str() {
			return nil, nil, false
		}
		name := s.data[start:s.pos]
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return nil, nil, false
		}
		s.pos++
		s.space()
		vstart := s.pos
		if !s.value(1) {
			return nil, nil, false
		}
		switch {
		case nameMatches(name, "iss"):
			iss = s.data[vstart:s.pos]
		case nameMatches(name, "exp"):
			exp = s.data[vstart:s.pos]
		}
		s.space()
		if s.pos >= len(s.data) {
			return nil, nil, false
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.space()
			return iss, exp, s.pos == len(s.data)
		default:
			return nil, nil, false
		}
	}
}

// nameMatches reports whether the raw JSON string token name selects the
// struct field target as encoding/json matches names: after unescaping,
// exactly or case-insensitively under its folding (so "ISS", "\u0069ss"
// and "iſs" all select iss).
func nameMatches(raw []byte, target string) bool {
	inner := raw[1 : len(raw)-1]
	if isASCII(inner) && bytes.IndexByte(inner, '\\') < 0 {
		return len(inner) == len(target) && bytes.EqualFold(inner, []byte(target))
	}
	var name string
	if json.Unmarshal(raw, &name) != nil {
		return false
	}
	return string(foldName(name)) == string(foldName(target))
}

// foldName is encoding/json's name folding: ASCII letters upper-cased,
// other runes mapped to the smallest rune of their simple fold orbit.
func foldName(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			out = append(out, byte(r))
			continue
		}
		out = utf8.AppendRune(out, foldRune(r))
	}
	return out
}

func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

func isNull(b []byte) bool { return strings.TrimSpace(string(b)) == "null" }

func (s *peekScanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *peekScanner) value(depth int) bool {
	if depth > maxPeekDepth {
		return false
	}
	s.space()
	if s.pos >= len(s.data) {
		return false
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		return s.str()
	case c == '{':
		s.pos++
		s.space()
		if s.pos < len(s.data) && s.data[s.pos] == '}' {
			s.pos++
			return true
		}
		for {
			s.space()
			if !s.str() {
				return false
			}
			s.space()
			if s.pos >= len(s.data) || s.data[s.pos] != ':' {
				return false
			}
			s.pos++
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.pos >= len(s.data) {
				return false
			}
			if s.data[s.pos] == '}' {
				s.pos++
				return true
			}
			if s.data[s.pos] != ',' {
				return false
			}
			s.pos++
		}
	case c == '[':
		s.pos++
		s.space()
		if s.pos < len(s.data) && s.data[s.pos] == ']' {
			s.pos++
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if s.pos >= len(s.data) {
				return false
			}
			if s.data[s.pos] == ']' {
				s.pos++
				return true
			}
			if s.data[s.pos] != ',' {
				return false
			}
			s.pos++
		}
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.num()
	}
	return false
}

func (s *peekScanner) lit(l string) bool {
	if len(s.data)-s.pos < len(l) || string(s.data[s.pos:s.pos+len(l)]) != l {
		return false
	}
	s.pos += len(l)
	return true
}

func (s *peekScanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

func (s *peekScanner) num() bool {
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
	}
	if s.pos >= len(d) {
		return false
	}
	if d[s.pos] == '0' {
		s.pos++
	} else if !s.digits() {
		return false
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if !s.digits() {
			return false
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// str skips a string token: escapes must be valid, raw control
// characters are refused, other bytes (even invalid UTF-8) pass.
func (s *peekScanner) str() bool {
	d := s.data
	if s.pos >= len(d) || d[s.pos] != '"' {
		return false
	}
	s.pos++
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			s.pos++
			if s.pos >= len(d) {
				return false
			}
			switch d[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				if len(d)-s.pos < 5 {
					return false
				}
				for _, h := range d[s.pos+1 : s.pos+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				s.pos += 5
			default:
				return false
			}
		default:
			s.pos++
		}
	}
	return false
}
