package saml

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
)

// AWSVerifierConfig configures verification of IdP-initiated SAML responses
// posted to the STS (AssumeRoleWithSAML).
type AWSVerifierConfig struct {
	// Metadata is the IdP's metadata source (exactly one of URL, File, XML).
	Metadata MetadataSource
	// Recipients are the accepted SubjectConfirmationData Recipient and
	// Response Destination values (default awsspec.SAMLRecipient). An STS
	// reached at its own URL passes awsspec.SAMLEndpoints.
	Recipients []string
	// Audiences are the accepted Audience values (default
	// awsspec.SAMLAudience and awsspec.SAMLRecipient).
	Audiences []string
	// AllowSHA1 accepts SHA-1 signature and digest algorithms.
	AllowSHA1 bool
	// ClockSkew (default 60s, at most 10m) and MaxIssueAge (default 5m,
	// AWS's "must be redeemed within 5 minutes of issuance"; at most 1h).
	ClockSkew, MaxIssueAge time.Duration
	// ReplayCache is required.
	ReplayCache ReplayCache
	// DecryptionKey opens encrypted assertions (nil: encrypted assertions are refused).
	DecryptionKey *rsa.PrivateKey
	// Now defaults to time.Now; Logger to a discarding logger.
	Now    func() time.Time
	Logger *slog.Logger
}

// AWSVerifier verifies SAMLAssertion values for AssumeRoleWithSAML.
type AWSVerifier struct {
	md     *metadataCache
	ver    *verifier
	logger *slog.Logger
}

// NewAWSVerifier builds an AWSVerifier. Static metadata is parsed now; a URL
// is fetched on first use and refreshed.
func NewAWSVerifier(cfg AWSVerifierConfig) (*AWSVerifier, error) {
	if cfg.ReplayCache == nil {
		return nil, fmt.Errorf("%w: a replay cache is required", providers.ErrConfiguration)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Recipients) == 0 {
		cfg.Recipients = []string{awsspec.SAMLRecipient}
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{awsspec.SAMLAudience, awsspec.SAMLRecipient}
	}
	if cfg.ClockSkew < 0 || cfg.ClockSkew > maxClockSkew || cfg.MaxIssueAge < 0 || cfg.MaxIssueAge > maxMaxIssueAge {
		return nil, fmt.Errorf("%w: clock skew must be between 0 and %s, issue age between 0 and %s",
			providers.ErrConfiguration, maxClockSkew, maxMaxIssueAge)
	}
	if cfg.Metadata.HTTPClient == nil {
		cfg.Metadata.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	md, err := newMetadataCache(cfg.Metadata, cfg.Logger, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", providers.ErrConfiguration, err)
	}
	return &AWSVerifier{
		md:     md,
		logger: cfg.Logger,
		ver: &verifier{
			recipients: cfg.Recipients,
			audiences:  cfg.Audiences,
			decryptKey: cfg.DecryptionKey,
			allowSHA1:  cfg.AllowSHA1,
			aws:        true,
			skew:       durationOr(cfg.ClockSkew, defaultClockSkew),
			maxAge:     durationOr(cfg.MaxIssueAge, defaultMaxIssueAge),
			now:        cfg.Now,
			replay:     cfg.ReplayCache,
		},
	}, nil
}

// VerifyOption adjusts one Verify call.
type VerifyOption func(*verifyRequest)

// WithReplayScope scopes the replay check: the same assertion may be redeemed
// once per scope (e.g. the RoleArn, as CLI tools reuse one assertion for
// several roles within its lifetime; STS-SPEC §5.4).
func WithReplayScope(scope string) VerifyOption {
	return func(r *verifyRequest) { r.replayScope = scope }
}

// WithCallerReplayClaim leaves the replay claim to the caller: Verify checks
// everything else but claims nothing in the ReplayCache, so the same
// assertion verifies again on the next call. Use it only when the caller
// itself claims the assertion ID atomically as the last step before acting
// on it (the STS does, after its role, trust-policy and duration checks), so
// that a request refused for reasons outside the assertion does not use it
// up (AWS lets such a call be retried). Without the caller's claim, this
// option makes assertions replayable.
func WithCallerReplayClaim() VerifyOption {
	return func(r *verifyRequest) { r.callerClaims = true }
}

// EntityID returns the IdP's entity ID (the expected Issuer), loading metadata if needed.
func (v *AWSVerifier) EntityID(ctx context.Context) (string, error) {
	md, err := v.md.get(ctx)
	if err != nil {
		return "", err
	}
	return md.EntityID, nil
}

// Refresh re-fetches URL metadata now.
func (v *AWSVerifier) Refresh(ctx context.Context) error { return v.md.Refresh(ctx) }

// Verify checks a base64 SAMLAssertion (at most 100,000 characters) and
// returns the assertion. Errors are *Error values (see the Err* classes),
// except an unreachable metadata URL or replay cache (ErrUnavailable).
func (v *AWSVerifier) Verify(ctx context.Context, b64 string, opts ...VerifyOption) (*Assertion, error) {
	a, err := v.verify(ctx, b64, opts)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			v.logger.WarnContext(ctx, "saml assertion rejected", "class", e.Class.Error(), "reason", e.Reason)
		} else {
			v.logger.WarnContext(ctx, "saml assertion not processed", "err", err.Error())
		}
		return nil, err
	}
	return a, nil
}

func (v *AWSVerifier) verify(ctx context.Context, b64 string, opts []VerifyOption) (*Assertion, error) {
	raw, err := decodeBase64(b64, maxSTSBase64)
	if err != nil {
		return nil, err
	}
	md, err := v.md.get(ctx)
	if err != nil {
		return nil, unavailable("idp metadata", err)
	}
	req := verifyRequest{idp: md}
	for _, o := range opts {
		o(&req)
	}
	return v.ver.verify(ctx, raw, req)
}
