package oidc_test

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

const canarySecret = "CANARY-client-secret-1"

// accessTokenPattern matches an access token of oidctest ("at-" and 32
// base64url characters); a bare "at-" could occur inside a random kid.
var accessTokenPattern = regexp.MustCompile(`at-[A-Za-z0-9_-]{32}`)

type flowEnv struct {
	idp  *oidctest.Server
	p    *oidc.Provider
	logs *logBuf
	now  time.Time
}

func newFlow(t *testing.T, edit func(*oidc.Config), opts ...oidctest.Option) *flowEnv {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	opts = append([]oidctest.Option{
		oidctest.WithNow(func() time.Time { return now }),
		oidctest.WithClient("broker", canarySecret),
	}, opts...)
	idp := oidctest.New(t, opts...)
	logger, logs := newLogger()
	cfg := oidc.Config{
		Name:         "corp",
		Issuer:       idp.Issuer(),
		ClientID:     "broker",
		ClientSecret: canarySecret,
		RedirectURL:  "https://broker.example.com/oidc/corp/callback",
		GroupsClaim:  "groups",
		HTTPClient:   idp.Client(),
		Logger:       logger,
		Now:          func() time.Time { return now },
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := oidc.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &flowEnv{idp: idp, p: p, logs: logs, now: now}
}

// login runs the browser leg: authorization URL, the IdP's approval, and
// returns the callback parameters plus the verifier and nonce used.
type callback struct {
	code, state, iss, verifier, nonce string
}

func (f *flowEnv) authorize(t *testing.T) callback {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	nonce := "nonce-" + oauth2.GenerateVerifier()[:16]
	state := "state-" + oauth2.GenerateVerifier()[:16]
	u, err := f.p.AuthURL(context.Background(), state, nonce, verifier)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	q := mustQuery(t, u)
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(verifier) ||
		q.Get("nonce") != nonce || q.Get("state") != state || q.Get("response_type") != "code" ||
		q.Get("scope") != "openid email profile" || q.Get("code_verifier") != "" {
		t.Fatalf("bad authorization URL query: %v", q)
	}
	cb, err := f.idp.Authorize(u)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	cq := cb.Query()
	if cq.Get("state") != state {
		t.Fatalf("state not echoed")
	}
	return callback{code: cq.Get("code"), state: state, iss: cq.Get("iss"), verifier: verifier, nonce: nonce}
}

func (f *flowEnv) assertNoSecrets(t *testing.T, cb callback, err error) {
	t.Helper()
	texts := []string{f.logs.String()}
	if err != nil {
		texts = append(texts, err.Error())
	}
	for _, s := range texts {
		for _, secret := range []string{canarySecret, cb.code, cb.verifier} {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("secret leaked: %.200s", s)
			}
		}
		if jwtPattern.MatchString(s) || accessTokenPattern.MatchString(s) {
			t.Errorf("token leaked: %.200s", s)
		}
	}
}

func TestCodeFlowHappy(t *testing.T) {
	f := newFlow(t, nil)
	authTime := f.now.Add(-time.Minute)
	user := map[string]any{
		"sub": "u-123", "email": "alice@example.com", "email_verified": true, "name": "Alice Example",
		"preferred_username": "alice", "groups": []any{"dev", "ops", 7, "dev"}, "amr": []any{"pwd", "otp"},
		"auth_time": authTime.Unix(), "department": "eng", "azp": "broker",
	}
	f.idp.SetUser(user)
	cb := f.authorize(t)
	id, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	want := providers.Identity{
		Provider: "corp", Subject: f.idp.Issuer() + "#u-123", Username: "alice",
		Email: "alice@example.com", EmailVerified: true, DisplayName: "Alice Example",
		Groups: []string{"dev", "ops"}, MFA: true, AuthTime: authTime.UTC(),
	}
	if id.Provider != want.Provider || id.Subject != want.Subject || id.Username != want.Username ||
		id.Email != want.Email || id.EmailVerified != want.EmailVerified || id.DisplayName != want.DisplayName ||
		!slices.Equal(id.Groups, want.Groups) || id.MFA != want.MFA || !id.AuthTime.Equal(want.AuthTime) ||
		!id.Expiry.Equal(want.Expiry) {
		t.Errorf("identity = %+v\nwant %+v", id, want)
	}
	if got := id.Attributes["department"]; !slices.Equal(got, []string{"eng"}) {
		t.Errorf("department attribute = %v", got)
	}
	if _, ok := id.Attributes["nonce"]; ok {
		t.Error("nonce kept as attribute")
	}
	if _, ok := id.Attributes["groups"]; ok {
		t.Error("mixed-type list kept as attribute")
	}
	if f.idp.Hits(oidctest.Token) != 1 {
		t.Errorf("token hits = %d", f.idp.Hits(oidctest.Token))
	}
	// The code is single-use upstream: a replay fails.
	if _, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss); !errors.Is(err, providers.ErrInvalidCredentials) {
		t.Errorf("code replay: %v", err)
	}
	f.assertNoSecrets(t, cb, nil)
}

