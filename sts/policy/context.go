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
}

// NewContext returns an empty context.
func NewContext() *Context { return &Context{m: make(map[string][]string)} }

// Set replaces the values of key. The values slice is copied.
func (c *Context) Set(key string, values ...string) {
	if c.m == nil {
		c.m = make(map[string][]string)
	}
	c.m[strings.ToLower(key)] = append([]string(nil), values...)
}

// Add appends values to key.
func (c *Context) Add(key string, values ...string) {
	if c.m == nil {
		c.m = make(map[string][]string)
	}
	k := strings.ToLower(key)
	c.m[k] = append(c.m[k], values...)
}

// Delete removes key.
func (c *Context) Delete(key string) { delete(c.m, strings.ToLower(key)) }

// Get returns the values of key and whether it is present.
func (c *Context) Get(key string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.m[strings.ToLower(key)]
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
