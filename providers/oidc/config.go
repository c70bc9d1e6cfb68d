package oidc

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultScopes are requested when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "email", "profile"}

// Config is one upstream OIDC provider used for browser logins (code flow
// with PKCE) and for ID tokens presented by mobile clients.
type Config struct {
	// Name is the provider's configured name (Identity.Provider).
	Name string `yaml:"name"`
	// Issuer is the exact issuer URL (https://, or http:// on loopback).
	Issuer string `yaml:"issuer"`
	// ClientID and ClientSecret identify the broker at the provider. The
	// secret may be empty for a public client (PKCE only).
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RedirectURL is the broker's callback; the caller fills
	// <public_url>/oidc/<name>/callback when it is empty.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes requested (default openid email profile); must contain openid.
	// Add offline_access to have the provider give a refresh token (most
	// do only then), with which a broker session re-checks the login
	// (Provider.Refresh); without one the login is never re-checked.
	Scopes []string `yaml:"scopes"`
	// GroupsClaim is the claim holding groups: a name, or a dotted path into
	// nested objects such as realm_access.roles. Its value may be a string
	// or a list of strings (non-string entries are dropped).
	GroupsClaim string `yaml:"groups_claim"`
	// UsernameClaim names the claim used as Username (default
	// preferred_username, then a verified email, then sub).
	UsernameClaim string `yaml:"username_claim"`
	// UseUserinfo fetches the userinfo endpoint after the code exchange;
	// its claims fill those absent from the ID token (the ID token wins).
	UseUserinfo bool `yaml:"use_userinfo"`
	// OverageEndpoint is called (POST, bearer access token, Microsoft Graph
	// getMemberObjects shape) when the ID token signals a groups overage
	// (_claim_names or hasgroups). The endpoint inside the token is never
	// used. Without it, an overage fails the login closed.
	OverageEndpoint string `yaml:"overage_endpoint"`
	// AllowedAudiences are further audiences accepted for ID tokens
	// presented directly (IdentityFromToken), e.g. a mobile app's client id.
	AllowedAudiences []string `yaml:"allowed_audiences"`
	// InsecureSkipEmailVerified treats every email as verified.
	InsecureSkipEmailVerified bool `yaml:"insecure_skip_email_verified"`
	// Timeout bounds every request to the provider (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// ClockSkew tolerated on token times (default 1m).
	ClockSkew time.Duration `yaml:"clock_skew"`
	// MaxTokenAge rejects ID tokens issued longer ago than this (0: no limit).
	MaxTokenAge time.Duration `yaml:"max_token_age"`
	// JWKSRefreshInterval is the minimum time between JWKS refreshes (default 30s).
	JWKSRefreshInterval time.Duration `yaml:"jwks_refresh_interval"`

	// HTTPClient, Logger and Now are injected by the caller.
	HTTPClient *http.Client     `yaml:"-"`
	Logger     *slog.Logger     `yaml:"-"`
	Now        func() time.Time `yaml:"-"`
}

// Validate checks the configuration and names every bad key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if err := checkIssuerURL(c.Issuer); err != nil {
		bad("issuer", "%v", err)
	}
	if c.ClientID == "" {
		bad("client_id", "must be set")
	}
	if c.RedirectURL != "" {
		if u, err := url.Parse(c.RedirectURL); err != nil || u.Fragment != "" || checkEndpointURL(c.RedirectURL) != nil {
			bad("redirect_url", "must be an absolute https:// URL without fragment (http:// only for loopback)")
		}
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, "openid") {
		bad("scopes", "must include openid")
	}
	for i, s := range c.Scopes {
		switch {
		case s == "" || strings.ContainsAny(s, " \t\r\n"):
			bad("scopes", "invalid scope %q", s)
		case slices.Contains(c.Scopes[:i], s):
			bad("scopes", "%q is listed twice", s)
		}
	}
	if c.GroupsClaim != "" && (strings.HasPrefix(c.GroupsClaim, ".") || strings.HasSuffix(c.GroupsClaim, ".") || strings.Contains(c.GroupsClaim, "..")) {
		bad("groups_claim", "invalid claim path %q", c.GroupsClaim)
	}
	if c.OverageEndpoint != "" {
		if err := checkEndpointURL(c.OverageEndpoint); err != nil {
			bad("overage_endpoint", "%v", err)
		}
	}
	for _, a := range c.AllowedAudiences {
		if a == "" {
			bad("allowed_audiences", "empty audience")
		}
	}
	for key, d := range map[string]time.Duration{"clock_skew": c.ClockSkew, "max_token_age": c.MaxTokenAge} {
		if d < 0 {
			bad(key, "must not be negative")
		}
	}
	if err := CheckTimeout(c.Timeout); err != nil {
		bad("timeout", "%v", err)
	}
	if err := CheckJWKSRefreshInterval(c.JWKSRefreshInterval); err != nil {
		bad("jwks_refresh_interval", "%v", err)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(errs) > 0 {
		return fmt.Errorf("oidc provider %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

// Bounds of Timeout and JWKSRefreshInterval (0 takes the default): a
// request needs some time, and a key set re-fetched more often than ten
// times a second, or less than hourly after an outage, serves nobody.
const (
	MinTimeout, MaxTimeout                         = 100 * time.Millisecond, time.Minute
	MinJWKSRefreshInterval, MaxJWKSRefreshInterval = 100 * time.Millisecond, time.Hour
)

// CheckTimeout checks a Timeout against its bounds (0: the default).
func CheckTimeout(d time.Duration) error { return checkBounds(d, MinTimeout, MaxTimeout) }

// CheckJWKSRefreshInterval checks a JWKSRefreshInterval against its bounds
// (0: the default).
func CheckJWKSRefreshInterval(d time.Duration) error {
	return checkBounds(d, MinJWKSRefreshInterval, MaxJWKSRefreshInterval)
}

func checkBounds(d, lo, hi time.Duration) error {
	if d != 0 && (d < lo || d > hi) {
		return fmt.Errorf("%s must be between %s and %s", d, lo, hi)
	}
	return nil
}
