package broker

import (
	"net/http"

	"github.com/idbroker/idbroker/providers"
)

// providerListing is the answer of GET /api/v1/providers: the sign-in
// methods in the order of the sign-in page, for programs (idbroker login
// picks the password prompt or the browser from it). It is public, as the
// sign-in page is, and says nothing the page does not.
type providerListing struct {
	Providers []providerInfo `json:"providers"`
}

type providerInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	// Type is the provider's kind (ldap, static, oidc, saml).
	Type string `json:"type"`
	// Password says the broker checks a username and password itself
	// (POST /api/v1/sessions takes them); otherwise sign-in goes through a
	// browser.
	Password bool `json:"password"`
}

func (s *Server) serveProviders(w http.ResponseWriter, _ *http.Request) {
	out := providerListing{Providers: make([]providerInfo, 0, len(s.cfg.Providers))}
	for _, p := range s.cfg.Providers {
		_, pw := p.Impl.(providers.PasswordAuthenticator)
		name := p.DisplayName
		if name == "" {
			name = p.Name
		}
		out.Providers = append(out.Providers, providerInfo{Name: p.Name, DisplayName: name, Type: p.Type, Password: pw})
	}
	writeJSON(w, http.StatusOK, out)
}
