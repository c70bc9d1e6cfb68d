package sts

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxListMembers bounds X.member.N lists.
const maxListMembers = 1000

// Request is a parsed Query API request.
type Request struct {
	// Action is the Action parameter.
	Action string
	// RequestID is the AWS request id of the response.
	RequestID string
	// SourceIP is the client address (the connection's remote address).
	SourceIP string
	// SecureTransport says whether the client's request came over TLS
	// (aws:SecureTransport): see SecureTransport.
	SecureTransport bool
	// HTTP is the raw request; its body has been consumed (see Body).
	HTTP   *http.Request
	params url.Values
	body   []byte
}

// Body is the raw request body (for SigV4 payload hashing).
func (r *Request) Body() []byte { return r.body }

// Get returns the first value of the parameter name, "" when absent.
func (r *Request) Get(name string) string { return r.params.Get(name) }

// Lookup returns the parameter and whether it was present.
func (r *Request) Lookup(name string) (string, bool) {
	v, ok := r.params[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// List returns a list parameter sent as Name.member.1, Name.member.2, …
// in index order. "Name=" (explicitly empty list) gives an empty list.
func (r *Request) List(name string) ([]string, error) {
	items, err := r.members(name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it[""]
	}
	return out, nil
}

// StructList returns a list of structures sent as Name.member.N.Field=value
// (for example Tags.member.1.Key / .Value, PolicyArns.member.1.arn), each
// as a map from field name to value, in index order. Unknown fields are
// ignored.
func (r *Request) StructList(name string, fields ...string) ([]map[string]string, error) {
	if len(fields) == 0 {
		return nil, errors.New("sts: StructList needs at least one field")
	}
	return r.members(name, fields...)
}

// members collects Name.member.N[.Field]; with no fields, the scalar form.
func (r *Request) members(name string, fields ...string) ([]map[string]string, error) {
	prefix := name + ".member."
	byIndex := map[int]map[string]string{}
	for key, vals := range r.params {
		if !strings.HasPrefix(key, prefix) || len(vals) == 0 {
			continue
		}
		rest := key[len(prefix):]
		idx, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil || n < 1 || n > maxListMembers || strconv.Itoa(n) != idx {
			return nil, errValidation(fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a valid list index", key, lowerFirst(name)))
		}
		if len(fields) == 0 {
			if field != "" {
				continue
			}
		} else if !contains(fields, field) {
			continue
		}
		m := byIndex[n]
		if m == nil {
			m = map[string]string{}
			byIndex[n] = m
		}
		m[field] = vals[0]
	}
	idxs := make([]int, 0, len(byIndex))
	for n := range byIndex {
		idxs = append(idxs, n)
	}
	sort.Ints(idxs)
	out := make([]map[string]string, 0, len(idxs))
	for _, n := range idxs {
		out = append(out, byIndex[n])
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
