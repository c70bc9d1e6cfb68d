package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

// refreshTokenPattern matches a refresh token of oidctest.
var refreshTokenPattern = regexp.MustCompile(`rt-[A-Za-z0-9_-]{32}`)

// offline asks for offline_access on top of the default scopes.
func offline(c *oidc.Config) { c.Scopes = []string{"openid", "email", "profile", "offline_access"} }

// codeLogin runs a whole code-flow login and returns its identity.
func (f *flowEnv) codeLogin(t *testing.T) providers.Identity {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	nonce := "nonce-" + oauth2.GenerateVerifier()[:16]
	u, err := f.p.AuthURL(context.Background(), "state-1", nonce, verifier)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := f.idp.Authorize(u)
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.p.Exchange(context.Background(), cb.Query().Get("code"), verifier, nonce, cb.Query().Get("iss"))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return id
}

// assertNoRefreshSecrets checks the logs, the errors and the identities
// as printed for the refresh token, the client secret and the tokens.
func (f *flowEnv) assertNoRefreshSecrets(t *testing.T, errs []error, ids ...providers.Identity) {
	t.Helper()
	texts := []string{f.logs.String()}
	for _, err := range errs {
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	for _, id := range ids {
		texts = append(texts, fmt.Sprintf("%+v", id), fmt.Sprintf("%#v", id))
	}
	for _, s := range texts {
		if strings.Contains(s, canarySecret) || refreshTokenPattern.MatchString(s) || jwtPattern.MatchString(s) || accessTokenPattern.MatchString(s) {
			t.Errorf("secret leaked: %.300s", s)
		}
	}
}

func TestRefresh(t *testing.T) {
	f := newFlow(t, offline)
	authTime := f.now.Add(-time.Minute)
	f.idp.SetUser(map[string]any{
		"sub": "u-123", "preferred_username": "alice", "email": "alice@example.com", "email_verified": true,
		"groups": []any{"dev", "ops"}, "amr": []any{"pwd", "otp"}, "auth_time": authTime.Unix(),
	})
	id := f.codeLogin(t)
	if len(id.Upstream) == 0 {
		t.Fatal("the login kept no refresh token")
	}
	if !id.MFA || !id.MFATime.Equal(authTime) || !id.AuthTime.Equal(authTime) {
		t.Fatalf("MFA %v at %v, auth_time %v; want MFA at %v", id.MFA, id.MFATime, id.AuthTime, authTime)
	}
	id.Expiry = f.now.Add(time.Hour)
	ctx := context.Background()
	var errs []error

	// The group "ops" is gone upstream, and so is the MFA of the new token:
	// the groups follow, the login's own facts stay.
	f.idp.SetUser(map[string]any{
		"sub": "u-123", "preferred_username": "alice", "email": "alice@example.com", "email_verified": true,
		"groups": []any{"dev"}, "auth_time": f.now.Unix(), "nonce": "the original nonce, as Keycloak repeats it",
	})
	got, err := f.p.Refresh(ctx, id)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if !slices.Equal(got.Groups, []string{"dev"}) || got.Subject != id.Subject || got.Username != "alice" || got.Provider != "corp" {
		t.Errorf("refreshed identity = %+v", got)
	}
	if !got.MFA || !got.MFATime.Equal(id.MFATime) || !got.AuthTime.Equal(id.AuthTime) || !got.Expiry.Equal(id.Expiry) {
		t.Errorf("the login's facts changed: %+v", got)
	}
	if len(got.Upstream) == 0 || string(got.Upstream) == string(id.Upstream) {
		t.Errorf("the rotated refresh token was not carried back")
	}
	if f.idp.Hits(oidctest.Refresh) != 1 {
		t.Errorf("refresh requests = %d", f.idp.Hits(oidctest.Refresh))
	}

	// The redeemed (rotated) token is dead upstream: the login is over.
	_, err = f.p.Refresh(ctx, id)
	if !errors.Is(err, providers.ErrAccountGone) || errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("rotated token: err = %v, want ErrAccountGone", err)
	}
	errs = append(errs, err)

	// The current token keeps working, and rotates again.
	again, err := f.p.Refresh(ctx, got)
	if err != nil || string(again.Upstream) == string(got.Upstream) {
		t.Fatalf("second refresh: %v", err)
	}

	// An administrator ends the user's sessions at the provider.
	f.idp.RevokeRefreshTokens()
	_, err = f.p.Refresh(ctx, again)
	if !errors.Is(err, providers.ErrAccountGone) {
		t.Errorf("revoked: err = %v, want ErrAccountGone", err)
	}
	errs = append(errs, err)
	f.assertNoRefreshSecrets(t, errs, id, got, again)
}

