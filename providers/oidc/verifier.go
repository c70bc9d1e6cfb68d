package oidc

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
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

	notBefore time.Time       // nbf, zero when absent
	idToken   *gooidc.IDToken // go-oidc's view, for at_hash
}

// Verifier verifies JWTs from one issuer. It is safe for concurrent use.
type Verifier struct {
	src       *source
	idv       *gooidc.IDTokenVerifier // over src.keySet
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
	algs := make([]string, len(allowedAlgs))
	for i, a := range allowedAlgs {
		algs[i] = string(a)
	}
	gcfg := &gooidc.Config{
		SupportedSigningAlgs: algs,
		// go-oidc's time checks (exp against Now, nbf with a fixed 5
		// minutes of leeway) cannot honour the configured skew, which
		// checkTimes applies to exp, nbf and iat alike. SkipExpiryCheck
		// skips both; go-oidc's Now is then unused.
		SkipExpiryCheck: true,
	}
	// go-oidc takes one ClientID: with one accepted audience it checks aud
	// itself; with several, checkClaims does (aud, then azp).
	if len(v.clientIDs) == 1 {
		gcfg.ClientID = v.clientIDs[0]
	} else {
		gcfg.SkipClientIDCheck = true
	}
	v.idv = gooidc.NewVerifier(src.issuer, src.keySet, gcfg)
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
//
// go-oidc's IDTokenVerifier parses the token, checks the algorithm
// against the allow-list, has the issuer's key set verify the signature,
// and checks iss and (with one client ID) aud. Around it the package adds
// what go-oidc leaves to the caller: a policy precheck before any key is
// used (size, strict encoding and JSON, header rules, iss), and after it
// strict claim types, aud/azp with several client IDs, exp, nbf and iat
// with the configured skew, lifetime and age limits.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Token, error) {
	return v.verify(ctx, raw)
}

func (v *Verifier) verify(ctx context.Context, raw string) (*Token, error) {
	pre, err := precheck(raw, v.src.issuer)
	if err != nil {
		return nil, err
	}
	if v.src.keySet.remote != nil {
		if _, err := v.src.discover(ctx); err != nil {
			return nil, err
		}
	}
	st := &verifyState{}
	idt, oidcErr := v.idv.Verify(context.WithValue(ctx, verifyStateKey{}, st), raw)
	if st.payload == nil {
		// go-oidc stopped at or before the signature: nothing in the token
		// is authenticated.
		if st.err != nil {
			return nil, st.err
		}
		if oidcErr == nil {
			oidcErr = errors.New("signature was not checked")
		}
		return nil, wrapErr(ErrInvalid, boundedError{oidcErr}, "")
	}
	// The signature is good: the payload is the issuer's. precheck
	// decoded the same segment strictly (a strictly encoded segment has
	// one decoding), so its claims are the verified ones.
	if !bytes.Equal(st.payload, pre.payload) {
		return nil, errorf(ErrInvalid, "verified payload differs from the prechecked one")
	}
	claims := pre.claims
	// Malformed claims and audience come before go-oidc's verdict, so that
	// an ill-typed or foreign token is ErrInvalid or ErrAudience whatever
	// go-oidc (which reads the claims loosely) made of it.
	tok, err := v.checkClaims(claims)
	if err != nil {
		return nil, err
	}
	if oidcErr != nil {
		return nil, wrapErr(ErrInvalid, boundedError{oidcErr}, "")
	}
	if err := agree(tok, idt); err != nil {
		return nil, err
	}
	if err := v.checkTimes(tok); err != nil {
		return nil, err
	}
	normalizeNumbers(claims)
	tok.idToken = idt
	return tok, nil
}

// b64url is the strict unpadded base64url decoding of JWS segments.
var b64url = base64.RawURLEncoding.Strict()

// prechecked is a token that passed precheck; its signature is not yet
// verified.
type prechecked struct {
	payload []byte
	claims  map[string]any // strictly decoded, numbers as json.Number
}

