package saml

import (
	"context"
	"fmt"
	"time"

	"github.com/idbroker/idbroker/providers"
)

// Health reports the IdP metadata for /readyz: how old the copy in use is
// (since it was read from a file or fetched from the URL). With nothing
// cached yet it fetches as a login would (back-off included); a URL source
// whose copy is older than its refresh interval because the fetches keep
// failing is an error wrapping providers.ErrUnavailable. Logins still use
// that copy meanwhile.
func (p *Provider) Health(ctx context.Context) (map[string]any, error) {
	c := p.md
	if c.cur.Load() == nil {
		if _, err := c.get(ctx); err != nil {
			return nil, fmt.Errorf("saml provider %q: %w", p.name, err)
		}
	}
	// A stale copy is refreshed in the background, as a login would.
	_, _ = c.get(ctx)
	cur := c.cur.Load()
	age := c.now().Sub(cur.fetched)
	detail := map[string]any{"metadata_age_seconds": int64(age / time.Second)}
	c.stateMu.Lock()
	failures, lastErr := c.failures, c.lastErr
	c.stateMu.Unlock()
	if c.src.URL != "" && failures > 0 && age > c.src.Refresh {
		return detail, fmt.Errorf("saml provider %q: %w: the metadata copy in use is %s old and the last %d fetches failed: %w",
			p.name, providers.ErrUnavailable, age.Round(time.Second), failures, lastErr)
	}
	return detail, nil
}
