package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

func groupNames(gs []Group) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.Name)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string { s = slices.Clone(s); sort.Strings(s); return s }

func mustNorm(t testing.TB, dn string, fold bool) string {
	t.Helper()
	n, err := NormalizeDN(dn, fold)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAuthenticateTransports(t *testing.T) {
	s := ldaptest.Get(t, srv)
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"ldaps", func(c *Config) {}},
		{"starttls", func(c *Config) { c.URLs = []string{s.URL}; c.StartTLS = true }},
		{"plain explicit", func(c *Config) { c.URLs = []string{s.URL}; c.InsecureNoTLS = true }},
		{"ca file", func(c *Config) { c.CAPEM = nil; c.CAFile = s.CAFile }},
		{"failover: dead first", func(c *Config) { c.URLs = []string{"ldaps://127.0.0.1:1", s.LDAPSURL} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tc.mod(&cfg)
			c, _ := newClient(t, cfg)
			res, err := c.Authenticate(context.Background(), ldaptest.Alice.UID, ldaptest.Alice.Password)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if res.Username != "alice" || res.Email != ldaptest.Alice.Mail {
				t.Errorf("got %+v", res)
			}
		})
	}
}

func TestTLSRefusesUntrustedServer(t *testing.T) {
	s := ldaptest.Get(t, srv)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"ldaps no CA", func(c *Config) { c.CAPEM = nil }},
		{"starttls no CA", func(c *Config) { c.CAPEM = nil; c.URLs = []string{s.URL}; c.StartTLS = true }},
		{"ldaps wrong host name", func(c *Config) { c.URLs = []string{strings.Replace(s.LDAPSURL, "127.0.0.1", "127.0.0.2", 1)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tc.mod(&cfg)
			c, _ := newClient(t, cfg)
			_, err := c.Authenticate(context.Background(), ldaptest.Alice.UID, ldaptest.Alice.Password)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestAuthenticateIdentity(t *testing.T) {
	ldaptest.Get(t, srv)
	g := ldaptest.GroupDN
	tests := []struct {
		name       string
		user       ldaptest.User
		mod        func(*Config)
		wantGroups []string // names
		wantDNs    []string // raw DNs, normalised by the test
		wantWarn   bool
	}{
		{name: "member + memberUid", user: ldaptest.Alice,
			wantGroups: sorted("developers", "posixdev"),
			wantDNs:    []string{g("developers"), g("posixdev")}},
		{name: "uniqueMember", user: ldaptest.Carol, wantGroups: []string{"auditors"}},
		{name: "nested with cycle", user: ldaptest.Bob,
			wantGroups: sorted("team-a", "dept-x", "org-all"),
			wantDNs:    []string{g("team-a"), g("dept-x"), g("org-all")}},
		{name: "nested depth 1", user: ldaptest.Bob, mod: func(c *Config) { c.GroupSearch.MaxDepth = 1 },
			wantGroups: sorted("team-a", "dept-x"), wantWarn: true},
		{name: "not nested", user: ldaptest.Bob, mod: func(c *Config) { c.GroupSearch.Nested = false },
			wantGroups: []string{"team-a"}},
		{name: "special characters", user: ldaptest.Special,
			wantGroups: sorted("developers", `spécial *(\,) grüppe`),
			wantDNs:    []string{g("developers"), g(ldaptest.GroupSpecial)}},
		{name: "special case sensitive", user: ldaptest.Special, mod: func(c *Config) { c.CaseSensitive = true },
			wantGroups: sorted("developers", ldaptest.GroupSpecial)},
		{name: "non-ASCII user", user: ldaptest.Jurgen, wantGroups: []string{`spécial *(\,) grüppe`}},
		{name: "memberOf only", user: ldaptest.Alice,
			mod:        func(c *Config) { c.GroupSearch = GroupSearch{MemberOfAttribute: "memberOf"} },
			wantGroups: []string{"developers"}},
		{name: "memberOf plus search", user: ldaptest.Special,
			mod:        func(c *Config) { c.GroupSearch.MemberOfAttribute = "memberOf" },
			wantGroups: sorted("developers", `spécial *(\,) grüppe`)},
		{name: "no group lookup", user: ldaptest.Alice,
			mod: func(c *Config) { c.GroupSearch = GroupSearch{} }, wantGroups: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			if tc.mod != nil {
				tc.mod(&cfg)
			}
			c, logs := newClient(t, cfg)
			res, err := c.Authenticate(context.Background(), tc.user.UID, tc.user.Password)
			if err != nil {
				t.Fatalf("Authenticate(%q): %v", tc.user.UID, err)
			}
			if got := groupNames(res.Groups); !slices.Equal(got, tc.wantGroups) {
				t.Errorf("groups = %q, want %q", got, tc.wantGroups)
			}
			for _, dn := range tc.wantDNs {
				want := mustNorm(t, dn, !cfg.CaseSensitive)
				if !slices.ContainsFunc(res.Groups, func(g Group) bool { return g.DN == want }) {
					t.Errorf("group DN %q missing from %+v", want, res.Groups)
				}
			}
			if (len(res.Warnings) > 0) != tc.wantWarn {
				t.Errorf("warnings = %q, want some: %v", res.Warnings, tc.wantWarn)
			}
			if res.Username != tc.user.UID || res.Email != tc.user.Mail || res.Name != tc.user.CN {
				t.Errorf("identity = %q %q %q", res.Username, res.Email, res.Name)
			}
			if res.ID == "" || len(res.ID) != 36 {
				t.Errorf("ID (entryUUID) = %q", res.ID)
			}
			if want := mustNorm(t, tc.user.DN(), !cfg.CaseSensitive); res.DN != want {
				t.Errorf("DN = %q, want %q", res.DN, want)
			}
			if len(res.Attributes["uidNumber"]) != 1 {
				t.Errorf("attributes = %v", res.Attributes)
			}
			if strings.Contains(logs.String(), tc.user.Password) || strings.Contains(logs.String(), ldaptest.BindPassword) {
				t.Error("password in logs")
			}
		})
	}
}

func TestStableID(t *testing.T) {
	c, _ := newClient(t, baseConfig(t))
	a, err := c.Authenticate(context.Background(), "alice", ldaptest.Alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	// The server matches uid case-insensitively; the identity is the server's.
	b, err := c.Authenticate(context.Background(), "ALICE", ldaptest.Alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.DN != b.DN || b.Username != "alice" {
		t.Errorf("ALICE gave %q %q %q, alice gave %q %q", b.ID, b.DN, b.Username, a.ID, a.DN)
	}
}

func TestPagingManyGroups(t *testing.T) {
	cfg := baseConfig(t)
	cfg.GroupSearch.Nested = false
	c, _ := newClient(t, cfg)
	res, err := c.Authenticate(context.Background(), ldaptest.Dave.UID, ldaptest.Dave.Password)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Groups) != ldaptest.ManyGroupCount {
		t.Fatalf("got %d groups, want %d", len(res.Groups), ldaptest.ManyGroupCount)
	}
	for i := 0; i < ldaptest.ManyGroupCount; i++ {
		if want := fmt.Sprintf("many-%04d", i); res.Groups[i].Name != want {
			t.Fatalf("group %d = %q, want %q", i, res.Groups[i].Name, want)
		}
	}
	// Proof that paging is what made this work: the same search unpaged hits
	// slapd's size limit of 500.
	s := ldaptest.Get(t, srv)
	l, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
		t.Fatal(err)
	}
	_, err = l.Search(ldap.NewSearchRequest(ldaptest.GroupsDN, ldap.ScopeWholeSubtree, 0, 0, 0, false,
		"(member="+ldap.EscapeFilter(ldaptest.Dave.DN())+")", []string{"cn"}, nil))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Errorf("unpaged search: %v, want size limit exceeded", err)
	}

	// A cap below the count fails closed rather than returning a subset.
	cfg.GroupSearch.MaxGroups = 1000
	c2, _ := newClient(t, cfg)
	if _, err := c2.Authenticate(context.Background(), ldaptest.Dave.UID, ldaptest.Dave.Password); !errors.Is(err, ErrConfiguration) {
		t.Errorf("over the cap: %v, want ErrConfiguration", err)
	}
}

func TestRefusedInput(t *testing.T) {
	c, logs := newClient(t, baseConfig(t))
	alice := ldaptest.Alice
	tests := []struct {
		name, user, pass string
		want             error
	}{
		{"wildcard", "*", alice.Password, ErrInvalidCredentials},
		{"a wildcard", "a*", alice.Password, ErrInvalidCredentials},
		{"close paren", ")(uid=*", alice.Password, ErrInvalidCredentials},
		{"or injection", "admin)(|(uid=*", ldaptest.Admin.Password, ErrInvalidCredentials},
		{"and injection", "admin)(&)", ldaptest.Admin.Password, ErrInvalidCredentials},
		{"long injection", "*)(uid=*))(|(uid=*", alice.Password, ErrInvalidCredentials},
		{"backslash", `\`, alice.Password, ErrInvalidCredentials},
		{"escaped star", `\2a`, alice.Password, ErrInvalidCredentials},
		{"open paren", "(", alice.Password, ErrInvalidCredentials},
		{"NUL", "alice\x00", alice.Password, ErrInvalidCredentials},
		{"NUL inside", "ali\x00ce", alice.Password, ErrInvalidCredentials},
		{"300 bytes", strings.Repeat("a", 300), alice.Password, ErrInvalidCredentials},
		{"invalid UTF-8", "alice\xff", alice.Password, ErrInvalidCredentials},
		{"CRLF", "alice\r\nx", alice.Password, ErrInvalidCredentials},
		{"empty username", "", alice.Password, ErrInvalidCredentials},
		{"empty password", "alice", "", ErrInvalidCredentials},
		{"wrong password", "alice", "wrong-CANARY-x", ErrInvalidCredentials},
		{"wildcard password", "alice", "*", ErrInvalidCredentials},
		{"other user's password", "alice", ldaptest.Bob.Password, ErrInvalidCredentials},
		{"unknown user", "nobody", "whatever-CANARY-y", ErrInvalidCredentials},
		{"two entries", "twin", ldaptest.Twin.Password, ErrConfiguration},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Authenticate(context.Background(), tc.user, tc.pass)
			if res != nil || !errors.Is(err, tc.want) {
				t.Fatalf("Authenticate(%q) = %v, %v; want nil, %v", tc.user, res, err, tc.want)
			}
		})
	}
	if strings.Contains(logs.String(), "CANARY") {
		t.Errorf("secret in logs: %s", logs.String())
	}
}

// The special user's uid contains * ( ) \ , — it must log in by its exact
// name, and no near-miss may match.
func TestEscapingOnce(t *testing.T) {
	c, _ := newClient(t, baseConfig(t))
	sp := ldaptest.Special
	if _, err := c.Authenticate(context.Background(), sp.UID, sp.Password); err != nil {
		t.Fatalf("exact special uid: %v", err)
	}
	for _, u := range []string{`o*`, `o*(x)`, ldap.EscapeFilter(sp.UID), `o\2a(x)\5cy,z`} {
		if _, err := c.Authenticate(context.Background(), u, sp.Password); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%q: %v, want ErrInvalidCredentials", u, err)
		}
	}
	got := RenderFilter("(uid={username})", `*)(uid=*))(|(uid=*`, "")
	if want := `(uid=\2a\29\28uid=\2a\29\29\28|\28uid=\2a)`; got != want {
		t.Errorf("rendered %q, want %q", got, want)
	}
}

func TestUnknownUserTiming(t *testing.T) {
	c, _ := newClient(t, baseConfig(t))
	ctx := context.Background()
	measure := func(user string) time.Duration {
		var ds []time.Duration
		for i := 0; i < 40; i++ {
			start := time.Now()
			_, err := c.Authenticate(ctx, user, "wrong-password")
			ds = append(ds, time.Since(start))
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("%s: %v", user, err)
			}
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	_ = measure("alice") // warm the pool
	wrong, unknown := measure("alice"), measure("nobody-here")
	t.Logf("median wrong password %v, unknown user %v", wrong, unknown)
	if unknown < wrong/3 || unknown > wrong*3 {
		t.Errorf("timing differs: wrong password %v, unknown user %v", wrong, unknown)
	}
}

func TestServiceBindRefused(t *testing.T) {
	cfg := baseConfig(t)
	cfg.BindPassword = "not-the-password"
	c, logs := newClient(t, cfg)
	_, err := c.Authenticate(context.Background(), "alice", ldaptest.Alice.Password)
	if !errors.Is(err, ErrConfiguration) {
		t.Fatalf("err = %v, want ErrConfiguration", err)
	}
	if strings.Contains(err.Error(), "not-the-password") || strings.Contains(logs.String(), "not-the-password") {
		t.Error("bind password leaked")
	}
}

// With one pooled connection, a user bind leaves the connection bound as
// that user; the next login must re-bind it as the service account, or its
// searches (under the ACL: users read only themselves) would fail.
func TestUserBoundConnectionNotUsedForSearch(t *testing.T) {
	cfg := baseConfig(t)
	cfg.MaxConns = 1
	c, _ := newClient(t, cfg)
	ctx := context.Background()
	for _, u := range []ldaptest.User{ldaptest.Alice, ldaptest.Bob, ldaptest.Alice, ldaptest.Carol} {
		res, err := c.Authenticate(ctx, u.UID, u.Password)
		if err != nil {
			t.Fatalf("%s: %v", u.UID, err)
		}
		if len(res.Groups) == 0 {
			t.Fatalf("%s: no groups: searched as the previous user?", u.UID)
		}
	}
	// A failed bind too.
	if _, err := c.Authenticate(ctx, "alice", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, "bob", ldaptest.Bob.Password); err != nil {
		t.Fatal(err)
	}
}

// After logins (good, wrong and unknown users, concurrent so that several
// connections are pooled), every pooled connection is bound as the service
// account (anonymous for anonymous searches): a user bind never leaves a
// connection in the pool bound as that user. Checked with WhoAmI (RFC 4532).
func TestPooledConnectionsNeverBoundAsUser(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // AuthzID of every pooled connection
	}{
		{"service account", func(*Config) {}, "dn:" + ldaptest.BindDN},
		// Under the seeded ACL anonymous searches find nobody: every login
		// is an unknown user and costs a dummy bind.
		{"anonymous search", func(c *Config) { c.BindDN, c.BindPassword, c.AnonymousSearch = "", "", true }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.MaxConns = 4
			tc.mod(&cfg)
			c, _ := newClient(t, cfg)
			logins := []struct{ user, pass string }{
				{ldaptest.Alice.UID, ldaptest.Alice.Password}, {ldaptest.Bob.UID, ldaptest.Bob.Password},
				{ldaptest.Carol.UID, "wrong-CANARY"}, {"nobody-here", "wrong-CANARY"},
			}
			for round := 0; round < 3; round++ {
				var wg sync.WaitGroup
				for _, l := range logins {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, _ = c.Authenticate(context.Background(), l.user, l.pass)
					}()
				}
				wg.Wait()
			}
			c.pool.mu.Lock()
			idle := slices.Clone(c.pool.idle)
			c.pool.mu.Unlock()
			if len(idle) == 0 {
				t.Fatal("no pooled connection")
			}
			for i, cn := range idle {
				var who string
				err := cn.do(context.Background(), 5*time.Second, func(l *ldap.Conn) error {
					res, err := l.WhoAmI(nil)
					if res != nil {
						who = res.AuthzID
					}
					return err
				})
				if err != nil || who != tc.want {
					t.Errorf("pooled connection %d of %d is bound as %q (%v), want %q", i+1, len(idle), who, err, tc.want)
				}
			}
		})
	}
}

func TestConcurrentLoginsBoundedPool(t *testing.T) {
	cfg := baseConfig(t)
	cfg.MaxConns = 3
	c, _ := newClient(t, cfg)
	users := []ldaptest.User{ldaptest.Alice, ldaptest.Bob, ldaptest.Carol, ldaptest.Admin, ldaptest.Jurgen}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := users[i%len(users)]
			pw := u.Password
			if i%7 == 0 {
				pw = "wrong"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := c.Authenticate(ctx, u.UID, pw)
			switch {
			case i%7 == 0 && !errors.Is(err, ErrInvalidCredentials):
				errs <- fmt.Errorf("%s wrong pw: %v", u.UID, err)
			case i%7 != 0 && err != nil:
				errs <- fmt.Errorf("%s: %v", u.UID, err)
			case i%7 != 0 && res.Username != u.UID:
				errs <- fmt.Errorf("%s: got %s", u.UID, res.Username)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c.pool.mu.Lock()
	n := len(c.pool.idle)
	c.pool.mu.Unlock()
	if n > cfg.MaxConns {
		t.Errorf("%d idle connections, max %d", n, cfg.MaxConns)
	}
}

func TestCheck(t *testing.T) {
	s := ldaptest.Get(t, srv)
	tests := []struct {
		name     string
		mod      func(*Config)
		wantFail string // Name of the first failing check, "" = all pass
	}{
		{"good", func(c *Config) {}, ""},
		{"dead url", func(c *Config) { c.URLs = []string{"ldaps://127.0.0.1:1"} }, "connect ldaps://127.0.0.1:1"},
		{"one dead of two", func(c *Config) { c.URLs = []string{s.LDAPSURL, "ldaps://127.0.0.1:1"} }, "connect ldaps://127.0.0.1:1"},
		{"bad bind", func(c *Config) { c.BindPassword = "nope" }, "service bind"},
		{"bad user base", func(c *Config) { c.UserSearch.BaseDN = "ou=nowhere," + ldaptest.BaseDN }, "user search base"},
		// The server accepts a filter naming an unknown attribute (it
		// matches nothing): the schema check catches the typo.
		{"bad attribute", func(c *Config) { c.UserSearch.Filter = "(noSuchAttr={username})" }, "user search filter"},
		{"bad attribute in an AND", func(c *Config) { c.UserSearch.Filter = "(&(objectClass=inetOrgPerson)(uidd={username}))" }, "user search filter"},
		{"bad group base", func(c *Config) { c.GroupSearch.BaseDN = "ou=nogroups," + ldaptest.BaseDN }, "group search base"},
		{"good group filter", func(c *Config) { c.GroupSearch.Filter = "(&(objectClass=groupOfNames)(member={dn}))" }, ""},
		{"bad group attribute", func(c *Config) { c.GroupSearch.Filter = "(|(memberr={dn})(uniqueMember={dn}))" }, "group search filter"},
		{"bad nested attribute", func(c *Config) { c.GroupSearch.NestedFilter = "(mmber={dn})" }, "nested group filter"},
		{"nested filter unused without nesting", func(c *Config) { c.GroupSearch.Nested, c.GroupSearch.NestedFilter = false, "(mmber={dn})" }, ""},
		{"bad member_of attribute", func(c *Config) { c.GroupSearch.MemberOfAttribute = "memberOff" }, "member_of attribute"},
		{"good member_of attribute", func(c *Config) { c.GroupSearch.MemberOfAttribute = "memberOf" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tc.mod(&cfg)
			c, _ := newClient(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			results := c.Check(ctx)
			if len(results) == 0 {
				t.Fatal("no results")
			}
			failed := ""
			for _, r := range results {
				if r.OK && strings.Contains(r.Detail, "not verified") {
					t.Errorf("the schema was not read: %+v", r)
				}
				if !r.OK {
					if r.Suggestion == "" || r.Detail == "" || r.Err == nil {
						t.Errorf("failing check without detail/suggestion/err: %+v", r)
					}
					if failed == "" {
						failed = r.Name
					}
				}
			}
			if failed != tc.wantFail {
				t.Errorf("first failure %q, want %q; results %+v", failed, tc.wantFail, results)
			}
		})
	}
}

func TestServerRestartAndDown(t *testing.T) {
	// A private server: this test stops it.
	s := ldaptest.Start(t)
	cfg := baseConfig(t)
	cfg.URLs = []string{s.LDAPSURL}
	cfg.CAPEM = s.CAPEM
	cfg.DialTimeout = time.Second
	cfg.RequestTimeout = time.Second
	c, _ := newClient(t, cfg)
	ctx := context.Background()
	if _, err := c.Authenticate(ctx, "alice", ldaptest.Alice.Password); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	start := time.Now()
	if _, err := c.Authenticate(ctx, "alice", ldaptest.Alice.Password); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("server down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	// Pooled connections died; the client must recover on its own.
	if _, err := c.Authenticate(ctx, "alice", ldaptest.Alice.Password); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

// Every reuse probes (idle > 1ns) or replaces (older than lifetime) pooled
// connections; logins keep working.
func TestHealthCheckAndLifetime(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"probe every reuse", func(c *Config) { c.HealthCheckIdle = time.Nanosecond }},
		{"replace every reuse", func(c *Config) { c.MaxConnLifetime = time.Nanosecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tc.mod(&cfg)
			c, _ := newClient(t, cfg)
			for i := 0; i < 3; i++ {
				if _, err := c.Authenticate(context.Background(), "carol", ldaptest.Carol.Password); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
