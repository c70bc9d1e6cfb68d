package sts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

// Config configures a Service. New validates it and reports every problem
// as a *ConfigError naming the key at fault.
//
// Key paths are spelled as in idbroker's configuration file (snake_case
// field names, [i] indexes): "account_id", "roles[2].trust_policy",
// "policies[0].document", "sts.oidc_providers[1].issuer". The entries of
// the lists say where they come from with their KeyPath ("roles[2]"); an
// entry without one is named by its index in the list here ("roles[i]",
// "policies[i]", "oidc_providers[i]", "saml_providers[i]").
type Config struct {
	// AccountID is the 12-digit account the STS plays.
	AccountID string
	// Partition is the ARN partition (aws, aws-cn, aws-us-gov, ...); "" means "aws".
	Partition string
	// Region is informational (the STS accepts SigV4 scopes of any region); "" means "us-east-1".
	Region string
	// PublicURL is where clients reach the STS (informational).
	PublicURL string
	// Roles are the roles that may be assumed.
	Roles []RoleConfig
	// ManagedPolicies are the customer managed policies of the account
	// (arn:<p>:iam::<acct>:policy/<name>), which roles attach by ARN and
	// requests name in PolicyArns.
	ManagedPolicies []ManagedPolicy
	// OIDCProviders are the registered OIDC identity providers.
	OIDCProviders []OIDCProvider
	// SAMLProviders are the registered SAML identity providers
	// (AssumeRoleWithSAML). The broker adds its own as "idbroker".
	SAMLProviders []SAMLProvider
	// SAMLReplayCache remembers redeemed SAML assertions; required when
	// SAMLProviders is not empty (internal/store.Store implements it).
	SAMLReplayCache ReplayCache
	// Keys seals session tokens and derives secrets. Required.
	Keys *KeyRing
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs and one audit record per issue or
	// refusal; nil discards. Tokens and secrets are never logged.
	Logger *slog.Logger
	// Audit, when set, is called for every issue and every refusal.
	Audit func(ctx context.Context, ev AuditEvent)
	// VerifyTimeout bounds a WebIdentityVerifier call; 0 means 10s.
	VerifyTimeout time.Duration
	// Revocations, when set, is asked on every SigV4-authenticated request
	// (Authenticate, SessionFromToken, every signed action) and before any
	// chaining whether the credentials are revoked; nil: none are.
	// internal/revocation.Set implements it.
	Revocations RevocationChecker
	// Limiter, when set, limits the credentials issued to requests made
	// to the Query API directly (limits.go); nil: no limit.
	Limiter IssueLimiter
	// Observer, when set, receives the Query API's measurements
	// (observe.go); nil: none.
	Observer Observer
	// MFA verifies the SerialNumber and TokenCode of AssumeRole (mfa.go);
	// nil: no MFA device exists, and every call that names one is refused.
	MFA MFAVerifier
}

// ConfigError is one problem of a Config: the key path of what is wrong
// (see Config) and why.
type ConfigError struct {
	Path string
	Err  error
}

