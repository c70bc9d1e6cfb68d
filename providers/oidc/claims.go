package oidc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

const maxJSONDepth = 32

// decodeObject decodes a JSON object strictly: member names are matched
// exactly (no case folding), duplicate names at any level are an error,
// nesting is bounded, and nothing may follow the object. Numbers become
// json.Number so that time claims can be checked for integer form; see
// normalizeNumbers for the values handed to callers.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("JSON value is not an object")
	}
	obj, err := decodeMembers(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON object")
	}
	return obj, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return decodeMembers(dec, depth+1)
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("decoding JSON: %w", err)
			}
			return arr, nil
		}
		return nil, errors.New("unexpected JSON delimiter")
	default:
		return t, nil
	}
}

func decodeMembers(dec *json.Decoder, depth int) (map[string]any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	obj := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decoding JSON: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("JSON object member name is not a string")
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("duplicate JSON member %s", quote(name))
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			return nil, err
		}
		obj[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	return obj, nil
}

// normalizeNumbers replaces json.Number values by float64 (what
// encoding/json would produce), in place, so Claims looks like an ordinary
// decoded JSON object to consumers.
func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return t.String()
		}
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = normalizeNumbers(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = normalizeNumbers(e)
		}
		return t
	default:
		return v
	}
}

// maxNumericDate is 9999-12-31T23:59:59Z: later values are rejected as
// nonsense rather than overflowing time arithmetic.
const maxNumericDate = 253402300799

// numericDate reads a NumericDate claim. present is false when the claim
// is absent. The value must be a JSON integer (no fraction, no exponent)
// between 0 and year 9999.
func numericDate(claims map[string]any, name string) (t time.Time, present bool, err error) {
	raw, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := raw.(json.Number)
	if !ok {
		return time.Time{}, true, fmt.Errorf("claim %s is not a number", name)
	}
	s := n.String()
	if strings.ContainsAny(s, ".eE") {
		return time.Time{}, true, fmt.Errorf("claim %s is not an integer", name)
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i < 0 || i > maxNumericDate {
		return time.Time{}, true, fmt.Errorf("claim %s is out of range", name)
	}
	return time.Unix(i, 0).UTC(), true, nil
}

// stringClaim returns a string claim; present but non-string is an error.
func stringClaim(claims map[string]any, name string) (string, bool, error) {
	raw, ok := claims[name]
	if !ok {
		return "", false, nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", true, fmt.Errorf("claim %s is not a string", name)
	}
	return s, true, nil
}

// stringListClaim reads a claim that may be one string or a list of
// strings. Any non-string element is an error.
func stringListClaim(claims map[string]any, name string) ([]string, bool, error) {
	raw, ok := claims[name]
	if !ok {
		return nil, false, nil
	}
	switch t := raw.(type) {
	case string:
		return []string{t}, true, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, true, fmt.Errorf("claim %s has a non-string element", name)
			}
			out = append(out, s)
		}
		return out, true, nil
	default:
		return nil, true, fmt.Errorf("claim %s is neither a string nor a list of strings", name)
	}
}
