package ldapauth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// Lookup finds the same entry and groups as a successful Authenticate, for
// flat, nested (with a cycle), depth-limited, memberOf and special-character
// users, against the seeded slapd.
func TestLookupMatchesAuthenticate(t *testing.T) {
	ldaptest.Get(t, srv)
	tests := []struct {
		name       string
		user       ldaptest.User
		mod        func(*Config)
		wantGroups []string
		wantWarn   bool
	}{
		{name: "member + memberUid", user: ldaptest.Alice, wantGroups: sorted("developers", "posixdev")},
		{name: "uniqueMember", user: ldaptest.Carol, wantGroups: []string{"auditors"}},
		{name: "nested with cycle", user: ldaptest.Bob, wantGroups: sorted("team-a", "dept-x", "org-all")},
		{name: "nested depth 1", user: ldaptest.Bob, mod: func(c *Config) { c.GroupSearch.MaxDepth = 1 },
			wantGroups: sorted("team-a", "dept-x"), wantWarn: true},
		{name: "memberOf only", user: ldaptest.Alice,
			mod: func(c *Config) { c.GroupSearch = GroupSearch{MemberOfAttribute: "memberOf"} }, wantGroups: []string{"developers"}},
		{name: "special characters", user: ldaptest.Special, wantGroups: sorted("developers", `spécial *(\,) grüppe`)},
		{name: "non-ASCII user", user: ldaptest.Jurgen, wantGroups: []string{`spécial *(\,) grüppe`}},
		{name: "case sensitive", user: ldaptest.Special, mod: func(c *Config) { c.CaseSensitive = true },
			wantGroups: sorted("developers", ldaptest.GroupSpecial)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			c, logs := newClient(t, cfg)
			ctx := context.Background()
			got, err := c.Lookup(ctx, tc.user.UID)
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tc.user.UID, err)
			}
			if g := groupNames(got.Groups); !slices.Equal(g, tc.wantGroups) {
				t.Errorf("groups = %q, want %q", g, tc.wantGroups)
			}
			if (len(got.Warnings) > 0) != tc.wantWarn {
				t.Errorf("warnings = %q, want some: %v", got.Warnings, tc.wantWarn)
			}
			if want := mustNorm(t, tc.user.DN(), !cfg.CaseSensitive); got.DN != want {
				t.Errorf("DN = %q, want %q", got.DN, want)
			}
			if got.Username != tc.user.UID || got.Email != tc.user.Mail || got.Name != tc.user.CN || len(got.ID) != 36 {
				t.Errorf("identity = %q %q %q %q", got.Username, got.Email, got.Name, got.ID)
			}
			if len(got.Attributes["uidNumber"]) != 1 {
				t.Errorf("attributes = %v", got.Attributes)
			}
			// Exactly what a login returns.
			auth, err := c.Authenticate(ctx, tc.user.UID, tc.user.Password)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.DN != auth.DN || got.RawDN != auth.RawDN || got.ID != auth.ID || got.Username != auth.Username ||
				!slices.Equal(got.Groups, auth.Groups) || !slices.Equal(got.Warnings, auth.Warnings) ||
				len(got.Attributes) != len(auth.Attributes) {
				t.Errorf("Lookup = %+v\nAuthenticate = %+v", got, auth)
			}
			for k, v := range auth.Attributes {
				if !slices.Equal(got.Attributes[k], v) {
					t.Errorf("attribute %s: lookup %q, login %q", k, got.Attributes[k], v)
				}
			}
			if strings.Contains(logs.String(), "CANARY") {
				t.Error("a password in the logs")
			}
		})
	}
}

// The directory matches uid case-insensitively; the identity is the one
// the server stores.
func TestLookupCanonicalName(t *testing.T) {
	c, _ := newClient(t, baseConfig(t))
	a, err := c.Lookup(context.Background(), "ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if a.Username != ldaptest.Alice.UID {
		t.Errorf("username = %q, want %q", a.Username, ldaptest.Alice.UID)
	}
}

