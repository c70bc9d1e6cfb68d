package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults for VerifierConfig.
const (
	DefaultClockSkew              = time.Minute
	DefaultMaxLifetime            = 24 * time.Hour
	DefaultJWKSRefreshInterval    = 30 * time.Second
	DefaultDiscoveryRetryInterval = 10 * time.Second
	DefaultKeysTTL                = time.Hour
	DefaultKeysHardTTL            = 24 * time.Hour
	// MaxTokenBytes is the largest token Verify looks at.
	MaxTokenBytes = 64 << 10
	maxKIDBytes   = 256
)

// VerifierConfig configures a Verifier for one issuer.
type VerifierConfig struct {
	// Issuer is the exact issuer URL; the token's iss must equal it.
	Issuer string
	// ClientIDs lists accepted audiences. The token's aud must contain one
	// of them; with several audiences, azp must be present and be one of them.
	ClientIDs []string
	// HTTPClient is used for discovery and JWKS (nil: a default client). It
	// is copied and wrapped with the timeout and response size cap.
	HTTPClient *http.Client
	// StaticKeys, when set, are the only keys trusted (*rsa.PublicKey or
	// *ecdsa.PublicKey); no discovery or JWKS request is ever made.
	StaticKeys []crypto.PublicKey
	// Now is the clock for claim checks (nil: time.Now).
	Now func() time.Time
	// Logger receives operational warnings (nil: discarded). Tokens are never logged.
	Logger *slog.Logger

	// ClockSkew is tolerated on exp, nbf and iat (0: DefaultClockSkew).
	ClockSkew time.Duration
	// MaxAge rejects tokens whose iat is older than this (0: no limit).
	MaxAge time.Duration
	// MaxLifetime rejects tokens whose exp-iat exceeds it (0:
	// DefaultMaxLifetime, negative: no limit).
	MaxLifetime time.Duration
	// Timeout bounds each discovery or JWKS request when HTTPClient has no
	// timeout of its own (0: DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes caps discovery and JWKS bodies (0: DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// JWKSRefreshInterval is the minimum time between two JWKS fetches
	// caused by unknown kids (0: DefaultJWKSRefreshInterval).
	JWKSRefreshInterval time.Duration
	// DiscoveryRetryInterval is the minimum time between discovery
	// attempts after a failure (0: DefaultDiscoveryRetryInterval).
	DiscoveryRetryInterval time.Duration
	// KeysTTL: cached keys older than this are refreshed on use (0:
	// DefaultKeysTTL); if that refresh fails they are still used until
	// KeysHardTTL (0: DefaultKeysHardTTL).
	KeysTTL, KeysHardTTL time.Duration
}

// Token is a verified token's content.
type Token struct {
	Issuer   string
	Subject  string
	AZP      string
	Audience []string
	AMR      []string
	IssuedAt time.Time
	Expiry   time.Time
	// Claims holds every claim, decoded case-sensitively with duplicates
	// refused; numbers are float64 as with encoding/json.
	Claims map[string]any

	alg string // the JWS algorithm, for at_hash
}

// Verifier verifies JWTs from one issuer. It is safe for concurrent use.
type Verifier struct {
	src       *source
	clientIDs []string
	now       func() time.Time
	skew      time.Duration
	maxAge    time.Duration
	maxLife   time.Duration
}

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

type discoveryMeta struct {
	Issuer              string   `json:"issuer"`
	AuthURL             string   `json:"authorization_endpoint"`
	TokenURL            string   `json:"token_endpoint"`
	UserInfoURL         string   `json:"userinfo_endpoint"`
	JWKSURL             string   `json:"jwks_uri"`
	IssParamSupported   bool     `json:"authorization_response_iss_parameter_supported"`
	CodeChallengeMethod []string `json:"code_challenge_methods_supported"`
	TokenAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
}

// NewVerifier checks the configuration and returns a Verifier. It performs
// no network I/O: discovery happens on first use and is retried (no more
// often than DiscoveryRetryInterval) after a failure.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	src, err := newSource(cfg)
	if err != nil {
		return nil, err
	}
	return newVerifierOn(src, cfg)
}

