package oidc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const maxJSONDepth = 32

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