func TestCodeFlowRejects(t *testing.T) {
	cases := []struct {
		name       string
		opts       []oidctest.Option
		mutate     func(map[string]any)
		exchange   func(f *flowEnv, cb callback) (providers.Identity, error)
		want       error // providers sentinel
		class      error // oidc sentinel, if any
		tokenCalls int
	}{
		{name: "wrong PKCE verifier", exchange: func(f *flowEnv, cb callback) (providers.Identity, error) {
			return f.p.Exchange(context.Background(), cb.code, oauth2.GenerateVerifier(), cb.nonce, cb.iss)
		}, want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 1},
		{name: "missing verifier", exchange: func(f *flowEnv, cb callback) (providers.Identity, error) {
			return f.p.Exchange(context.Background(), cb.code, "", cb.nonce, cb.iss)
		}, want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 0},
		{name: "wrong nonce", exchange: func(f *flowEnv, cb callback) (providers.Identity, error) {
			return f.p.Exchange(context.Background(), cb.code, cb.verifier, "nonce-of-another-session", cb.iss)
		}, want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 1},
		{name: "nonce missing in token", mutate: func(c map[string]any) { delete(c, "nonce") },
			want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 1},
		{name: "at_hash mismatch", mutate: func(c map[string]any) { c["at_hash"] = oidctest.AtHash("RS256", "another-token") },
			want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 1},
		{name: "azp of another client", mutate: func(c map[string]any) { c["azp"] = "other" },
			want: providers.ErrInvalidCredentials, class: awsspec.ErrAudience, tokenCalls: 1},
		{name: "aud of another client", mutate: func(c map[string]any) { c["aud"] = "other" },
			want: providers.ErrInvalidCredentials, class: awsspec.ErrAudience, tokenCalls: 1},
		{name: "expired id token", mutate: func(c map[string]any) { c["exp"] = c["iat"].(int64) - 600; c["iat"] = c["iat"].(int64) - 900 },
			want: providers.ErrInvalidCredentials, class: awsspec.ErrTokenExpired, tokenCalls: 1},
		{name: "id token of another issuer", mutate: func(c map[string]any) { c["iss"] = "https://evil.test" },
			want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 1},
		{name: "iss mix-up on callback", exchange: func(f *flowEnv, cb callback) (providers.Identity, error) {
			return f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, "https://idp-b.example.com")
		}, want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 0},
		{name: "iss missing though advertised", opts: []oidctest.Option{oidctest.WithIssParameter()},
			exchange: func(f *flowEnv, cb callback) (providers.Identity, error) {
				return f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, "")
			}, want: providers.ErrInvalidCredentials, class: awsspec.ErrInvalidToken, tokenCalls: 0},
		{name: "groups overage without endpoint fails closed", mutate: func(c map[string]any) {
			delete(c, "groups")
			c["_claim_names"] = map[string]any{"groups": "src1"}
			c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": "http://169.254.169.254/latest"}}
		}, want: providers.ErrConfiguration, tokenCalls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil, tc.opts...)
			if tc.mutate != nil {
				f.idp.MutateIDToken(tc.mutate)
			}
			cb := f.authorize(t)
			ex := tc.exchange
			if ex == nil {
				ex = func(f *flowEnv, cb callback) (providers.Identity, error) {
					return f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss)
				}
			}
			id, err := ex(f, cb)
			if err == nil {
				t.Fatalf("accepted: %+v", id)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if tc.class != nil && classOf(t, err) != tc.class {
				t.Errorf("class of %v, want %v", err, tc.class)
			}
			if got := f.idp.Hits(oidctest.Token); got != tc.tokenCalls {
				t.Errorf("token endpoint hits = %d, want %d", got, tc.tokenCalls)
			}
			f.assertNoSecrets(t, cb, err)
		})
	}
}

