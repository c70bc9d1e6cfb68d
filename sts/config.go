package sts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/sts/policy"
)

// Config configures a Service. New validates it; every error names the field.
type Config struct {
	// AccountID is the 12-digit account the STS plays.
	AccountID string
	// Partition is the ARN partition; "" means "aws".
	Partition string
	// Region is informational (the STS accepts SigV4 scopes of any region); "" means "us-east-1".
	Region string
	// PublicURL is where clients reach the STS (informational).
	PublicURL string
	// Roles are the roles that may be assumed.
	Roles []RoleConfig
	// ManagedPolicies maps a policy name to its JSON document; its ARN is
	// arn:<p>:iam::<acct>:policy/<name>.
	ManagedPolicies map[string][]byte
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
}

// RoleConfig is one assumable role.
type RoleConfig struct {
	// Name is the role name, 1-64 characters of [\w+=,.@-].
	Name string
	// Path is the IAM path, "/" when empty; must start and end with "/".
	Path string
	// MaxSessionDuration is 1h..12h; 0 means 1h.
	MaxSessionDuration time.Duration
	// TrustPolicy is the role's trust policy (JSON, IAM grammar).
	TrustPolicy []byte
	// Policies are inline permission policies (JSON).
	Policies [][]byte
	// PolicyARNs are managed policies of this account attached to the role.
	PolicyARNs []string
}

// OIDCProvider is a registered OIDC identity provider
// (arn:<p>:iam::<acct>:oidc-provider/<issuer host+path>).
type OIDCProvider struct {
	// Issuer is the exact "iss" of its tokens: https://host[/path]
	// (http:// only on loopback hosts, for tests and demos).
	Issuer string
	// ClientIDs are the accepted audiences (1-100).
	ClientIDs []string
	// Verifier verifies the provider's tokens.
	Verifier WebIdentityVerifier
}

// Service is the STS. Create it with New; it is safe for concurrent use.
type Service struct {
	account, partition, region string
	now                        func() time.Time
	log                        *slog.Logger
	audit                      func(context.Context, AuditEvent)
	keys                       *KeyRing
	verifyTimeout              time.Duration

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
}

type role struct {
	name, path, arn, id string
	maxDuration         time.Duration
	trust               *policy.Policy
	policies            []*policy.Policy // inline then managed
}

type oidcProvider struct {
	issuer    string
	hostPath  string // issuer without scheme: condition-key prefix
	arn       string
	clientIDs map[string]bool
	verifier  WebIdentityVerifier
}

var (
	accountPattern    = regexp.MustCompile(`^[0-9]{12}$`)
	partitionPattern  = regexp.MustCompile(`^aws(-[a-z]+)*$`)
	roleNamePattern   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	rolePathPattern   = regexp.MustCompile(`^/([\x21-\x7E]*/)?$`)
	policyNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	// samlProviderNamePattern: IAM SAMLProviderNameType.
	samlProviderNamePattern = regexp.MustCompile(`^[\w._-]{1,128}$`)
)