func newVerifierOn(src *source, cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.ClientIDs) == 0 {
		return nil, fmt.Errorf("oidc: verifier for %s: no client IDs", cfg.Issuer)
	}
	for _, id := range cfg.ClientIDs {
		if id == "" {
			return nil, fmt.Errorf("oidc: verifier for %s: empty client ID", cfg.Issuer)
		}
	}
	v := &Verifier{
		src:       src,
		clientIDs: slices.Clone(cfg.ClientIDs),
		now:       cfg.Now,
		skew:      cfg.ClockSkew,
		maxAge:    cfg.MaxAge,
		maxLife:   cfg.MaxLifetime,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.skew <= 0 {
		v.skew = DefaultClockSkew
	}
	if v.maxLife == 0 {
		v.maxLife = DefaultMaxLifetime
	}
	return v, nil
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
	} else {
		kc := &keyCache{
			client:   s.client,
			maxBytes: maxBytes,
			timeout:  timeout,
			ttl:      orDuration(cfg.KeysTTL, DefaultKeysTTL),
			hardTTL:  orDuration(cfg.KeysHardTTL, DefaultKeysHardTTL),
			logger:   logger,
			issuer:   cfg.Issuer,
			gate:     gate{interval: orDuration(cfg.JWKSRefreshInterval, DefaultJWKSRefreshInterval)},
		}
		kc.url = func() string {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return s.meta.JWKSURL
		}
		s.keySet = &tokenKeySet{remote: kc}
	}
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
		if !isLoopback(u.Hostname()) {
			return errors.New("must use https:// (http:// only for loopback addresses)")
		}
	default:
		return errors.New("must use https://")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	return strings.HasPrefix(host, "127.") || host == "::1"
}

// discover runs OIDC discovery once successfully; failures are retried on
// later calls, throttled.
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
		return discoveryMeta{}, wrapErr(ErrKeyUnavailable, err, "issuer %s", s.issuer)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta, nil
}

// fetchDiscovery GETs <issuer>/.well-known/openid-configuration and checks
// that it names exactly this issuer and https (or loopback http) endpoints.
// The upstream body is never echoed in errors.
func fetchDiscovery(ctx context.Context, client *http.Client, issuer string) (discoveryMeta, error) {
	var meta discoveryMeta
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return meta, fmt.Errorf("discovery request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return meta, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return meta, fmt.Errorf("reading discovery document: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return meta, fmt.Errorf("discovery: HTTP status %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		return meta, fmt.Errorf("decoding discovery document: %w", err)
	}
	if meta.Issuer != issuer {
		return meta, fmt.Errorf("discovery document names issuer %s, not %s", quote(meta.Issuer), issuer)
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

// checkEndpointURL requires an absolute https URL (http on loopback).
func checkEndpointURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return errors.New("must be an absolute URL")
	}
	if u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil
	}
	return errors.New("must use https:// (http:// only for loopback addresses)")
}

// Verify checks raw's form, algorithm, signature (with this issuer's keys
// only), iss, aud/azp, exp, nbf and iat, and returns its content. Errors
// wrap exactly one of ErrExpired, ErrKeyUnavailable, ErrAudience,
// ErrInvalid and never contain the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	return v.verify(ctx, raw)
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Token, error) {
	// The token is decoded once: header and claims strictly (precheck),
	// then the signature is checked over the raw signing input with this
	// issuer's keys, and only then are the claims looked at.
	jws, err := precheck(raw, v.src.issuer)
	if err != nil {
		return nil, err
	}
	if v.src.keySet.remote != nil {
		if _, err := v.src.discover(ctx); err != nil {
			return nil, err
		}
	}
	if err := v.src.keySet.verify(ctx, jws); err != nil {
		return nil, err
	}
	tok, err := v.checkClaims(jws.claims)
	if err != nil {
		return nil, err
	}
	tok.alg = jws.alg
	return tok, nil
}

// b64url is the strict unpadded base64url decoding of JWS segments.
var b64url = base64.RawURLEncoding.Strict()

// compactJWS is a token split and decoded by precheck; the signature is
// not yet verified.
type compactJWS struct {
	alg, kid     string
	signingInput string // header "." payload, as sent
	sig          []byte
	claims       map[string]any // strictly decoded, numbers as json.Number
}