// A provider that cannot be asked (5xx, 429, timeout, unreachable) is
// ErrUnavailable, never ErrAccountGone, and the refresh token survives.
func TestRefreshUnavailable(t *testing.T) {
	f := newFlow(t, func(c *oidc.Config) { offline(c); c.Timeout = 300 * time.Millisecond })
	id := f.codeLogin(t)
	ctx := context.Background()
	var errs []error
	for _, fault := range []oidctest.Fault{
		{Status: http.StatusInternalServerError},
		{Status: http.StatusBadGateway, Body: []byte("<html>bad gateway</html>")},
		{Status: http.StatusTooManyRequests, Body: []byte(`{"error":"slow_down"}`)},
		{Delay: 10 * time.Second},
	} {
		f.idp.SetFault(oidctest.Refresh, fault)
		_, err := f.p.Refresh(ctx, id)
		if !errors.Is(err, providers.ErrUnavailable) || errors.Is(err, providers.ErrAccountGone) {
			t.Errorf("fault %+v: err = %v, want ErrUnavailable", fault, err)
		}
		errs = append(errs, err)
	}
	f.idp.ClearFault(oidctest.Refresh)
	if _, err := f.p.Refresh(ctx, id); err != nil {
		t.Errorf("after the faults: %v", err)
	}
	f.assertNoRefreshSecrets(t, errs, id)
}

// cutTransport fails every request once cut, as a network that went away.
type cutTransport struct {
	next http.RoundTripper
	cut  atomic.Bool
}

func (c *cutTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("connection refused (cut by the test)")
	}
	return c.next.RoundTrip(r)
}

func TestRefreshNetworkDown(t *testing.T) {
	var tr *cutTransport
	f := newFlow(t, func(c *oidc.Config) {
		offline(c)
		base := *c.HTTPClient
		tr = &cutTransport{next: base.Transport}
		base.Transport = tr
		c.HTTPClient = &base
	})
	id := f.codeLogin(t)
	tr.cut.Store(true)
	_, err := f.p.Refresh(context.Background(), id)
	if !errors.Is(err, providers.ErrUnavailable) || errors.Is(err, providers.ErrAccountGone) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	f.assertNoRefreshSecrets(t, []error{err}, id)
}

// Answers that are not about this person end the login: another subject,
// an ID token that fails verification.
func TestRefreshRefusesAnotherPerson(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(map[string]any)
	}{
		{"another subject", func(c map[string]any) { c["sub"] = "u-999" }},
		{"another issuer", func(c map[string]any) { c["iss"] = "https://evil.test" }},
		{"another audience", func(c map[string]any) { c["aud"] = "other" }},
		{"at_hash of another access token", func(c map[string]any) { c["at_hash"] = oidctest.AtHash("RS256", "another-token") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFlow(t, offline)
			id := f.codeLogin(t)
			f.idp.MutateIDToken(tc.mutate)
			_, err := f.p.Refresh(context.Background(), id)
			if !errors.Is(err, providers.ErrAccountGone) || errors.Is(err, providers.ErrUnavailable) {
				t.Errorf("err = %v, want ErrAccountGone", err)
			}
			f.assertNoRefreshSecrets(t, []error{err}, id)
		})
	}
}

// What cannot be re-checked comes back unchanged without a request: a
// login that got no refresh token, an ID token presented directly.
func TestRefreshWithoutRefreshToken(t *testing.T) {
	f := newFlow(t, nil)
	id := f.codeLogin(t)
	if len(id.Upstream) != 0 {
		t.Fatal("a refresh token without offline_access")
	}
	presented, err := f.p.IdentityFromToken(context.Background(), f.idp.Sign(f.idp.Claims("broker")))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []providers.Identity{id, presented} {
		got, err := f.p.Refresh(context.Background(), in)
		if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", in) {
			t.Errorf("Refresh = %+v, %v; want it unchanged", got, err)
		}
	}
	if n := f.idp.Hits(oidctest.Token); n != 1 {
		t.Errorf("token requests = %d, want only the login's", n)
	}
}