func TestCodeFlowIssParameter(t *testing.T) {
	f := newFlow(t, nil, oidctest.WithIssParameter())
	cb := f.authorize(t)
	if cb.iss != f.idp.Issuer() {
		t.Fatalf("iss parameter = %q", cb.iss)
	}
	if _, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
}

func TestCodeFlowNoAtHash(t *testing.T) {
	f := newFlow(t, nil)
	f.idp.MutateIDToken(func(c map[string]any) { delete(c, "at_hash") })
	cb := f.authorize(t)
	if _, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss); err != nil {
		t.Fatalf("Exchange without at_hash: %v", err)
	}
}

func TestCodeFlowUserinfo(t *testing.T) {
	f := newFlow(t, func(c *oidc.Config) { c.UseUserinfo = true })
	f.idp.SetUser(map[string]any{"sub": "u-9", "email": "bob@example.com", "email_verified": false})
	f.idp.SetUserinfo(map[string]any{
		"sub": "u-9", "groups": []any{"finance", "admins"}, "email_verified": true, "preferred_username": "bob",
	})
	cb := f.authorize(t)
	id, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if !slices.Equal(id.Groups, []string{"finance", "admins"}) || id.Username != "bob" {
		t.Errorf("identity from userinfo: %+v", id)
	}
	if id.EmailVerified {
		t.Error("userinfo email_verified overrode the ID token's false")
	}
	if f.idp.Hits(oidctest.Userinfo) != 1 {
		t.Errorf("userinfo hits = %d", f.idp.Hits(oidctest.Userinfo))
	}

	// A userinfo answer for another subject is refused.
	f.idp.SetUserinfo(map[string]any{"sub": "someone-else", "groups": []any{"admins"}})
	cb = f.authorize(t)
	if _, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss); !errors.Is(err, providers.ErrInvalidCredentials) {
		t.Errorf("userinfo sub mismatch: %v", err)
	}
	f.assertNoSecrets(t, cb, nil)
}