// precheck enforces the compact form, size and header rules before any key
// lookup, decodes header and claims strictly, and rejects tokens of another
// issuer without touching the keys.
func precheck(raw, issuer string) (*compactJWS, error) {
	if len(raw) > MaxTokenBytes {
		return nil, errorf(ErrInvalid, "token larger than %d bytes", MaxTokenBytes)
	}
	if raw == "" {
		return nil, errorf(ErrInvalid, "empty token")
	}
	if strings.Count(raw, ".") != 2 {
		return nil, errorf(ErrInvalid, "not a compact JWS (3 dot-separated parts)")
	}
	d1 := strings.IndexByte(raw, '.')
	d2 := d1 + 1 + strings.IndexByte(raw[d1+1:], '.')
	parts := [3]string{raw[:d1], raw[d1+1 : d2], raw[d2+1:]}
	for i, p := range parts {
		if p == "" {
			return nil, errorf(ErrInvalid, "empty JWS segment %d", i)
		}
	}
	// b64url refuses every byte outside the base64url alphabet, padding
	// and non-zero trailing bits, except CR and LF, which the decoder
	// skips: refuse those here.
	if strings.IndexByte(raw, '\n') >= 0 || strings.IndexByte(raw, '\r') >= 0 {
		return nil, errorf(ErrInvalid, "JWS segment is not base64url")
	}
	hb, err := b64url.DecodeString(parts[0])
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "header encoding")
	}
	hdr, err := decodeObject(hb)
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "header")
	}
	alg, _, err := stringClaim(hdr, "alg")
	if err != nil || !algAllowed(alg) {
		return nil, errorf(ErrInvalid, "algorithm %s not allowed", quote(alg))
	}
	if _, ok := hdr["crit"]; ok {
		return nil, errorf(ErrInvalid, "crit header not supported")
	}
	if _, ok := hdr["b64"]; ok {
		return nil, errorf(ErrInvalid, "b64 header not supported")
	}
	if _, ok := hdr["enc"]; ok {
		return nil, errorf(ErrInvalid, "encrypted tokens not supported")
	}
	if typ, present, err := stringClaim(hdr, "typ"); err != nil || (present && !typeAllowed(typ)) {
		return nil, errorf(ErrInvalid, "token type %s not accepted", quote(typ))
	}
	kid, present, err := stringClaim(hdr, "kid")
	if err != nil || (present && (kid == "" || len(kid) > maxKIDBytes)) {
		return nil, errorf(ErrInvalid, "kid is not a short non-empty string")
	}
	pb, err := b64url.DecodeString(parts[1])
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "payload encoding")
	}
	claims, err := decodeObject(pb)
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "claims")
	}
	iss, _, err := stringClaim(claims, "iss")
	if err != nil || iss != issuer {
		return nil, errorf(ErrInvalid, "issuer %s is not %s", quote(iss), issuer)
	}
	sig, err := b64url.DecodeString(parts[2])
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "signature encoding")
	}
	return &compactJWS{alg: alg, kid: kid, signingInput: raw[:d2], sig: sig, claims: claims}, nil
}

// typeAllowed accepts an absent typ or a plain JWT type; explicitly typed
// other JWTs (at+jwt, logout+jwt, secevent+jwt, ...) are refused.
func typeAllowed(typ string) bool {
	switch strings.ToLower(typ) {
	case "jwt", "application/jwt":
		return true
	}
	return false
}

