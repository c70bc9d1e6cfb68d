package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
)

// samlSettings is a SAML provider block: providers/saml.Config (idp_metadata_url
// with metadata_refresh, or idp_metadata_file; groups_attribute;
// allow_idp_initiated; ...) plus the binding AuthnRequests are sent with.
type samlSettings struct {
	saml.Config `yaml:",inline"`
	// Binding is "redirect" (HTTP-Redirect, the default) or "post" (HTTP-POST).
	Binding string `yaml:"binding"`
}

// samlKind is an upstream SAML 2.0 IdP: SP-initiated sign-in at
// GET /login/<name>, the ACS at POST /saml/<name>/acs and our SP metadata at
// GET /saml/<name>/metadata, signed and encrypted with the broker's SAML key.
func samlKind() providerKind {
	return providerKind{
		settings: reflect.TypeOf(samlSettings{}),
		validate: func(s any) []error { return samlValidate(s.(*samlSettings)) },
		build: func(env buildEnv, p providerConfig) (any, error) {
			s, err := settingsAs[samlSettings](p)
			if err != nil {
				return nil, err
			}
			if p.Name == "idp" {
				return nil, errors.New("name: \"idp\" is reserved (/saml/idp/metadata is the broker's own IdP)")
			}
			if env.keys == nil || env.keys.SAMLKey == nil || env.keys.SAMLCert == nil {
				return nil, errors.New("the broker's SAML key pair is missing (run `idbroker keys init DIR`)")
			}
			prov, err := saml.New(s.Config, saml.Options{
				Name:        p.Name,
				PublicURL:   env.publicURL,
				Key:         env.keys.SAMLKey,
				Certificate: env.keys.SAMLCert,
				ReplayCache: prefixedReplay{store: env.store, prefix: "saml-acs\x00" + p.Name + "\x00"},
				Logger:      env.log,
			})
			if err != nil {
				return nil, err
			}
			return &broker.SAMLProvider{Provider: prov, Binding: samlBinding(s.Binding)}, nil
		},
	}
}

func samlBinding(name string) string {
	if name == "post" {
		return saml.BindingPOST
	}
	return saml.BindingRedirect
}

// samlValidate returns one error per bad key ("idp_metadata_url: ...").
func samlValidate(s *samlSettings) []error {
	var errs []error
	switch s.Binding {
	case "", "redirect", "post":
	default:
		errs = append(errs, fmt.Errorf("binding: %q must be redirect or post", s.Binding))
	}
	err := s.Config.Validate()
	if err == nil {
		return errs
	}
	// Validate returns fmt.Errorf("%w: %w", ErrConfiguration, errors.Join(...)).
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			if errors.Is(e, providers.ErrConfiguration) && e == providers.ErrConfiguration {
				continue
			}
			if j, ok := e.(interface{ Unwrap() []error }); ok {
				errs = append(errs, j.Unwrap()...)
			} else {
				errs = append(errs, e)
			}
		}
		return errs
	}
	return append(errs, err)
}

// replayStore is the part of internal/store the SAML replay caches use.
type replayStore interface {
	Claim(ctx context.Context, key string, until time.Time) (bool, error)
}

// prefixedReplay scopes a shared store's replay claims to one use, so the
// ACS of one provider, another provider and the STS never share keys.
type prefixedReplay struct {
	store  replayStore
	prefix string
}

// Claim claims prefix+key.
func (p prefixedReplay) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	if p.store == nil {
		return false, errors.New("no state store configured")
	}
	return p.store.Claim(ctx, p.prefix+key, until)
}

// newBrokerSAMLVerifier verifies the broker's own SAML Responses for the
// STS (saml-provider/idbroker): the broker's IdP metadata, Recipient
// <public_url>/saml only, AWS's audience, and the hardened providers/saml
// checks (exactly one assertion, signature placement, 5-minute window,
// replay per role).
func newBrokerSAMLVerifier(idp *broker.SAMLIdP, st replayStore, log *slog.Logger) (*samlAssertionVerifier, error) {
	v, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata:    saml.MetadataSource{XML: string(idp.Metadata())},
		Recipients:  []string{idp.Recipient()},
		Audiences:   []string{awsspec.SAMLAudience},
		ReplayCache: prefixedReplay{store: st, prefix: "saml-broker\x00"},
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("broker SAML provider: %w", err)
	}
	return &samlAssertionVerifier{v: v}, nil
}
