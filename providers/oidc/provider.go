package oidc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/providers"
)

// Provider drives logins against one upstream OIDC provider.
type Provider struct {
	cfg     Config
	src     *source
	codeV   *Verifier // aud must contain client_id; azp, when present, is client_id
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
	codeV.azpIsClient = true
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