func (v *Verifier) checkClaims(claims map[string]any) (*Token, error) {
	t := &Token{Claims: claims}
	var err error
	var present bool
	if t.Issuer, _, err = stringClaim(claims, "iss"); err != nil || t.Issuer != v.src.issuer {
		return nil, errorf(ErrInvalid, "issuer %s is not %s", quote(t.Issuer), v.src.issuer)
	}
	if t.Subject, _, err = stringClaim(claims, "sub"); err != nil || t.Subject == "" {
		return nil, errorf(ErrInvalid, "sub missing or not a non-empty string")
	}
	if t.Audience, present, err = stringListClaim(claims, "aud"); err != nil || !present || len(t.Audience) == 0 {
		return nil, errorf(ErrInvalid, "aud missing or not a string or list of strings")
	}
	if t.AZP, present, err = stringClaim(claims, "azp"); err != nil || (present && t.AZP == "") {
		return nil, errorf(ErrInvalid, "azp is not a non-empty string")
	}
	if t.AMR, _, err = stringListClaim(claims, "amr"); err != nil {
		return nil, wrapErr(ErrInvalid, err, "")
	}
	exp, present, err := numericDate(claims, "exp")
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "")
	}
	if !present {
		return nil, errorf(ErrInvalid, "exp missing")
	}
	t.Expiry = exp
	iat, present, err := numericDate(claims, "iat")
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "")
	}
	if !present {
		return nil, errorf(ErrInvalid, "iat missing")
	}
	t.IssuedAt = iat
	nbf, nbfPresent, err := numericDate(claims, "nbf")
	if err != nil {
		return nil, wrapErr(ErrInvalid, err, "")
	}
	if err := checkOIDCClaimTypes(claims); err != nil {
		return nil, wrapErr(ErrInvalid, err, "")
	}

	// Audience: one of ours; with several, azp decides.
	if !slices.ContainsFunc(t.Audience, v.acceptsClient) {
		return nil, errorf(ErrAudience, "audience %s not accepted", quote(strings.Join(t.Audience, ",")))
	}
	if len(t.Audience) > 1 {
		if t.AZP == "" {
			return nil, errorf(ErrAudience, "several audiences and no azp")
		}
		if !v.acceptsClient(t.AZP) {
			return nil, errorf(ErrAudience, "azp %s not accepted", quote(t.AZP))
		}
	}

	now := v.now()
	if !now.Before(exp.Add(v.skew)) {
		return nil, errorf(ErrExpired, "expired at %s", exp.Format(time.RFC3339))
	}
	if nbfPresent && now.Add(v.skew).Before(nbf) {
		return nil, errorf(ErrInvalid, "not valid before %s", nbf.Format(time.RFC3339))
	}
	if now.Add(v.skew).Before(iat) {
		return nil, errorf(ErrInvalid, "issued in the future (%s)", iat.Format(time.RFC3339))
	}
	if exp.Before(iat) {
		return nil, errorf(ErrInvalid, "exp before iat")
	}
	if v.maxLife > 0 && exp.Sub(iat) > v.maxLife {
		return nil, errorf(ErrInvalid, "lifetime %s exceeds %s", exp.Sub(iat), v.maxLife)
	}
	if v.maxAge > 0 && now.Sub(iat) > v.maxAge+v.skew {
		return nil, errorf(ErrInvalid, "issued too long ago (%s)", iat.Format(time.RFC3339))
	}
	normalizeNumbers(claims)
	return t, nil
}

func (v *Verifier) acceptsClient(id string) bool {
	return slices.Contains(v.clientIDs, id)
}

// Issuer returns the issuer this verifier accepts.
func (v *Verifier) Issuer() string { return v.src.issuer }

// checkOIDCClaimTypes refuses what go-oidc's claim decoding refused when it
// verified tokens for us: a non-string nonce or at_hash, and distributed
// claims whose _claim_names do not name a source in _claim_sources.
func checkOIDCClaimTypes(claims map[string]any) error {
	for _, name := range []string{"nonce", "at_hash"} {
		if _, _, err := stringClaim(claims, name); err != nil {
			return err
		}
	}
	var sources map[string]any
	if raw, ok := claims["_claim_sources"]; ok {
		m, ok := raw.(map[string]any)
		if !ok {
			return errors.New("claim _claim_sources is not an object")
		}
		for _, src := range m {
			obj, ok := src.(map[string]any)
			if !ok {
				return errors.New("claim _claim_sources has a non-object source")
			}
			for _, f := range []string{"endpoint", "access_token"} {
				if _, _, err := stringClaim(obj, f); err != nil {
					return errors.New("claim _claim_sources has a non-string " + f)
				}
			}
		}
		sources = m
	}
	if raw, ok := claims["_claim_names"]; ok {
		m, ok := raw.(map[string]any)
		if !ok {
			return errors.New("claim _claim_names is not an object")
		}
		for _, src := range m {
			name, ok := src.(string)
			if !ok || name == "" {
				return errors.New("claim _claim_names has an empty or non-string source")
			}
			if _, ok := sources[name]; !ok {
				return errors.New("claim _claim_names names a source missing from _claim_sources")
			}
		}
	}
	return nil
}
