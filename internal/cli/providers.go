package cli

import (
	"context"
	"net/http"
)

// ProviderInfo is one sign-in method of the broker, as GET
// /api/v1/providers lists it.
type ProviderInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	// Type is the provider's kind (ldap, static, oidc, saml).
	Type string `json:"type"`
	// Password says the broker checks a username and password itself;
	// otherwise sign-in goes through a browser.
	Password bool `json:"password"`
}

// Providers lists the broker's sign-in methods (GET /api/v1/providers,
// public like the sign-in page), in the order the sign-in page shows them.
func (c *Client) Providers(ctx context.Context) ([]ProviderInfo, error) {
	var out struct {
		Providers []ProviderInfo `json:"providers"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/providers", "", nil, &out); err != nil {
		return nil, err
	}
	for i := range out.Providers {
		p := &out.Providers[i]
		p.Name, p.DisplayName, p.Type = printable(p.Name), printable(p.DisplayName), printable(p.Type)
	}
	return out.Providers, nil
}
