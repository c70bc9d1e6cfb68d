package oidc

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/providers"
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
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			bad("scopes", "invalid scope %q", s)
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
	for key, d := range map[string]time.Duration{"timeout": c.Timeout, "clock_skew": c.ClockSkew, "max_token_age": c.MaxTokenAge, "jwks_refresh_interval": c.JWKSRefreshInterval} {
		if d < 0 {
			bad(key, "must not be negative")
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(errs) > 0 {
		return fmt.Errorf("oidc provider %q: %w", c.Name, errors.Join(errs...))
	}
	return nil
}

// Provider drives logins against one upstream OIDC provider.
type Provider struct {
	cfg     Config
	src     *source
	codeV   *Verifier // aud must contain client_id
	directV *Verifier // client_id or allowed_audiences
	client  *http.Client
	logger  *slog.Logger
	timeout time.Duration
}

// New validates cfg and returns a Provider. Like NewVerifier it does no
// network I/O; discovery happens on first use.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	if cfg.RedirectURL == "" {
		return nil, fmt.Errorf("%w: oidc provider %q: redirect_url: must be set", providers.ErrConfiguration, cfg.Name)
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = slices.Clone(DefaultScopes)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With(slog.Group("provider", "type", "oidc", "name", cfg.Name))
	vc := VerifierConfig{
		Issuer:              cfg.Issuer,
		ClientIDs:           []string{cfg.ClientID},
		HTTPClient:          cfg.HTTPClient,
		Now:                 cfg.Now,
		Logger:              logger,
		ClockSkew:           cfg.ClockSkew,
		MaxAge:              cfg.MaxTokenAge,
		Timeout:             cfg.Timeout,
		JWKSRefreshInterval: cfg.JWKSRefreshInterval,
	}
	src, err := newSource(vc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	codeV, err := newVerifierOn(src, vc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	vc.ClientIDs = append([]string{cfg.ClientID}, cfg.AllowedAudiences...)
	directV, err := newVerifierOn(src, vc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	return &Provider{
		cfg: cfg, src: src, codeV: codeV, directV: directV,
		client: src.client, logger: logger, timeout: src.timeout,
	}, nil
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.cfg.Name }

// Issuer returns the configured issuer.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Verifier returns the verifier for ID tokens presented directly (aud =
// client_id or allowed_audiences), sharing this provider's key cache.
func (p *Provider) Verifier() *Verifier { return p.directV }

func (p *Provider) oauth2Config(meta discoveryMeta) *oauth2.Config {
	ep := oauth2.Endpoint{AuthURL: meta.AuthURL, TokenURL: meta.TokenURL}
	// A fixed auth style: auto-detection would retry a refused code a
	// second time with the other style. Basic is the spec default.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	if len(meta.TokenAuthMethods) > 0 && !slices.Contains(meta.TokenAuthMethods, "client_secret_basic") &&
		slices.Contains(meta.TokenAuthMethods, "client_secret_post") {
		ep.AuthStyle = oauth2.AuthStyleInParams
	}
	if p.cfg.ClientSecret == "" {
		ep.AuthStyle = oauth2.AuthStyleInParams // public client: client_id in the body
	}
	return &oauth2.Config{
		ClientID:     p.cfg.ClientID,
		ClientSecret: p.cfg.ClientSecret,
		Endpoint:     ep,
		RedirectURL:  p.cfg.RedirectURL,
		Scopes:       p.cfg.Scopes,
	}
}

// discover runs (or reuses) discovery and refuses a provider that
// advertises PKCE methods without S256.
func (p *Provider) discover(ctx context.Context) (discoveryMeta, error) {
	meta, err := p.src.discover(ctx)
	if err != nil {
		return meta, fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	}
	if len(meta.CodeChallengeMethod) > 0 && !slices.Contains(meta.CodeChallengeMethod, "S256") {
		return meta, fmt.Errorf("%w: oidc provider %q does not support PKCE S256", providers.ErrConfiguration, p.cfg.Name)
	}
	return meta, nil
}

// AuthURL returns the authorization URL for a login: response_type=code,
// the state, the nonce, and the S256 challenge of verifier (generate it
// with oauth2.GenerateVerifier). It runs discovery if needed.
func (p *Provider) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	if state == "" || nonce == "" || verifier == "" {
		return "", errors.New("oidc: state, nonce and PKCE verifier are required")
	}
	meta, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth2Config(meta).AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// AuthCodeURL is AuthURL with a background context bounded by the
// provider timeout; it returns "" when discovery fails or an argument is
// empty. Prefer AuthURL.
func (p *Provider) AuthCodeURL(state, nonce, verifier string) string {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	u, err := p.AuthURL(ctx, state, nonce, verifier)
	if err != nil {
		p.logger.Warn("oidc: cannot build authorization URL", "error", err.Error())
		return ""
	}
	return u
}

// Exchange completes a login: it checks the RFC 9207 iss callback
// parameter (callbackIss, "" when absent), redeems code with the PKCE
// verifier, verifies the ID token (aud must contain client_id; azp, when
// present, must be client_id), checks the nonce and at_hash, fetches
// userinfo and overage groups when configured, and returns the Identity.
//
// Errors wrap providers.ErrInvalidCredentials (and one of this package's
// sentinels) for a rejected login, providers.ErrUnavailable when the
// provider cannot be reached, providers.ErrConfiguration for a provider
// whose answers the configuration cannot handle.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce, callbackIss string) (providers.Identity, error) {
	fail := func(err error) (providers.Identity, error) {
		return providers.Identity{}, err
	}
	reject := func(class error, format string, args ...any) (providers.Identity, error) {
		return fail(fmt.Errorf("%w: %w", providers.ErrInvalidCredentials, errorf(class, format, args...)))
	}
	if code == "" || verifier == "" || nonce == "" {
		return reject(ErrInvalid, "code, PKCE verifier and nonce are required")
	}
	meta, err := p.discover(ctx)
	if err != nil {
		return fail(err)
	}
	// RFC 9207: an iss parameter must name our issuer; it must be present
	// when the provider says it sends it.
	if callbackIss != "" && callbackIss != p.cfg.Issuer {
		return reject(ErrInvalid, "authorization response iss %s is not %s (mix-up)", quote(callbackIss), p.cfg.Issuer)
	}
	if callbackIss == "" && meta.IssParamSupported {
		return reject(ErrInvalid, "authorization response lacks the iss parameter the provider advertises")
	}
	xctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.client), p.timeout)
	defer cancel()
	tok, err := p.oauth2Config(meta).Exchange(xctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			// The response body and description are not echoed.
			return reject(ErrInvalid, "token endpoint refused the code: HTTP %d, error %s", status, quote(re.ErrorCode))
		}
		return fail(fmt.Errorf("%w: oidc: token request to %s failed: %w", providers.ErrUnavailable, p.cfg.Issuer, redactURLError(err)))
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return reject(ErrInvalid, "token response has no id_token")
	}
	t, err := p.codeV.verify(ctx, rawID)
	if err != nil {
		return fail(classify(err))
	}
	if t.AZP != "" && t.AZP != p.cfg.ClientID {
		return reject(ErrAudience, "azp %s is not our client id", quote(t.AZP))
	}
	got, _ := t.Claims["nonce"].(string)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return reject(ErrInvalid, "nonce mismatch")
	}
	if _, ok := t.Claims["at_hash"]; ok {
		if err := t.verifyAccessToken(tok.AccessToken); err != nil {
			return reject(ErrInvalid, "at_hash does not match the access token")
		}
	}
	claims := t.Claims
	if p.cfg.UseUserinfo {
		ui, err := p.userinfo(ctx, meta, tok.AccessToken)
		if err != nil {
			return fail(err)
		}
		if s, _ := ui["sub"].(string); s != t.Subject {
			return reject(ErrInvalid, "userinfo sub does not match the ID token")
		}
		for k, v := range ui {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	groups, err := p.groups(ctx, claims, tok.AccessToken)
	if err != nil {
		return fail(err)
	}
	return p.identity(t, claims, groups), nil
}

// IdentityFromToken verifies an ID token presented directly (mobile
// exchange): aud must contain client_id or one of allowed_audiences; there
// is no nonce and no userinfo. A groups overage fails closed because no
// access token is available to fetch the groups.
func (p *Provider) IdentityFromToken(ctx context.Context, rawIDToken string) (providers.Identity, error) {
	t, err := p.directV.verify(ctx, rawIDToken)
	if err != nil {
		return providers.Identity{}, classify(err)
	}
	groups, err := p.groups(ctx, t.Claims, "")
	if err != nil {
		return providers.Identity{}, err
	}
	return p.identity(t, t.Claims, groups), nil
}

// classify adds the providers sentinel matching a verification error.
func classify(err error) error {
	if errors.Is(err, ErrKeyUnavailable) {
		return fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", providers.ErrInvalidCredentials, err)
}

// redactURLError drops the URL's query from a *url.Error (it could carry a
// code).
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return fmt.Errorf("%s %s: %w", ue.Op, u.Redacted(), ue.Err)
		}
	}
	return err
}