func (e *ConfigError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// configProblems collects the problems of a Config.
type configProblems []error

func (p *configProblems) add(path string, err error) {
	*p = append(*p, &ConfigError{Path: path, Err: err})
}

func (p *configProblems) addf(path, format string, a ...any) {
	p.add(path, fmt.Errorf(format, a...))
}

// keyPath is the key path of entry i of a list: its own, or list[i].
func keyPath(own, list string, i int) string {
	if own != "" {
		return own
	}
	return fmt.Sprintf("%s[%d]", list, i)
}

// partitions are the ARN partitions of AWS.
var partitions = []string{"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"}

// Service is the STS. Create it with New; it is safe for concurrent use.
type Service struct {
	account, partition, region string
	now                        func() time.Time
	log                        *slog.Logger
	audit                      func(context.Context, AuditEvent)
	keys                       *KeyRing
	verifyTimeout              time.Duration
	revocations                RevocationChecker
	mfa                        MFAVerifier

	roles         map[string]*role // by role ARN
	managed       map[string]*policy.Policy
	providers     map[string]*oidcProvider // by issuer
	samlProviders []*samlProvider
	samlByARN     map[string]*samlProvider
	replay        ReplayCache

	issued atomic.Uint64
	// sigKeys caches derived SigV4 signing keys (see signingKeyCache).
	sigKeys signingKeyCache
	// resultBufs recycles the buffers of template-rendered results (*[]byte).
	resultBufs sync.Pool
	// sessionPolicies caches compiled inline session policies (Authorize).
	sessionPolicyCache *policy.Cache

	mu      sync.RWMutex
	actions map[string]ActionFunc // registered (broker-only) actions

	limiter  IssueLimiter
	observer Observer
}

// New validates cfg, parses every policy once and returns the Service. Its
// error joins one *ConfigError per problem (errors.Join), not only the first.
func New(cfg Config) (*Service, error) {
	s := &Service{
		account:            cfg.AccountID,
		partition:          cfg.Partition,
		region:             cfg.Region,
		now:                cfg.Now,
		log:                cfg.Logger,
		audit:              cfg.Audit,
		keys:               cfg.Keys,
		verifyTimeout:      cfg.VerifyTimeout,
		revocations:        cfg.Revocations,
		limiter:            cfg.Limiter,
		observer:           cfg.Observer,
		mfa:                cfg.MFA,
		roles:              map[string]*role{},
		managed:            map[string]*policy.Policy{},
		providers:          map[string]*oidcProvider{},
		samlByARN:          map[string]*samlProvider{},
		replay:             cfg.SAMLReplayCache,
		actions:            map[string]ActionFunc{},
		sessionPolicyCache: policy.NewCache(sessionPolicyCacheSize),
	}
	if s.partition == "" {
		s.partition = awsspec.DefaultPartition
	}
	if s.region == "" {
		s.region = "us-east-1"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.verifyTimeout == 0 {
		s.verifyTimeout = 10 * time.Second
	}
	var errs configProblems
	if !accountPattern.MatchString(cfg.AccountID) {
		errs.addf("account_id", "%q must be 12 digits", cfg.AccountID)
	}
	if !slices.Contains(partitions, s.partition) {
		errs.addf("partition", "%q is not an AWS partition (one of %v)", s.partition, partitions)
	}
	if cfg.Keys == nil || cfg.Keys.sealingKey() == nil {
		errs.addf("keys", "a key ring with at least one key is required")
	}
	if s.verifyTimeout < 0 {
		errs.addf("verify_timeout", "must not be negative")
	}
	for i, mp := range cfg.ManagedPolicies {
		s.compileManagedPolicy(mp, keyPath(mp.KeyPath, "policies", i), &errs)
	}
	seenNames := map[string]bool{}
	for i, rc := range cfg.Roles {
		path := keyPath(rc.KeyPath, "roles", i)
		r, ok := s.compileRole(rc, path, &errs)
		if r == nil {
			continue
		}
		lower := strings.ToLower(r.name)
		if seenNames[lower] {
			errs.addf(path+".name", "%q is defined twice (role names are case-insensitive)", r.name)
			continue
		}
		seenNames[lower] = true
		if ok {
			s.roles[r.arn] = r
		}
	}
	for i, pc := range cfg.OIDCProviders {
		path := keyPath(pc.KeyPath, "oidc_providers", i)
		p, ok := s.compileOIDCProvider(pc, path, &errs)
		if !ok {
			continue
		}
		if _, dup := s.providers[p.issuer]; dup {
			errs.addf(path+".issuer", "%q is registered twice", p.issuer)
			continue
		}
		s.providers[p.issuer] = p
	}
	for i, pc := range cfg.SAMLProviders {
		path := keyPath(pc.KeyPath, "saml_providers", i)
		p, ok := s.compileSAMLProvider(pc, path, &errs)
		if !ok {
			continue
		}
		if _, dup := s.samlByARN[p.arn]; dup {
			errs.addf(path+".name", "%q is already used", p.name)
			continue
		}
		s.samlByARN[p.arn] = p
		s.samlProviders = append(s.samlProviders, p)
	}
	if len(s.samlProviders) > 0 && s.replay == nil {
		errs.addf("saml_replay_cache", "required when SAML providers are registered")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Issued is the number of credentials minted since New (for tests and metrics).
func (s *Service) Issued() uint64 { return s.issued.Load() }