// precheck is the package's policy on a token before any key is used or
// go-oidc looks at it: a size cap; the compact form with strict unpadded
// base64url segments (one encoding per token, so none can be altered
// without breaking the signature); header and claims strict JSON (exact
// names, no duplicates, bounded depth); an allowed alg, no crit, b64 or
// enc, a plain JWT typ, a short kid; and this issuer's iss, so tokens of
// other issuers never reach the key set.
func precheck(raw, issuer string) (*prechecked, error) {
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
	// The signature is only checked for strict encoding here; go-jose
	// decodes and verifies it.
	var sigBuf [512]byte // RSA 4096: 512 bytes; larger signatures allocate
	buf := sigBuf[:]
	if n := b64url.DecodedLen(len(parts[2])); n > len(buf) {
		buf = make([]byte, n)
	}
	if _, err := b64url.Decode(buf, []byte(parts[2])); err != nil {
		return nil, wrapErr(ErrInvalid, err, "signature encoding")
	}
	return &prechecked{payload: pb, claims: claims}, nil
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

// checkClaims reads the registered claims strictly (types, presence) and
// checks iss and the audience: one of the client IDs, and with several
// audiences an azp that is one of them.
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
	for _, name := range []string{"nonce", "at_hash"} {
		if _, _, err := stringClaim(claims, name); err != nil {
			return nil, wrapErr(ErrInvalid, err, "")
		}
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
	if t.notBefore, _, err = numericDate(claims, "nbf"); err != nil {
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
	return t, nil
}

// checkTimes checks the time claims with the configured skew (go-oidc's
// own check is off): exp first, so that an expired token is ErrExpired
// whatever else is wrong with its times, then nbf and iat not in the
// future, and the lifetime and age limits.
//
// An expired token's error holds go-oidc's TokenExpiredError, as it would
// if go-oidc had refused it.
func (v *Verifier) checkTimes(t *Token) error {
	now := v.now()
	if !now.Before(t.Expiry.Add(v.skew)) {
		return wrapErr(ErrExpired, &gooidc.TokenExpiredError{Expiry: t.Expiry}, "")
	}
	if !t.notBefore.IsZero() && now.Add(v.skew).Before(t.notBefore) {
		return errorf(ErrInvalid, "not valid before %s", t.notBefore.Format(time.RFC3339))
	}
	if now.Add(v.skew).Before(t.IssuedAt) {
		return errorf(ErrInvalid, "issued in the future (%s)", t.IssuedAt.Format(time.RFC3339))
	}
	if t.Expiry.Before(t.IssuedAt) {
		return errorf(ErrInvalid, "exp before iat")
	}
	if v.maxLife > 0 && t.Expiry.Sub(t.IssuedAt) > v.maxLife {
		return errorf(ErrInvalid, "lifetime %s exceeds %s", t.Expiry.Sub(t.IssuedAt), v.maxLife)
	}
	if v.maxAge > 0 && now.Sub(t.IssuedAt) > v.maxAge+v.skew {
		return errorf(ErrInvalid, "issued too long ago (%s)", t.IssuedAt.Format(time.RFC3339))
	}
	return nil
}

// agree refuses a token that go-oidc, decoding with encoding/json (which
// matches member names case-insensitively and keeps the last of
// duplicates), reads differently from the strict decoding, e.g. one with
// both "sub" and "Sub".
func agree(t *Token, idt *gooidc.IDToken) error {
	nonce, _ := t.Claims["nonce"].(string)
	atHash, _ := t.Claims["at_hash"].(string)
	if idt.Issuer != t.Issuer || idt.Subject != t.Subject || !slices.Equal(idt.Audience, t.Audience) ||
		!idt.Expiry.Equal(t.Expiry) || !idt.IssuedAt.Equal(t.IssuedAt) ||
		idt.Nonce != nonce || idt.AccessTokenHash != atHash {
		return errorf(ErrInvalid, "claims are ambiguous (names differing only in case)")
	}
	return nil
}

// verifyAccessToken checks the at_hash claim against an access token with
// go-oidc (OIDC Core 3.1.3.6).
func (t *Token) verifyAccessToken(accessToken string) error {
	if t.idToken == nil {
		return errors.New("token was not verified")
	}
	return t.idToken.VerifyAccessToken(accessToken)
}

func (v *Verifier) acceptsClient(id string) bool {
	return slices.Contains(v.clientIDs, id)
}

// Issuer returns the issuer this verifier accepts.
func (v *Verifier) Issuer() string { return v.src.issuer }
