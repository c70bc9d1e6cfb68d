package policy

import (
	"slices"
	"strings"
	"testing"
)

// TestContextSetCopies: the values Set keeps share one backing array, yet
// each key's values are its own: changing the caller's slice, adding to one
// key or setting it again leaves the others as they were.
func TestContextSetCopies(t *testing.T) {
	c := NewContext()
	in := []string{"a1", "a2"}
	c.Set("A", in...)
	c.Set("b", "b1")
	in[0] = "changed"
	c.Add("a", "a3")
	c.Set("c")
	c.Add("b", "b2")
	c.Set("a", "a4")
	for i := range 40 { // past the first backing array
		c.Set("k"+strings.Repeat("x", i), "v")
	}
	for key, want := range map[string][]string{"a": {"a4"}, "b": {"b1", "b2"}, "c": nil, "kxxx": {"v"}} {
		got, ok := c.Get(key)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("Get(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
}

// TestLowerKey: the known keys' lower case is strings.ToLower's, and any
// other key is lower-cased too.
func TestLowerKey(t *testing.T) {
	for k, lk := range knownKeys {
		if lk != strings.ToLower(k) || lowerKey(k) != lk {
			t.Errorf("lowerKey(%q) = %q, %q; want %q", k, lk, lowerKey(k), strings.ToLower(k))
		}
	}
	for _, k := range []string{"aws:CURRENTTIME", "Saml:Aud", "aws:PrincipalTag/Team", "token.actions.githubusercontent.com:sub", "ÄWS:X"} {
		if got := lowerKey(k); got != strings.ToLower(k) {
			t.Errorf("lowerKey(%q) = %q", k, got)
		}
	}
}

// TestContextSetAllocs: the STS's dozen keys of a session request cost the
// map and one backing array, not an allocation per key.
func TestContextSetAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		c := NewContext()
		for _, k := range []string{"aws:CurrentTime", "aws:EpochTime", "aws:FederatedProvider", "aws:RequestedRegion",
			"aws:SecureTransport", "aws:SourceIp", "sts:RoleSessionName", "idp.example.com:aud", "idp.example.com:sub"} {
			c.Set(k, "v")
		}
		c.Set("idp.example.com:amr", "pwd", "mfa")
	})
	if allocs > 5 {
		t.Errorf("%v allocations for 10 keys, want at most 5 (the context, the map, its table, one values array)", allocs)
	}
}
