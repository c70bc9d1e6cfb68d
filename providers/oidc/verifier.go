package oidc

import (
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
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
	// Issuer is the configured issuer, which go-oidc matched iss against.
	Issuer  string
	Subject string
	// ClientID is the configured client ID the token was accepted for:
	// azp when it names one, otherwise the first audience that does.
	ClientID string
	AZP      string
	Audience []string
	AMR      []string
	IssuedAt time.Time
	Expiry   time.Time
	// Claims holds every claim, decoded case-sensitively with duplicate
	// names refused; numbers are float64 as with encoding/json.
	Claims map[string]any

	notBefore time.Time       // nbf, zero when absent
	idToken   *gooidc.IDToken // go-oidc's view, for nonce and at_hash
}

// Verifier verifies JWTs from one issuer. It is safe for concurrent use.
type Verifier struct {
	src       *source
	idv       *gooidc.IDTokenVerifier // over src.keySet
	clientIDs []string
	// azpIsClient: an azp claim, when present, must be an accepted client
	// ID even with a single audience (the code flow's rule, OIDC Core
	// 3.1.3.7 step 5; presented tokens may carry another party's azp).
	azpIsClient bool
	now         func() time.Time
	skew        time.Duration
	maxAge      time.Duration
	maxLife     time.Duration
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
	v.idv = gooidc.NewVerifier(src.issuer, src.keySet, &gooidc.Config{
		SupportedSigningAlgs: algs,
		// go-oidc takes one ClientID and checks only that aud contains it;
		// the audience rule (several client IDs, azp, the client ID the
		// token is accepted for) has its one home in Verifier.audience.
		SkipClientIDCheck: true,
		// go-oidc's time checks (exp against Now, nbf with a fixed 5
		// minutes of leeway) cannot honour the configured skew, which
		// checkTimes applies to exp, nbf and iat alike. SkipExpiryCheck
		// skips both; go-oidc's Now is then unused.
		SkipExpiryCheck: true,
	})
	return v, nil
}

func (v *Verifier) acceptsClient(id string) bool {
	return slices.Contains(v.clientIDs, id)
}

// Issuer returns the issuer this verifier accepts.
func (v *Verifier) Issuer() string { return v.src.issuer }
