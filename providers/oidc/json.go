package oidc

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// parser is a strict, allocation-lean JSON decoder for a verified token's
// claims and for userinfo and overage answers. It stays because the
// standard library has no strict decoder: encoding/json keeps the last of
// duplicate names, and encoding/json/v2, which refuses them, is still
// behind GOEXPERIMENT=jsonv2. It accepts exactly RFC 8259 JSON and
// produces objects as map[string]any (member names exact, duplicates
// refused), arrays as []any, numbers as json.Number, strings decoded as
// encoding/json decodes them (invalid UTF-8 and lone surrogates become
// U+FFFD), true/false/nil. Nesting is bounded by maxJSONDepth.
// FuzzDecodeObject compares it with a json.Decoder-based reference.
type parser struct {
	data []byte
	pos  int
}

var errJSONSyntax = errors.New("decoding JSON: invalid syntax")

// maxJSONDepth bounds the nesting of decoded objects and arrays.
const maxJSONDepth = 32

// decodeObject decodes a JSON object strictly: member names are matched
// exactly (no case folding), duplicate names at any level are an error,
// nesting is bounded, and nothing may follow the object. Numbers become
// json.Number so that time claims can be checked for integer form; see
// normalizeNumbers for the values handed to callers.
func decodeObject(data []byte) (map[string]any, error) {
	p := parser{data: data}
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		if p.pos >= len(p.data) {
			return nil, errJSONSyntax
		}
		if _, err := p.value(1); err != nil {
			return nil, err
		}
		return nil, errors.New("JSON value is not an object")
	}
	p.pos++
	obj, err := p.members(1)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, errors.New("trailing data after JSON object")
	}
	return obj, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// members parses the rest of an object after its '{'.
func (p *parser) members(depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	obj := map[string]any{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, errJSONSyntax
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("duplicate JSON member %s", quote(name))
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, errJSONSyntax
		}
		p.pos++
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		obj[name] = v
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, errJSONSyntax
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return obj, nil
		default:
			return nil, errJSONSyntax
		}
	}
}

// value parses one value; depth is that of the enclosing container.
func (p *parser) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, errJSONSyntax
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		p.pos++
		return p.members(depth + 1)
	case c == '[':
		p.pos++
		return p.array(depth + 1)
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	return nil, errJSONSyntax
}

func (p *parser) array(depth int) ([]any, error) {
	arr := []any{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr, nil
	}
	for {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, errJSONSyntax
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, nil
		default:
			return nil, errJSONSyntax
		}
	}
}

func (p *parser) literal(lit string) error {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return errJSONSyntax
	}
	p.pos += len(lit)
	return nil
}

// number checks the RFC 8259 number grammar and returns the text.
func (p *parser) number() (json.Number, error) {
	start := p.pos
	d := p.data
	if p.pos < len(d) && d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
	case p.pos < len(d) && d[p.pos] >= '1' && d[p.pos] <= '9':
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	default:
		return "", errJSONSyntax
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return "", errJSONSyntax
		}
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return "", errJSONSyntax
		}
		for p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			p.pos++
		}
	}
	return json.Number(d[start:p.pos]), nil
}

// str parses a string starting at its opening quote. Plain printable
// ASCII without escapes is copied directly; anything else is handed to
// encoding/json so that escapes, surrogates and invalid UTF-8 decode
// exactly as before.
func (p *parser) str() (string, error) {
	d := p.data
	start := p.pos
	i := p.pos + 1
	simple := true
	for ; i < len(d); i++ {
		c := d[i]
		if c == '"' {
			break
		}
		if c == '\\' {
			simple = false
			i++ // skip the escaped byte; validated below
			continue
		}
		if c < 0x20 {
			return "", errJSONSyntax
		}
		if c >= utf8.RuneSelf {
			simple = false
		}
	}
	if i >= len(d) {
		return "", errJSONSyntax
	}
	p.pos = i + 1
	if simple {
		if s, ok := commonString(d[start+1 : i]); ok {
			return s, nil
		}
		return string(d[start+1 : i]), nil
	}
	var s string
	if err := json.Unmarshal(d[start:p.pos], &s); err != nil {
		return "", errJSONSyntax
	}
	return s, nil
}

// commonString returns the constant for the header and claim names (and a
// few values) every token repeats, so decoding them allocates nothing.
func commonString(b []byte) (string, bool) {
	switch string(b) { // no allocation: the compiler compares the bytes
	case "alg":
		return "alg", true
	case "kid":
		return "kid", true
	case "typ":
		return "typ", true
	case "JWT":
		return "JWT", true
	case "RS256":
		return "RS256", true
	case "ES256":
		return "ES256", true
	case "iss":
		return "iss", true
	case "sub":
		return "sub", true
	case "aud":
		return "aud", true
	case "azp":
		return "azp", true
	case "exp":
		return "exp", true
	case "iat":
		return "iat", true
	case "nbf":
		return "nbf", true
	case "amr":
		return "amr", true
	case "jti":
		return "jti", true
	case "nonce":
		return "nonce", true
	case "at_hash":
		return "at_hash", true
	case "auth_time":
		return "auth_time", true
	case "email":
		return "email", true
	case "email_verified":
		return "email_verified", true
	case "name":
		return "name", true
	case "groups":
		return "groups", true
	case "preferred_username":
		return "preferred_username", true
	case "pwd":
		return "pwd", true
	case "mfa":
		return "mfa", true
	}
	return "", false
}