func TestCodeFlowOverage(t *testing.T) {
	sentinel := oidctest.NewSentinel(t)
	var f *flowEnv
	f = newFlow(t, func(c *oidc.Config) { c.OverageEndpoint = "" })
	// Rebuild with the overage endpoint of this IdP.
	logger, logs := newLogger()
	p, err := oidc.New(oidc.Config{
		Name: "entra", Issuer: f.idp.Issuer(), ClientID: "broker", ClientSecret: canarySecret,
		RedirectURL: "https://broker.example.com/cb", GroupsClaim: "groups",
		OverageEndpoint: f.idp.URL(oidctest.Overage), HTTPClient: f.idp.Client(), Logger: logger,
		Now: func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.p, f.logs = p, logs
	f.idp.SetOverageGroups([]string{"g-1", "g-2"})
	f.idp.MutateIDToken(func(c map[string]any) {
		delete(c, "groups")
		c["_claim_names"] = map[string]any{"groups": "src1"}
		c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": sentinel.URL() + "/getMemberObjects"}}
	})
	cb := f.authorize(t)
	id, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if !slices.Equal(id.Groups, []string{"g-1", "g-2"}) {
		t.Errorf("groups = %v", id.Groups)
	}
	if f.idp.Hits(oidctest.Overage) != 1 {
		t.Errorf("overage hits = %d", f.idp.Hits(oidctest.Overage))
	}
	if sentinel.Hits() != 0 {
		t.Errorf("token-supplied claim source contacted %d times", sentinel.Hits())
	}
	f.assertNoSecrets(t, cb, nil)
}

func TestIdentityClaims(t *testing.T) {
	cases := []struct {
		name  string
		cfg   func(*oidc.Config)
		user  map[string]any
		check func(t *testing.T, id providers.Identity)
	}{
		{"nested groups path", func(c *oidc.Config) { c.GroupsClaim = "realm_access.roles" },
			map[string]any{"sub": "s1", "realm_access": map[string]any{"roles": []any{"r1", "r2"}}},
			func(t *testing.T, id providers.Identity) {
				if !slices.Equal(id.Groups, []string{"r1", "r2"}) {
					t.Errorf("groups %v", id.Groups)
				}
			}},
		{"string group", nil, map[string]any{"sub": "s1", "groups": "admins"},
			func(t *testing.T, id providers.Identity) {
				if !slices.Equal(id.Groups, []string{"admins"}) {
					t.Errorf("groups %v", id.Groups)
				}
			}},
		{"case-folded Groups ignored", nil, map[string]any{"sub": "s1", "Groups": []any{"admins"}, "GROUPS": "admins"},
			func(t *testing.T, id providers.Identity) {
				if len(id.Groups) != 0 {
					t.Errorf("groups %v", id.Groups)
				}
			}},
		{"non-string group entries dropped", nil, map[string]any{"sub": "s1", "groups": []any{1, map[string]any{"a": 1}, nil, "dev"}},
			func(t *testing.T, id providers.Identity) {
				if !slices.Equal(id.Groups, []string{"dev"}) {
					t.Errorf("groups %v", id.Groups)
				}
			}},
		{"email_verified as string is unverified", nil,
			map[string]any{"sub": "s1", "email": "ceo@corp.example", "email_verified": "true"},
			func(t *testing.T, id providers.Identity) {
				if id.EmailVerified || id.Username != "s1" || id.Attributes["email"] != nil {
					t.Errorf("identity %+v", id)
				}
			}},
		{"verified email as username", nil,
			map[string]any{"sub": "s1", "email": "a@corp.example", "email_verified": true},
			func(t *testing.T, id providers.Identity) {
				if !id.EmailVerified || id.Username != "a@corp.example" {
					t.Errorf("identity %+v", id)
				}
			}},
		{"skip email verified", func(c *oidc.Config) { c.InsecureSkipEmailVerified = true },
			map[string]any{"sub": "s1", "email": "a@corp.example"},
			func(t *testing.T, id providers.Identity) {
				if !id.EmailVerified {
					t.Errorf("identity %+v", id)
				}
			}},
		{"username claim", func(c *oidc.Config) { c.UsernameClaim = "upn" },
			map[string]any{"sub": "s1", "upn": "alice@corp", "preferred_username": "x", "given_name": "Al", "family_name": "Ice"},
			func(t *testing.T, id providers.Identity) {
				if id.Username != "alice@corp" || id.DisplayName != "Al Ice" || id.MFA {
					t.Errorf("identity %+v", id)
				}
			}},
		{"hasgroups overage fails closed", nil, map[string]any{"sub": "s1", "hasgroups": true}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, tc.cfg)
			f.idp.SetUser(tc.user)
			cb := f.authorize(t)
			id, err := f.p.Exchange(context.Background(), cb.code, cb.verifier, cb.nonce, cb.iss)
			if tc.check == nil {
				if !errors.Is(err, providers.ErrConfiguration) {
					t.Fatalf("want ErrConfiguration, got %v (%+v)", err, id)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if id.Subject != f.idp.Issuer()+"#s1" {
				t.Errorf("subject %q", id.Subject)
			}
			tc.check(t, id)
		})
	}
}

func TestIdentityFromToken(t *testing.T) {
	f := newFlow(t, func(c *oidc.Config) { c.AllowedAudiences = []string{"mobile-app"} })
	for _, aud := range []string{"broker", "mobile-app"} {
		raw := f.idp.Sign(f.idp.Claims(aud))
		id, err := f.p.IdentityFromToken(context.Background(), raw)
		if err != nil {
			t.Fatalf("aud %s: %v", aud, err)
		}
		if id.Subject != f.idp.Issuer()+"#u-123" || !slices.Equal(id.Groups, []string{"dev"}) {
			t.Errorf("identity %+v", id)
		}
		assertNoSecret(t, raw, nil, f.logs)
	}
	raw := f.idp.Sign(f.idp.Claims("someone-else"))
	_, err := f.p.IdentityFromToken(context.Background(), raw)
	if !errors.Is(err, providers.ErrInvalidCredentials) || classOf(t, err) != awsspec.ErrAudience {
		t.Errorf("foreign aud: %v", err)
	}
	assertNoSecret(t, raw, err, f.logs)

	f.idp.SetFault(oidctest.JWKS, oidctest.Fault{Status: 503})
	p2, _ := oidc.New(oidc.Config{Name: "x", Issuer: f.idp.Issuer(), ClientID: "broker", RedirectURL: "https://b/cb", HTTPClient: f.idp.Client()})
	_, err = p2.IdentityFromToken(context.Background(), f.idp.Sign(f.idp.Claims("broker")))
	if !errors.Is(err, providers.ErrUnavailable) || !errors.Is(err, awsspec.ErrKeyUnavailable) {
		t.Errorf("JWKS down: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := oidc.Config{Name: "x", Issuer: "https://idp.example.com", ClientID: "c"}
	cases := []struct {
		name string
		edit func(*oidc.Config)
		keys []string
	}{
		{"good", func(*oidc.Config) {}, nil},
		{"loopback http ok", func(c *oidc.Config) { c.Issuer = "http://127.0.0.1:8080/realms/x" }, nil},
		{"http issuer", func(c *oidc.Config) { c.Issuer = "http://idp.example.com" }, []string{"issuer"}},
		{"missing issuer and client", func(c *oidc.Config) { c.Issuer, c.ClientID = "", "" }, []string{"issuer", "client_id"}},
		{"bad redirect", func(c *oidc.Config) { c.RedirectURL = "/relative" }, []string{"redirect_url"}},
		{"http redirect", func(c *oidc.Config) { c.RedirectURL = "http://broker.example.com/cb" }, []string{"redirect_url"}},
		{"several bad keys", func(c *oidc.Config) { c.Issuer = "ftp://x"; c.Scopes = []string{"email"}; c.Timeout = -1 },
			[]string{"issuer", "scopes", "timeout"}},
		{"scopes without openid", func(c *oidc.Config) { c.Scopes = []string{"email"} }, []string{"scopes"}},
		{"offline_access ok", func(c *oidc.Config) { c.Scopes = []string{"openid", "offline_access"} }, nil},
		{"scope twice", func(c *oidc.Config) { c.Scopes = []string{"openid", "offline_access", "offline_access"} }, []string{"scopes"}},
		{"bad groups path", func(c *oidc.Config) { c.GroupsClaim = "a..b" }, []string{"groups_claim"}},
		{"http overage", func(c *oidc.Config) { c.OverageEndpoint = "http://graph.example.com/x" }, []string{"overage_endpoint"}},
		{"negative timeout", func(c *oidc.Config) { c.Timeout = -time.Second }, []string{"timeout"}},
		{"timeout too short", func(c *oidc.Config) { c.Timeout = time.Nanosecond }, []string{"timeout"}},
		{"timeout too long", func(c *oidc.Config) { c.Timeout = 2 * time.Minute }, []string{"timeout"}},
		{"timeout at its bounds", func(c *oidc.Config) { c.Timeout, c.JWKSRefreshInterval = oidc.MinTimeout, oidc.MaxJWKSRefreshInterval }, nil},
		{"JWKS refresh too often", func(c *oidc.Config) { c.JWKSRefreshInterval = time.Millisecond }, []string{"jwks_refresh_interval"}},
		{"JWKS refresh too rare", func(c *oidc.Config) { c.JWKSRefreshInterval = 2 * time.Hour }, []string{"jwks_refresh_interval"}},
		{"empty allowed audience", func(c *oidc.Config) { c.AllowedAudiences = []string{""} }, []string{"allowed_audiences"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Scopes = slices.Clone(good.Scopes)
			tc.edit(&c)
			err := c.Validate()
			if len(tc.keys) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, k := range tc.keys {
				if !strings.Contains(err.Error(), k+":") {
					t.Errorf("error %q does not name %s", err, k)
				}
			}
		})
	}
	if _, err := oidc.New(good); !errors.Is(err, providers.ErrConfiguration) {
		t.Errorf("New without redirect_url: %v", err)
	}
}

func TestAuthURLNeedsS256(t *testing.T) {
	f := newFlow(t, nil)
	if _, err := f.p.AuthURL(context.Background(), "", "n", "v"); err == nil {
		t.Error("empty state accepted")
	}
	if u := f.p.AuthCodeURL("s", "n", oauth2.GenerateVerifier()); !strings.HasPrefix(u, f.idp.URL(oidctest.Authorize)+"?") {
		t.Errorf("AuthCodeURL = %q", u)
	}
	_ = maps.Clone[map[string]any]
}

func TestPKCEDowngradeRefused(t *testing.T) {
	f := newFlow(t, nil, oidctest.WithDiscovery(func(doc map[string]any) {
		doc["code_challenge_methods_supported"] = []string{"plain"}
	}))
	_, err := f.p.AuthURL(context.Background(), "s", "n", oauth2.GenerateVerifier())
	if !errors.Is(err, providers.ErrConfiguration) {
		t.Fatalf("plain-only PKCE provider: %v", err)
	}
	if _, err := f.p.Exchange(context.Background(), "code", "verifier", "nonce", ""); !errors.Is(err, providers.ErrConfiguration) {
		t.Fatalf("Exchange: %v", err)
	}
	if f.idp.Hits(oidctest.Token) != 0 {
		t.Error("code sent to a provider without S256")
	}
}

func TestDiscoveryEndpointChecks(t *testing.T) {
	sentinel := oidctest.NewSentinel(t)
	cases := []struct {
		name string
		edit func(map[string]any)
	}{
		{"jwks_uri not https", func(d map[string]any) { d["jwks_uri"] = "http://jwks.example.com/keys" }},
		// Plain http only to a loopback address, never to a name that
		// merely starts like one.
		{"jwks_uri http to a 127. name", func(d map[string]any) { d["jwks_uri"] = "http://127.evil.example/keys" }},
		{"no token endpoint", func(d map[string]any) { delete(d, "token_endpoint") }},
		{"issuer with trailing slash", func(d map[string]any) { d["issuer"] = d["issuer"].(string) + "/" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, nil, oidctest.WithDiscovery(tc.edit))
			_, err := f.p.IdentityFromToken(context.Background(), f.idp.Sign(f.idp.Claims("broker")))
			if !errors.Is(err, providers.ErrUnavailable) || !errors.Is(err, awsspec.ErrKeyUnavailable) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if sentinel.Hits() != 0 {
		t.Error("sentinel contacted")
	}
}

func TestConfigYAML(t *testing.T) {
	doc := `
name: corp
issuer: https://idp.example.com/realms/corp
client_id: broker
client_secret: s3cret
scopes: [openid, email, profile, groups]
groups_claim: realm_access.roles
username_claim: upn
use_userinfo: true
overage_endpoint: https://graph.example.com/v1.0/me/getMemberObjects
allowed_audiences: [mobile]
insecure_skip_email_verified: false
timeout: 3s
clock_skew: 30s
max_token_age: 1h
`
	var c oidc.Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 3*time.Second || c.ClockSkew != 30*time.Second || c.MaxTokenAge != time.Hour ||
		c.GroupsClaim != "realm_access.roles" || !c.UseUserinfo || len(c.AllowedAudiences) != 1 || len(c.Scopes) != 4 {
		t.Errorf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
