package main

import (
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/store"
)

// providerKind is one type of upstream provider: the Go type its settings
// decode into, how they are validated, and how the provider is built. Each
// kind lives in its own file (providerkind_<type>.go).
type providerKind struct {
	settings reflect.Type
	// validate returns errors whose text starts with the key path relative
	// to the provider block ("users[0].password_hash: …").
	validate func(settings any) []error
	// build returns the provider (a providers.PasswordAuthenticator, …).
	build func(env buildEnv, p providerConfig) (any, error)
}

// buildEnv is what a provider may need from the rest of the configuration.
type buildEnv struct {
	cfg       *fileConfig
	log       *slog.Logger
	publicURL string
	store     store.Store
	// keys are the broker's own keys (the SAML pair signs for SAML SPs).
	keys *broker.Keys
}

// providerKinds lists the provider types this binary supports.
func providerKinds() map[string]providerKind {
	return map[string]providerKind{
		"ldap":   ldapKind(),
		"saml":   samlKind(),
		"static": staticKind(),
		"oidc":   oidcKind(),
	}
}

func providerKindNames() string {
	var names []string
	for n := range providerKinds() {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// settingsAs returns the settings as *T or an error naming the mismatch.
func settingsAs[T any](p providerConfig) (*T, error) {
	s, ok := p.Settings.(*T)
	if !ok {
		return nil, fmt.Errorf("provider %q: settings of type %T", p.Name, p.Settings)
	}
	return s, nil
}
