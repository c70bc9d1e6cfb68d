package main

import (
	"errors"
	"reflect"

	"github.com/idbroker/idbroker/providers/oidc"
)

// oidcKind is an upstream OpenID Connect provider: browser sign-in with the
// code flow (PKCE, nonce, RFC 9207 iss) at GET /login/<name>, and ID tokens
// presented by apps at POST /api/v1/credentials and POST /oauth2/token.
func oidcKind() providerKind {
	return providerKind{
		settings: reflect.TypeOf(oidc.Config{}),
		validate: func(s any) []error { return oidcValidate(s.(*oidc.Config)) },
		build: func(env buildEnv, p providerConfig) (any, error) {
			c, err := settingsAs[oidc.Config](p)
			if err != nil {
				return nil, err
			}
			cfg := *c
			cfg.Name = p.Name
			if cfg.RedirectURL == "" {
				cfg.RedirectURL = oidcRedirectURL(env.publicURL, p.Name)
			}
			cfg.Logger = env.log
			return oidc.New(cfg)
		},
	}
}

// oidcRedirectURL is the default callback of provider name.
func oidcRedirectURL(publicURL, name string) string {
	return publicURL + "/oidc/" + name + "/callback"
}

// oidcValidate splits oidc.Config.Validate's joined error into one error
// per key ("issuer: must be set"), so the caller can prefix the key path.
func oidcValidate(c *oidc.Config) []error {
	err := c.Validate()
	if err == nil {
		return nil
	}
	// Validate returns `oidc provider "<name>": <joined errors>`.
	if inner := errors.Unwrap(err); inner != nil {
		if j, ok := inner.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
		return []error{inner}
	}
	return []error{err}
}
