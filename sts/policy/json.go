package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxJSONDepth bounds nesting. A valid policy nests at most five levels deep
// (document, statement list, statement, Condition, operator, key values).
const maxJSONDepth = 16

// smallObject is the member count up to which duplicate keys are found by a
// linear scan.
const smallObject = 8

type jkind uint8

const (
	jString jkind = iota + 1
	jNumber
	jBool
	jNull
	jArray
	jObject
)

func (k jkind) String() string {
	switch k {
	case jString:
		return "string"
	case jNumber:
		return "number"
	case jBool:
		return "boolean"
	case jNull:
		return "null"
	case jArray:
		return "array"
	case jObject:
		return "object"
	}
	return "unknown"
}

// jval is a JSON value that keeps object members in document order, so that
// duplicate keys can be reported instead of silently keeping the last one
// (what encoding/json's Unmarshal does).
type jval struct {
	kind jkind
	s    string // string text, or number literal
	b    bool
	arr  []jval
	obj  []jfield
}

type jfield struct {
	key string
	val jval
}

// errDuplicateKey is wrapped with the offending key.
var errDuplicateKey = errors.New("duplicate key")

// decodeJSON decodes exactly one JSON value from doc with a token-level
// decoder. Duplicate keys in any object are an error (exact comparison;
// callers compare case-insensitively where IAM does).
func decodeJSON(doc []byte) (jval, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := readValue(dec, nil)
	if err != nil {
		return jval{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return jval{}, errors.New("trailing data after JSON value")
	}
	return v, nil
}

// readValue reads one value; path holds the keys (and "#i" list indices)
// leading to it, for duplicate-key reports.
func readValue(dec *json.Decoder, path []string) (jval, error) {
	if len(path) > maxJSONDepth {
		return jval{}, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return jval{}, io.ErrUnexpectedEOF
		}
		return jval{}, err
	}
	switch t := tok.(type) {
	case string:
		return jval{kind: jString, s: t}, nil
	case json.Number:
		return jval{kind: jNumber, s: string(t)}, nil
	case bool:
		return jval{kind: jBool, b: t}, nil
	case nil:
		return jval{kind: jNull}, nil
	case json.Delim:
		switch t {
		case '[':
			v := jval{kind: jArray}
			for i := 0; dec.More(); i++ {
				e, err := readValue(dec, append(path, "#"+strconv.Itoa(i)))
				if err != nil {
					return jval{}, err
				}
				v.arr = append(v.arr, e)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return jval{}, err
			}
			return v, nil
		case '{':
			v := jval{kind: jObject}
			var seen map[string]bool
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jval{}, err
				}
				k, ok := kt.(string)
				if !ok {
					return jval{}, errors.New("object key is not a string")
				}
				dup := false
				if seen != nil {
					dup = seen[k]
					seen[k] = true
				} else {
					for _, f := range v.obj {
						dup = dup || f.key == k
					}
					if len(v.obj) >= smallObject {
						// Large objects switch to a set so that a hostile
						// document cannot make duplicate detection quadratic.
						seen = make(map[string]bool, 2*smallObject)
						for _, f := range v.obj {
							seen[f.key] = true
						}
						seen[k] = true
					}
				}
				if dup {
					return jval{}, &dupKeyError{key: k, path: append([]string(nil), path...)}
				}
				e, err := readValue(dec, append(path, k))
				if err != nil {
					return jval{}, err
				}
				v.obj = append(v.obj, jfield{key: k, val: e})
			}
			if _, err := dec.Token(); err != nil { // '}'
				return jval{}, err
			}
			return v, nil
		}
	}
	return jval{}, errors.New("unexpected JSON token")
}

type dupKeyError struct {
	key  string
	path []string // keys and "#i" indices of the object holding key
}

// location returns the 1-based statement number and the statement element
// (or document element) the duplicate key is in.
func (e *dupKeyError) location() (stmt int, field string) {
	p := append(append([]string(nil), e.path...), e.key)
	if len(p) == 0 {
		return 0, ""
	}
	if p[0] != "Statement" || len(p) == 1 {
		return 0, p[0]
	}
	rest := p[1:]
	stmt = 1
	if strings.HasPrefix(rest[0], "#") {
		n, err := strconv.Atoi(rest[0][1:])
		if err != nil {
			return 0, "Statement"
		}
		stmt, rest = n+1, rest[1:]
	}
	if len(rest) == 0 {
		return stmt, ""
	}
	return stmt, rest[0]
}

func (e *dupKeyError) Error() string { return "duplicate key " + quote(e.key) }
func (e *dupKeyError) Unwrap() error { return errDuplicateKey }

// quote renders s for an error message, bounded so hostile input cannot blow
// up messages.
func quote(s string) string {
	const max = 128
	if len(s) > max {
		s = s[:max] + "..."
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString("\\u00")
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// strings returns the string values of v when v is a string or a non-empty
// list of strings (IAM's "string or list" form). ok is false otherwise.
func (v jval) stringList() (out []string, ok bool) {
	switch v.kind {
	case jString:
		return []string{v.s}, true
	case jArray:
		if len(v.arr) == 0 {
			return nil, false
		}
		out = make([]string, 0, len(v.arr))
		for _, e := range v.arr {
			if e.kind != jString {
				return nil, false
			}
			out = append(out, e.s)
		}
		return out, true
	}
	return nil, false
}
