package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"github.com/idbroker/idbroker/internal/loopback"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// source is the per-issuer state shared by the verifiers of one provider:
// discovery result and key cache. Keys of one issuer never verify another's
// tokens because every source has its own cache.
type source struct {
	issuer  string
	client  *http.Client
	timeout time.Duration
	logger  *slog.Logger

	keySet *tokenKeySet

	discGate   gate
	mu         sync.RWMutex
	discovered bool
	meta       discoveryMeta
}

// discoveryMeta is what the package uses of the discovery document.
type discoveryMeta struct {
	Issuer              string
	AuthURL             string
	TokenURL            string
	UserInfoURL         string
	JWKSURL             string
	IssParamSupported   bool
	CodeChallengeMethod []string
	TokenAuthMethods    []string
}

func newSource(cfg VerifierConfig) (*source, error) {
	if err := checkIssuerURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("oidc: issuer: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	timeout := orDuration(cfg.Timeout, DefaultTimeout)
	maxBytes := cfg.MaxResponseBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	s := &source{
		issuer:   cfg.Issuer,
		client:   newHTTPClient(cfg.HTTPClient, timeout, maxBytes),
		timeout:  timeout,
		logger:   logger,
		discGate: gate{interval: orDuration(cfg.DiscoveryRetryInterval, DefaultDiscoveryRetryInterval)},
	}
	if len(cfg.StaticKeys) > 0 {
		for i, k := range cfg.StaticKeys {
			switch k.(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey:
			default:
				return nil, fmt.Errorf("oidc: static key %d: unsupported type %T", i, k)
			}
		}
		s.keySet = &tokenKeySet{static: slices.Clone(cfg.StaticKeys)}
		return s, nil
	}
	s.keySet = &tokenKeySet{remote: &keyCache{
		client:   s.client,
		maxBytes: maxBytes,
		timeout:  timeout,
		ttl:      orDuration(cfg.KeysTTL, DefaultKeysTTL),
		hardTTL:  orDuration(cfg.KeysHardTTL, DefaultKeysHardTTL),
		logger:   logger,
		issuer:   cfg.Issuer,
		gate:     gate{interval: orDuration(cfg.JWKSRefreshInterval, DefaultJWKSRefreshInterval)},
		jwksURL: func(ctx context.Context) (string, error) {
			meta, err := s.discover(ctx)
			return meta.JWKSURL, err
		},
	}}
	return s, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// checkIssuerURL requires an absolute https URL (http only for loopback
// hosts) without query or fragment.
func checkIssuerURL(s string) error {
	if s == "" {
		return errors.New("must be set")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must be an absolute URL without query, fragment or user info")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback.Host(u.Hostname()) {
			return errors.New("must use https:// (http:// only for loopback addresses)")
		}
	default:
		return errors.New("must use https://")
	}
	return nil
}

// checkEndpointURL requires an absolute https URL (http on loopback).
func checkEndpointURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("must be an absolute URL")
	}
	if u.Scheme == "https" || (u.Scheme == "http" && loopback.Host(u.Hostname())) {
		return nil
	}
	return errors.New("must use https:// (http:// only for loopback addresses)")
}

// discover runs OIDC discovery once successfully; failures are retried on
// later calls, throttled, and are ErrKeyUnavailable.
func (s *source) discover(ctx context.Context) (discoveryMeta, error) {
	s.mu.RLock()
	done, m := s.discovered, s.meta
	s.mu.RUnlock()
	if done {
		return m, nil
	}
	err := s.discGate.run(ctx, s.timeout, func(ctx context.Context) error {
		meta, err := fetchDiscovery(ctx, s.client, s.issuer)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.meta, s.discovered = meta, true
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		if !errors.Is(err, errThrottled) {
			s.logger.Warn("oidc: discovery failed", "issuer", s.issuer, "error", err.Error())
		}
		return discoveryMeta{}, wrapErr(awsspec.ErrKeyUnavailable, err, "issuer %s", s.issuer)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta, nil
}

// fetchDiscovery runs OIDC discovery with go-oidc, which requires the
// document to name exactly this issuer, over the provider's capped HTTP
// client; it then reads the metadata go-oidc does not expose and checks
// that the endpoints used are https (or loopback http). The upstream body
// is never echoed in errors.
func fetchDiscovery(ctx context.Context, client *http.Client, issuer string) (discoveryMeta, error) {
	var meta discoveryMeta
	p, err := gooidc.NewProvider(gooidc.ClientContext(ctx, withoutErrorBodies(client)), issuer)
	if err != nil {
		var mismatch *gooidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return meta, fmt.Errorf("discovery document names issuer %s, not %s", quote(mismatch.Discovered), issuer)
		}
		return meta, fmt.Errorf("discovery: %w", err)
	}
	var extra struct {
		JWKSURL             string   `json:"jwks_uri"`
		IssParamSupported   bool     `json:"authorization_response_iss_parameter_supported"`
		CodeChallengeMethod []string `json:"code_challenge_methods_supported"`
		TokenAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&extra); err != nil {
		return meta, fmt.Errorf("decoding discovery document: %w", err)
	}
	ep := p.Endpoint()
	meta = discoveryMeta{
		Issuer:              issuer,
		AuthURL:             ep.AuthURL,
		TokenURL:            ep.TokenURL,
		UserInfoURL:         p.UserInfoEndpoint(),
		JWKSURL:             extra.JWKSURL,
		IssParamSupported:   extra.IssParamSupported,
		CodeChallengeMethod: extra.CodeChallengeMethod,
		TokenAuthMethods:    extra.TokenAuthMethods,
	}
	for name, ep := range map[string]string{"jwks_uri": meta.JWKSURL, "authorization_endpoint": meta.AuthURL, "token_endpoint": meta.TokenURL, "userinfo_endpoint": meta.UserInfoURL} {
		if ep == "" && name != "userinfo_endpoint" {
			return meta, fmt.Errorf("discovery document has no %s", name)
		}
		if ep != "" && checkEndpointURL(ep) != nil {
			return meta, fmt.Errorf("discovery document: %s is not an https URL", name)
		}
	}
	return meta, nil
}
