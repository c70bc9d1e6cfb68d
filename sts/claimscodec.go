package sts

import (
	"encoding/binary"
	"errors"
	"slices"
)

// The session-token claims codec: a compact binary encoding of
// tokenClaims, sealed in version 4 tokens (without the last field in
// version 3 tokens, and without the last four in version 2 tokens;
// token.go). Field order is fixed and no names go on the wire:
//
//	byte      flags: bit 0 Chained, bit 1 MFA (other bits must be 0)
//	str       AccessKeyID, Account, RoleARN, RoleID, SessionName,
//	          SourceIdentity, Policy, Provider
//	varint    IssuedAt, Expiry (zig-zag, Unix seconds)
//	list      PolicyARNs                      (uvarint count, str...)
//	map       Tags (key order)                (uvarint count, (str, str)...)
//	list      TransitiveTagKeys
//	map       Federated (key order)           (uvarint count, (str, list)...)
//	str       SessionID                       (version 3)
//	uvarint   n, the ancestors, root first    (version 3; at most maxChainDepth)
//	n ×       str ParentAccessKeyIDs[i], str ParentRoleARNs[i],
//	          varint ParentIssuedAt[i]
//	varint    MFAAuthTime                     (version 4; 0 unless MFA)
//
// str is a uvarint byte length and the bytes. An empty list or map decodes
// as nil, as the JSON of version 1 (omitempty) decodes it. Decoding refuses
// trailing bytes, counts larger than what is left, and duplicate map keys.
// The plaintext is authenticated by AES-GCM, so these checks guard against
// our own bugs, not forgeries.

var errClaims = errors.New("sts: malformed session token claims")

const (
	flagChained = 1 << iota
	flagMFA
)

func (c *tokenClaims) appendBinary(b []byte) ([]byte, error) {
	var flags byte
	if c.Chained {
		flags |= flagChained
	}
	if c.MFA {
		flags |= flagMFA
	}
	b = append(b, flags)
	for _, s := range []string{c.AccessKeyID, c.Account, c.RoleARN, c.RoleID, c.SessionName, c.SourceIdentity, c.Policy, c.Provider} {
		b = appendStr(b, s)
	}
	b = binary.AppendVarint(b, c.IssuedAt)
	b = binary.AppendVarint(b, c.Expiry)
	b = appendList(b, c.PolicyARNs)
	b = binary.AppendUvarint(b, uint64(len(c.Tags)))
	for _, k := range sortedKeys(c.Tags) {
		b = appendStr(appendStr(b, k), c.Tags[k])
	}
	b = appendList(b, c.TransitiveTagKeys)
	b = binary.AppendUvarint(b, uint64(len(c.Federated)))
	for _, k := range sortedKeys(c.Federated) {
		b = appendList(appendStr(b, k), c.Federated[k])
	}
	n := len(c.ParentAccessKeyIDs)
	if n > maxChainDepth || len(c.ParentRoleARNs) != n || len(c.ParentIssuedAt) != n {
		return nil, errClaims
	}
	b = appendStr(b, c.SessionID)
	b = binary.AppendUvarint(b, uint64(n))
	for i := range n {
		b = appendStr(appendStr(b, c.ParentAccessKeyIDs[i]), c.ParentRoleARNs[i])
		b = binary.AppendVarint(b, c.ParentIssuedAt[i])
	}
	if !c.MFA && c.MFAAuthTime != 0 {
		return nil, errClaims
	}
	return binary.AppendVarint(b, c.MFAAuthTime), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendStr(b, s)
	}
	return b
}

// claimReader decodes the binary claims; the first error sticks.
type claimReader struct {
	b   []byte
	err error
}

func (r *claimReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errClaims
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *claimReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errClaims
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *claimReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errClaims
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// count reads a list or map length; every element takes at least one byte.
func (r *claimReader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errClaims
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

func (r *claimReader) list() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	l := make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		l = append(l, r.str())
	}
	return l
}

// decodeBinary decodes the claims of a version 2, 3 or 4 token.
func (c *tokenClaims) decodeBinary(b []byte, version byte) error {
	if len(b) == 0 || b[0]&^(flagChained|flagMFA) != 0 {
		return errClaims
	}
	c.Chained, c.MFA = b[0]&flagChained != 0, b[0]&flagMFA != 0
	r := &claimReader{b: b[1:]}
	for _, p := range []*string{&c.AccessKeyID, &c.Account, &c.RoleARN, &c.RoleID, &c.SessionName, &c.SourceIdentity, &c.Policy, &c.Provider} {
		*p = r.str()
	}
	c.IssuedAt = r.varint()
	c.Expiry = r.varint()
	c.PolicyARNs = r.list()
	if n := r.count(); n > 0 {
		c.Tags = make(map[string]string, n)
		for i := 0; i < n && r.err == nil; i++ {
			k, v := r.str(), r.str()
			if _, dup := c.Tags[k]; dup {
				return errClaims
			}
			c.Tags[k] = v
		}
	}
	c.TransitiveTagKeys = r.list()
	if n := r.count(); n > 0 {
		c.Federated = make(map[string][]string, n)
		for i := 0; i < n && r.err == nil; i++ {
			k := r.str()
			v := r.list()
			if _, dup := c.Federated[k]; dup {
				return errClaims
			}
			c.Federated[k] = v
		}
	}
	if version >= tokenVersion3 {
		c.SessionID = r.str()
		if n := r.count(); n > 0 {
			if n > maxChainDepth {
				return errClaims
			}
			c.ParentAccessKeyIDs, c.ParentRoleARNs, c.ParentIssuedAt = make([]string, n), make([]string, n), make([]int64, n)
			for i := 0; i < n && r.err == nil; i++ {
				c.ParentAccessKeyIDs[i], c.ParentRoleARNs[i] = r.str(), r.str()
				c.ParentIssuedAt[i] = r.varint()
			}
		}
	}
	if version >= tokenVersion4 {
		if c.MFAAuthTime = r.varint(); c.MFAAuthTime != 0 && !c.MFA {
			return errClaims
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return errClaims
	}
	return nil
}