// Filter metacharacters are escaped exactly once, so injection attempts
// find nobody; impossible names are refused before any request; an unknown
// user says so; a filter matching two entries is a configuration error.
func TestLookupRefused(t *testing.T) {
	c, logs := newClient(t, baseConfig(t))
	tests := []struct {
		name, user string
		want       error
		wantText   string
	}{
		{"wildcard", "*", ErrInvalidCredentials, "no such user"},
		{"a wildcard", "a*", ErrInvalidCredentials, "no such user"},
		{"close paren", ")(uid=*", ErrInvalidCredentials, "no such user"},
		{"or injection", "admin)(|(uid=*", ErrInvalidCredentials, "no such user"},
		{"and injection", "admin)(&)", ErrInvalidCredentials, "no such user"},
		{"long injection", "*)(uid=*))(|(uid=*", ErrInvalidCredentials, "no such user"},
		{"escaped star", `\2a`, ErrInvalidCredentials, "no such user"},
		{"escaped special uid", `o\2a\28x\29\5cy,z`, ErrInvalidCredentials, "no such user"},
		{"special prefix", `o*`, ErrInvalidCredentials, "no such user"},
		{"backslash", `\`, ErrInvalidCredentials, "no such user"},
		{"unknown user", "nobody", ErrInvalidCredentials, "no such user"},
		{"NUL", "alice\x00", ErrInvalidCredentials, "username refused"},
		{"CRLF", "alice\r\nx", ErrInvalidCredentials, "username refused"},
		{"invalid UTF-8", "alice\xff", ErrInvalidCredentials, "username refused"},
		{"300 bytes", strings.Repeat("a", 300), ErrInvalidCredentials, "username refused"},
		{"empty", "", ErrInvalidCredentials, "username refused"},
		{"two entries", ldaptest.Twin.UID, ErrConfiguration, "matched"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Lookup(context.Background(), tc.user)
			if res != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Lookup(%q) = %+v, %v; want nil, %v", tc.user, res, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
		})
	}
	// The special user (uid with * ( ) \ ,) is found by its exact name only.
	if res, err := c.Lookup(context.Background(), ldaptest.Special.UID); err != nil || res.Username != ldaptest.Special.UID {
		t.Errorf("exact special uid: %+v, %v", res, err)
	}
	if strings.Contains(logs.String(), "CANARY") {
		t.Errorf("secret in logs: %s", logs.String())
	}
}

// On the wire a look-up is the service bind, the user search and the group
// search: no second bind (nobody binds as the user), and an impossible
// username sends nothing.
func TestLookupOnTheWire(t *testing.T) {
	tests := []struct {
		name, user string
		found      bool
		wantOps    []ber.Tag
		wantErr    error
	}{
		{"found", "alice", true, []ber.Tag{opBindRequest, opSearchRequest, opSearchRequest}, nil},
		{"unknown", "nobody", false, []ber.Tag{opBindRequest, opSearchRequest}, ErrInvalidCredentials},
		{"NUL username", "al\x00ice", true, nil, ErrInvalidCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var bindDNs []string
			f := &fakeServer{handle: func(id int64, op ber.Tag, req *ber.Packet) []*ber.Packet {
				switch op {
				case opBindRequest:
					if len(req.Children) > 1 {
						mu.Lock()
						bindDNs = append(bindDNs, string(req.Children[1].ByteValue))
						mu.Unlock()
					}
					return []*ber.Packet{envelope(id, ldapResult(opBindResponse, 0, ""))}
				case opSearchRequest:
					base := ""
					if len(req.Children) > 0 {
						base = string(req.Children[0].ByteValue)
					}
					var out []*ber.Packet
					if tc.found && base == "dc=example,dc=org" {
						e := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 4, nil, "entry")
						e.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=alice,dc=example,dc=org", "dn"))
						e.AppendChild(ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attrs"))
						out = append(out, envelope(id, e))
					}
					return append(out, envelope(id, ldapResult(opSearchResultDone, 0, "")))
				}
				return nil
			}}
			cfg := faultConfig(startFake(t, f))
			cfg.GroupSearch = GroupSearch{BaseDN: "ou=groups,dc=example,dc=org"}
			c, _ := newClient(t, cfg)
			_, err := c.Lookup(context.Background(), tc.user)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			f.mu.Lock()
			got := append([]ber.Tag(nil), f.ops...)
			f.mu.Unlock()
			if !slices.Equal(got, tc.wantOps) {
				t.Errorf("ops = %v, want %v", got, tc.wantOps)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, dn := range bindDNs {
				if dn != cfg.BindDN {
					t.Errorf("bound as %q; only the service account %q may bind", dn, cfg.BindDN)
				}
			}
		})
	}
}

// A directory that never answers: Lookup gives up after login_timeout (the
// bound Authenticate has), or sooner when the caller's context ends.
func TestLookupTimeouts(t *testing.T) {
	f := &fakeServer{handle: func(int64, ber.Tag, *ber.Packet) []*ber.Packet { return nil }}
	url := startFake(t, f)
	tests := []struct {
		name    string
		login   time.Duration
		ctxWait time.Duration // 0: no caller deadline
	}{
		{"login_timeout", 300 * time.Millisecond, 0},
		{"caller deadline", time.Minute, 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := faultConfig(url)
			cfg.RequestTimeout = time.Minute
			cfg.LoginTimeout = tc.login
			c, _ := newClient(t, cfg)
			ctx := context.Background()
			if tc.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxWait)
				defer cancel()
			}
			start := time.Now()
			_, err := c.Lookup(ctx, "alice")
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v, want about 300ms", d)
			}
		})
	}
}