// New validates cfg, parses every policy once and returns the Service.
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
	// Every problem is reported, not only the first.
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf("sts: "+format, a...)) }
	if !accountPattern.MatchString(cfg.AccountID) {
		fail("AccountID %q: must be 12 digits", cfg.AccountID)
	}
	if !partitionPattern.MatchString(s.partition) {
		fail("Partition %q: must look like aws, aws-cn, aws-us-gov", s.partition)
	}
	if cfg.Keys == nil || cfg.Keys.sealingKey() == nil {
		fail("Keys: a key ring with at least one key is required")
	}
	if s.verifyTimeout < 0 {
		fail("VerifyTimeout: must not be negative")
	}
	names := make([]string, 0, len(cfg.ManagedPolicies))
	for name := range cfg.ManagedPolicies {
		names = append(names, name)
	}
	slices.Sort(names) // errors in a stable order
	for _, name := range names {
		if !policyNamePattern.MatchString(name) {
			fail("ManagedPolicies[%q]: invalid policy name", name)
			continue
		}
		arn := s.managedPolicyARN(name)
		p, err := policy.Parse(cfg.ManagedPolicies[name], policy.Identity)
		if err == nil {
			err = policy.CheckManagedPolicySize(cfg.ManagedPolicies[name])
		}
		if err != nil {
			fail("ManagedPolicies[%q]: %w", name, err)
			// Known but broken: roles attaching it are not blamed again
			// (New fails, so the nil never serves).
			s.managed[arn] = nil
			continue
		}
		p.SetName(arn)
		s.managed[arn] = p
	}
	seenNames := map[string]bool{}
	for i, rc := range cfg.Roles {
		r, rerrs := s.compileRole(rc)
		for _, err := range rerrs {
			fail("Roles[%d]: %w", i, err)
		}
		if r == nil {
			continue
		}
		if seenNames[strings.ToLower(r.name)] {
			fail("Roles[%d] %q: duplicate role name (names are case-insensitive)", i, r.name)
			continue
		}
		seenNames[strings.ToLower(r.name)] = true
		if len(rerrs) == 0 {
			s.roles[r.arn] = r
		}
	}
	for i, pc := range cfg.OIDCProviders {
		p, err := s.compileOIDCProvider(pc)
		if err != nil {
			fail("OIDCProviders[%d]: %w", i, err)
			continue
		}
		if _, dup := s.providers[p.issuer]; dup {
			fail("OIDCProviders[%d]: duplicate Issuer %q", i, p.issuer)
			continue
		}
		s.providers[p.issuer] = p
	}
	for i, pc := range cfg.SAMLProviders {
		p, err := s.compileSAMLProvider(pc)
		if err != nil {
			fail("SAMLProviders[%d]: %w", i, err)
			continue
		}
		if _, dup := s.samlByARN[p.arn]; dup {
			fail("SAMLProviders[%d]: duplicate Name %q", i, p.name)
			continue
		}
		s.samlByARN[p.arn] = p
		s.samlProviders = append(s.samlProviders, p)
	}
	if len(s.samlProviders) > 0 && s.replay == nil {
		fail("SAMLReplayCache: required when SAMLProviders are registered")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// compileRole compiles one role. It returns every problem of the role; the
// role is nil when even its name or path is unusable.
func (s *Service) compileRole(rc RoleConfig) (*role, []error) {
	if !roleNamePattern.MatchString(rc.Name) {
		return nil, []error{fmt.Errorf("Name %q: must be 1-64 characters of [\\w+=,.@-]", rc.Name)}
	}
	var errs []error
	r := &role{name: rc.Name, path: rc.Path, maxDuration: rc.MaxSessionDuration}
	if r.path == "" {
		r.path = "/"
	}
	if len(r.path) > 512 || !rolePathPattern.MatchString(r.path) {
		return nil, []error{fmt.Errorf("role %q: Path %q: must start and end with / (at most 512 printable ASCII characters)", rc.Name, rc.Path)}
	}
	if r.maxDuration == 0 {
		r.maxDuration = awsspec.DefaultRoleMaxSessionDuration
	}
	if r.maxDuration < awsspec.MinRoleMaxSessionDuration || r.maxDuration > awsspec.MaxSessionDuration || r.maxDuration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("role %q: MaxSessionDuration %v: must be whole seconds between 1h and 12h", rc.Name, rc.MaxSessionDuration))
	}
	r.arn = awsspec.RoleARN(s.partition, s.account, r.path, r.name)
	r.id = roleID(s.account, r.arn)
	if len(rc.TrustPolicy) == 0 {
		errs = append(errs, fmt.Errorf("role %q: TrustPolicy: required", rc.Name))
	} else if trust, err := policy.Parse(rc.TrustPolicy, policy.Trust); err != nil {
		errs = append(errs, fmt.Errorf("role %q: TrustPolicy: %w", rc.Name, err))
	} else {
		trust.SetName(r.arn + " (trust policy)")
		r.trust = trust
	}
	// The role's trust policy is not held to IAM's 2,048 characters here:
	// the broker appends its own statements to it (cmd/idbroker), and IAM
	// lets that quota be raised.
	if err := policy.CheckRoleInlinePolicySize(rc.Policies); err != nil {
		errs = append(errs, fmt.Errorf("role %q: Policies: %w", rc.Name, err))
	}
	for j, doc := range rc.Policies {
		p, err := policy.Parse(doc, policy.Identity)
		if err != nil {
			errs = append(errs, fmt.Errorf("role %q: Policies[%d]: %w", rc.Name, j, err))
			continue
		}
		p.SetName(fmt.Sprintf("%s (inline %d)", r.arn, j))
		r.policies = append(r.policies, p)
	}
	for j, arn := range rc.PolicyARNs {
		p, ok := s.managed[arn]
		if !ok {
			errs = append(errs, fmt.Errorf("role %q: PolicyARNs[%d] %q: no such managed policy in ManagedPolicies", rc.Name, j, arn))
			continue
		}
		if p == nil {
			continue // a broken managed policy, reported already
		}
		r.policies = append(r.policies, p)
	}
	return r, errs
}

func (s *Service) compileOIDCProvider(pc OIDCProvider) (*oidcProvider, error) {
	u, err := url.Parse(pc.Issuer)
	if err != nil {
		return nil, fmt.Errorf("Issuer %q: %w", pc.Issuer, err)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("Issuer %q: must be https://host[/path] without query, fragment or user info", pc.Issuer)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("Issuer %q: http:// is allowed only on loopback hosts", pc.Issuer)
		}
	default:
		return nil, fmt.Errorf("Issuer %q: scheme must be https", pc.Issuer)
	}
	if len(pc.ClientIDs) == 0 || len(pc.ClientIDs) > 100 {
		return nil, fmt.Errorf("Issuer %q: ClientIDs: need 1 to 100 client IDs", pc.Issuer)
	}
	p := &oidcProvider{issuer: pc.Issuer, verifier: pc.Verifier, clientIDs: map[string]bool{}}
	for _, id := range pc.ClientIDs {
		if id == "" || len(id) > 255 {
			return nil, fmt.Errorf("Issuer %q: ClientIDs: each must be 1-255 characters", pc.Issuer)
		}
		p.clientIDs[id] = true
	}
	if pc.Verifier == nil {
		return nil, fmt.Errorf("Issuer %q: Verifier: required", pc.Issuer)
	}
	p.hostPath = strings.TrimSuffix(u.Host+u.EscapedPath(), "/")
	p.arn = awsspec.OIDCProviderARN(s.partition, s.account, p.hostPath)
	return p, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Service) managedPolicyARN(name string) string {
	return awsspec.PolicyARN(s.partition, s.account, name)
}

// RoleARN is the ARN of a configured role by name ("" if none).
func (s *Service) RoleARN(name string) string {
	for _, r := range s.roles {
		if r.name == name {
			return r.arn
		}
	}
	return ""
}

// OIDCProviderARN is the IAM ARN of a registered OIDC provider ("" if none).
func (s *Service) OIDCProviderARN(issuer string) string {
	if p := s.providers[issuer]; p != nil {
		return p.arn
	}
	return ""
}

// Issued is the number of credentials minted since New (for tests and metrics).
func (s *Service) Issued() uint64 { return s.issued.Load() }