// A refresh token is only ever sent to the issuer, and with the client,
// it was given to: after a configuration change the login ends instead.
func TestRefreshAfterConfigurationChange(t *testing.T) {
	f := newFlow(t, offline)
	id := f.codeLogin(t)
	other := oidctest.New(t, oidctest.WithClient("broker", canarySecret), oidctest.WithRefreshTokens())
	for _, tc := range []struct {
		name string
		edit func(*oidc.Config)
		want []error
		not  error
	}{
		{"another issuer", func(c *oidc.Config) { c.Issuer, c.HTTPClient = other.Issuer(), other.Client() },
			[]error{providers.ErrAccountGone}, providers.ErrUnavailable},
		{"another client", func(c *oidc.Config) { c.ClientID = "broker-2" },
			[]error{providers.ErrAccountGone}, providers.ErrUnavailable},
		{"another provider's login", func(c *oidc.Config) { c.Name = "other" },
			[]error{providers.ErrUnavailable, providers.ErrConfiguration}, providers.ErrAccountGone},
		// The same client with a wrong secret: invalid_client is the
		// configuration's fault, not the user's.
		{"wrong client secret", func(c *oidc.Config) { c.ClientSecret = "wrong" },
			[]error{providers.ErrUnavailable, providers.ErrConfiguration}, providers.ErrAccountGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oidc.Config{
				Name: "corp", Issuer: f.idp.Issuer(), ClientID: "broker", ClientSecret: canarySecret,
				RedirectURL: "https://broker.example.com/oidc/corp/callback", GroupsClaim: "groups",
				HTTPClient: f.idp.Client(), Now: func() time.Time { return f.now },
			}
			tc.edit(&cfg)
			p, err := oidc.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Refresh(context.Background(), id)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if errors.Is(err, tc.not) {
				t.Errorf("err = %v, must not be %v", err, tc.not)
			}
		})
	}
	if n := other.Hits(oidctest.Token); n != 0 {
		t.Errorf("the other issuer got %d token requests", n)
	}
	if n := f.idp.Hits(oidctest.Token); n != 2 {
		t.Errorf("token requests = %d, want the login's and the wrong secret's", n)
	}
}

// Without an ID token in the refresh answer the claims come from userinfo
// when it is configured, else the identity stays; without rotation the
// refresh token stays too.
func TestRefreshWithoutIDToken(t *testing.T) {
	opts := []oidctest.Option{oidctest.WithoutRefreshIDToken(), oidctest.WithoutRefreshRotation()}
	t.Run("no userinfo", func(t *testing.T) {
		f := newFlow(t, offline, opts...)
		id := f.codeLogin(t)
		f.idp.SetUser(map[string]any{"sub": "u-123", "groups": []any{"ops"}})
		for range 2 {
			got, err := f.p.Refresh(context.Background(), id)
			if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", id) || string(got.Upstream) != string(id.Upstream) {
				t.Fatalf("Refresh = %+v, %v; want it unchanged", got, err)
			}
		}
	})
	t.Run("userinfo", func(t *testing.T) {
		f := newFlow(t, func(c *oidc.Config) { offline(c); c.UseUserinfo = true }, opts...)
		id := f.codeLogin(t)
		f.idp.SetUserinfo(map[string]any{"sub": "u-123", "preferred_username": "alice", "groups": []any{"ops"}})
		got, err := f.p.Refresh(context.Background(), id)
		if err != nil || !slices.Equal(got.Groups, []string{"ops"}) || got.Subject != id.Subject || got.Username != "alice" {
			t.Fatalf("Refresh = %+v, %v", got, err)
		}
		f.idp.SetUserinfo(map[string]any{"sub": "u-999", "groups": []any{"ops"}})
		if _, err := f.p.Refresh(context.Background(), id); !errors.Is(err, providers.ErrAccountGone) {
			t.Errorf("userinfo of another subject: err = %v, want ErrAccountGone", err)
		}
	})
}

// A refresh token redeemed (and rotated) before userinfo fails is handed
// back with the ErrUnavailable: the old one is dead upstream, the new one
// keeps the login alive.
func TestRefreshRotatedBeforeFailure(t *testing.T) {
	f := newFlow(t, func(c *oidc.Config) { offline(c); c.UseUserinfo = true })
	id := f.codeLogin(t)
	f.idp.SetFault(oidctest.Userinfo, oidctest.Fault{Status: http.StatusServiceUnavailable})
	kept, err := f.p.Refresh(context.Background(), id)
	if !errors.Is(err, providers.ErrUnavailable) || errors.Is(err, providers.ErrAccountGone) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if len(kept.Upstream) == 0 || string(kept.Upstream) == string(id.Upstream) {
		t.Fatal("the rotated refresh token was not handed back with the error")
	}
	if kept.Subject != id.Subject || !slices.Equal(kept.Groups, id.Groups) {
		t.Errorf("the identity handed back is not the login's: %+v", kept)
	}
	f.idp.ClearFault(oidctest.Userinfo)
	if _, err := f.p.Refresh(context.Background(), kept); err != nil {
		t.Errorf("with the handed-back token: %v", err)
	}
	if _, err := f.p.Refresh(context.Background(), id); !errors.Is(err, providers.ErrAccountGone) {
		t.Errorf("with the dead token: err = %v, want ErrAccountGone", err)
	}
	f.assertNoRefreshSecrets(t, []error{err}, id, kept)
}
