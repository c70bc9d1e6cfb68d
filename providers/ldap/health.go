package ldap

import (
	"context"
	"fmt"

	"github.com/idbroker/idbroker/ldapauth"
)

// Health checks the directory for /readyz: the service account binds on a
// pooled connection (ldapauth.Client.Ping). The detail is the pool's size.
// Errors wrap providers.ErrUnavailable or ErrConfiguration.
func (p *Provider) Health(ctx context.Context) (map[string]any, error) {
	err := p.client.Ping(ctx)
	s := p.client.Stats()
	detail := map[string]any{"pool_idle": s.Idle, "pool_in_use": s.InUse}
	if err != nil {
		return detail, fmt.Errorf("ldap provider %q: %w", p.name, mapErr(err))
	}
	return detail, nil
}

// PoolStats is the state of the provider's connection pool.
func (p *Provider) PoolStats() ldapauth.PoolStats { return p.client.Stats() }
