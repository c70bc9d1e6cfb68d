package policy

import (
	"sort"
	"strings"
)

// Context holds the request context keys a policy's conditions and variables
// read (aws:username, aws:PrincipalTag/team, saml:aud,
// token.actions.githubusercontent.com:sub, ...). Key names are
// case-insensitive, tag-key parts included; every key may carry several
// values. A key set with no values, or only empty strings, is present but
// null (see Null and ForAllValues).
//
// A Context is not safe for concurrent mutation; concurrent evaluations that
// only read it are fine. The zero value is an empty context; a nil *Context
// reads as empty.
type Context struct {
	m map[string][]string
	// vals is the backing array of the values Set copies: one array for
	// the dozen keys of a request rather than one each.
	vals []string
}

// contextKeys is about how many keys a session request's context holds
// (the identity provider's, the STS's own, the transport's), and so the
// size the map and the values' backing array start with.
const contextKeys = 14

// NewContext returns an empty context.
func NewContext() *Context {
	return &Context{m: make(map[string][]string, contextKeys)}
}

// Set replaces the values of key. The values slice is copied.
func (c *Context) Set(key string, values ...string) {
	if c.m == nil {
		c.m = make(map[string][]string, contextKeys)
	}
	c.m[lowerKey(key)] = c.copyValues(values)
}

// copyValues copies values into c.vals and returns the copy, with its
// capacity cut to its length so that appending to it (Add) moves it rather
// than writing over the next key's values. No values is nil, as a copy by
// append would be.
func (c *Context) copyValues(values []string) []string {
	if len(values) == 0 {
		return nil
	}
	if cap(c.vals)-len(c.vals) < len(values) {
		c.vals = make([]string, 0, max(contextKeys, len(values)))
	}
	start := len(c.vals)
	c.vals = append(c.vals, values...)
	return c.vals[start:len(c.vals):len(c.vals)]
}

// Add appends values to key.
func (c *Context) Add(key string, values ...string) {
	if c.m == nil {
		c.m = make(map[string][]string, contextKeys)
	}
	k := lowerKey(key)
	c.m[k] = append(c.m[k], values...)
}

// lowerKey is strings.ToLower(key), without allocating for the keys the STS
// sets on every request in their AWS spelling (knownKeys).
func lowerKey(key string) string {
	if lk, ok := knownKeys[key]; ok {
		return lk
	}
	return strings.ToLower(key)
}

// knownKeys maps the mixed-case keys the STS sets for every session
// request, and for every decision on a session, to their lower case.
var knownKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"aws:CurrentTime", "aws:EpochTime", "aws:FederatedProvider", "aws:MultiFactorAuthAge",
		"aws:MultiFactorAuthPresent", "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalType",
		"aws:RequestedRegion", "aws:SecureTransport", "aws:SourceIdentity", "aws:SourceIp",
		"aws:TagKeys", "aws:TokenIssueTime", "sts:ExternalId", "sts:RoleSessionName",
		"sts:SourceIdentity", "sts:TransitiveTagKeys",
	} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// Delete removes key.
func (c *Context) Delete(key string) { delete(c.m, lowerKey(key)) }

// Get returns the values of key and whether it is present.
func (c *Context) Get(key string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.m[lowerKey(key)]
	return v, ok
}

// Keys returns the (lower-cased) key names, sorted.
func (c *Context) Keys() []string {
	if c == nil {
		return nil
	}
	out := make([]string, 0, len(c.m))
	for k := range c.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Clone returns a deep copy.
func (c *Context) Clone() *Context {
	n := NewContext()
	if c != nil {
		for k, v := range c.m {
			n.m[k] = append([]string(nil), v...)
		}
	}
	return n
}

// lookup reads a key that is already lower-cased (compiled policies lower-case
// their keys once, so evaluation does not allocate).
func (c *Context) lookup(lk string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.m[lk]
	return v, ok
}

// single returns the value of a single-valued key, as a policy variable
// needs it. Absent keys and multi-valued keys do not resolve (§7.4: a
// multi-valued key cannot be used as a policy variable).
func (c *Context) single(lk string) (string, bool) {
	v, ok := c.lookup(lk)
	if !ok || len(v) != 1 {
		return "", false
	}
	return v[0], true
}