// getJSON performs an authenticated request and strictly decodes a JSON
// object answer. The body is never echoed in errors.
func (p *Provider) callJSON(ctx context.Context, method, endpoint, accessToken string, body []byte) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: building request: %w", providers.ErrConfiguration, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: %s %s: %w", providers.ErrUnavailable, method, endpoint, redactURLError(err))
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: reading %s: %w", providers.ErrUnavailable, endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: oidc: %s answered HTTP %d", providers.ErrUnavailable, endpoint, resp.StatusCode)
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: %s: %w", providers.ErrInvalidCredentials, endpoint, errorf(ErrInvalid, "response: %v", err))
	}
	return normalizeNumbers(obj).(map[string]any), nil
}

func (p *Provider) userinfo(ctx context.Context, meta discoveryMeta, accessToken string) (map[string]any, error) {
	ep := meta.UserInfoURL
	if ep == "" {
		return nil, fmt.Errorf("%w: oidc provider %q has no userinfo endpoint", providers.ErrConfiguration, p.cfg.Name)
	}
	return p.callJSON(ctx, http.MethodGet, ep, accessToken, nil)
}

// groups reads the configured groups claim; on a groups overage it asks
// the configured overage endpoint, or fails closed.
func (p *Provider) groups(ctx context.Context, claims map[string]any, accessToken string) ([]string, error) {
	if p.cfg.GroupsClaim == "" {
		return nil, nil
	}
	if v, ok := claimPath(claims, p.cfg.GroupsClaim); ok {
		return stringsOf(v), nil
	}
	if !overage(claims, p.cfg.GroupsClaim) {
		return nil, nil
	}
	if p.cfg.OverageEndpoint == "" || accessToken == "" {
		return nil, fmt.Errorf("%w: oidc provider %q: groups overage signalled but no overage endpoint/access token to resolve it", providers.ErrConfiguration, p.cfg.Name)
	}
	resp, err := p.callJSON(ctx, http.MethodPost, p.cfg.OverageEndpoint, accessToken, []byte(`{"securityEnabledOnly":false}`))
	if err != nil {
		return nil, err
	}
	vals, ok := resp["value"].([]any)
	if !ok {
		return nil, fmt.Errorf("%w: oidc: overage response has no value list", providers.ErrUnavailable)
	}
	var out []string
	for _, v := range vals {
		switch t := v.(type) {
		case string:
			out = append(out, t)
		case map[string]any:
			if id, ok := t["id"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return dedupe(out), nil
}

// overage reports whether the token says groups were left out: a
// _claim_names entry for the groups claim (OIDC distributed claims, Entra)
// or hasgroups=true.
func overage(claims map[string]any, groupsClaim string) bool {
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		top, _, _ := strings.Cut(groupsClaim, ".")
		if _, ok := names[top]; ok {
			return true
		}
		if _, ok := names[groupsClaim]; ok {
			return true
		}
	}
	if b, ok := claims["hasgroups"].(bool); ok && b {
		return true
	}
	if s, ok := claims["hasgroups"].(string); ok && strings.EqualFold(s, "true") {
		return true
	}
	return false
}

// claimPath finds a claim by exact name, else by a dotted path into nested
// objects.
func claimPath(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// stringsOf returns a string as a one-element list, and the non-empty
// string elements of a list; anything else yields nothing.
func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil
		}
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return dedupe(out)
	}
	return nil
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// skippedAttributes are protocol claims not worth keeping as attributes.
var skippedAttributes = map[string]bool{"nonce": true, "at_hash": true, "c_hash": true, "s_hash": true}

func (p *Provider) identity(t *Token, claims map[string]any, groups []string) providers.Identity {
	id := providers.Identity{
		Provider: p.cfg.Name,
		Subject:  t.Issuer + "#" + t.Subject,
		Groups:   groups,
		// Expiry stays zero: an ID token's exp bounds when the token may be
		// presented, not the user's session (Keycloak's are 5 minutes). AWS
		// does not cap web-identity sessions by it either; SAML's
		// SessionNotOnOrAfter, which does end a session, sets Expiry there.
	}
	id.Email, _ = claims["email"].(string)
	if id.Email != "" {
		verified, _ := claims["email_verified"].(bool) // "true" as a string is not verified
		id.EmailVerified = verified || p.cfg.InsecureSkipEmailVerified
	}
	if name, _ := claims["name"].(string); name != "" {
		id.DisplayName = name
	} else {
		given, _ := claims["given_name"].(string)
		family, _ := claims["family_name"].(string)
		id.DisplayName = strings.TrimSpace(given + " " + family)
	}
	if p.cfg.UsernameClaim != "" {
		id.Username, _ = claims[p.cfg.UsernameClaim].(string)
	}
	if id.Username == "" {
		id.Username, _ = claims["preferred_username"].(string)
	}
	if id.Username == "" && id.EmailVerified {
		id.Username = id.Email
	}
	if id.Username == "" {
		id.Username = t.Subject
	}
	for _, m := range t.AMR {
		switch strings.ToLower(m) {
		case "mfa", "otp", "hwk":
			id.MFA = true
		}
	}
	if f, ok := claims["auth_time"].(float64); ok && f == math.Trunc(f) && f >= 0 && f <= maxNumericDate {
		id.AuthTime = time.Unix(int64(f), 0).UTC()
	}
	id.Attributes = map[string][]string{}
	for k, v := range claims {
		if skippedAttributes[k] || (k == "email" && !id.EmailVerified) {
			continue // an unverified email must not reach rules through attributes
		}
		switch tv := v.(type) {
		case string:
			id.Attributes[k] = []string{tv}
		case []any:
			vals := make([]string, 0, len(tv))
			for _, e := range tv {
				s, ok := e.(string)
				if !ok {
					vals = nil
					break
				}
				vals = append(vals, s)
			}
			if vals != nil {
				id.Attributes[k] = vals
			}
		}
	}
	return id
}
