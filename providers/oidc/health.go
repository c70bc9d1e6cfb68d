package oidc

import (
	"context"
	"fmt"

	"github.com/idbroker/idbroker/providers"
)

// Health checks the issuer for /readyz: its discovery document is fetched
// and checked as a login's discovery is, then its JWKS, which must hold a
// usable signing key. Neither the discovery result nor the key cache the
// logins use is changed. The detail is the number of usable keys. Errors
// wrap providers.ErrUnavailable.
func (p *Provider) Health(ctx context.Context) (map[string]any, error) {
	s := p.src
	meta, err := fetchDiscovery(ctx, s.client, s.issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc provider %q: %w: %w", p.cfg.Name, providers.ErrUnavailable, err)
	}
	remote := s.keySet.remote
	if remote == nil {
		return map[string]any{"jwks_keys": len(s.keySet.static)}, nil
	}
	probe := &keyCache{client: s.client, maxBytes: remote.maxBytes, timeout: remote.timeout, logger: remote.logger, issuer: remote.issuer}
	if err := probe.fetch(ctx, meta.JWKSURL); err != nil {
		return nil, fmt.Errorf("oidc provider %q: %w: %w", p.cfg.Name, providers.ErrUnavailable, err)
	}
	return map[string]any{"jwks_keys": len(probe.keys)}, nil
}
