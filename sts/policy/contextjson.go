package policy

import (
	"bytes"
	"encoding/json"
	"errors"
)

// errContextValue is the one refusal of ContextValues.
var errContextValue = errors.New("must be a string, number or boolean, or a list of them")

// ContextValues reads the JSON value of one request context key, as the
// decision API and `idbroker policy simulate` receive it: a string, number
// or boolean, or a list of those (a multivalued key). Numbers keep the text
// they were written with (3600 stays "3600", 1.50 stays "1.50"); booleans
// become "true" / "false". null, objects and nested lists are refused.
func ContextValues(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errContextValue
		}
		out := make([]string, 0, len(list))
		for _, item := range list {
			s, err := contextScalar(item)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := contextScalar(raw)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func contextScalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errContextValue
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", errContextValue
		}
		return s, nil
	case c == 't' || c == 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return "", errContextValue
		}
		if b {
			return "true", nil
		}
		return "false", nil
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", errContextValue
		}
		return n.String(), nil
	}
	return "", errContextValue
}
