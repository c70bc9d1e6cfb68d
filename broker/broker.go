// Package broker is idbroker's front door: it drives logins against the
// upstream providers (login.go, oidc.go, saml.go), maps the identity to
// roles, lets the user choose among several grants (chooser.go), vouches for
// the choice to the STS with a short-lived signed assertion and redeems it
// (issue.go: a JWT, or a SAML Response for SAML logins), and delivers the
// credentials (a web page, JSON for CLIs and apps, the STS action
// AssumeRoleWithLDAPIdentity, an RFC 8693 token exchange). Every refusal is
// classified once and answered per surface from one table (refusal.go).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/reports"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

// STS is what the broker needs of the STS (*sts.Service implements it):
// the calls that redeem the broker's own tokens and assertions, the Query
// API it serves on its root, and the session checks of the decision and
// explain APIs.
type STS interface {
	// AssumeRoleWithWebIdentity redeems a broker JWT (OIDC, LDAP and
	// static logins), the call the Query API makes.
	AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput) (*sts.AssumeRoleWithWebIdentityOutput, error)
	// AssumeRoleWithSAML redeems a SAML Response the broker signed (SAML
	// logins), the call the Query API makes.
	AssumeRoleWithSAML(ctx context.Context, in *sts.AssumeRoleWithSAMLInput) (*sts.AssumeRoleWithSAMLOutput, error)
	// ServeHTTP serves the STS Query API (POST / and GET /?Action=…).
	ServeHTTP(w http.ResponseWriter, r *http.Request)
	// Authenticate verifies a SigV4-signed request made with credentials
	// the STS minted. Errors are *sts.Error.
	Authenticate(r *http.Request, body []byte) (*sts.Session, error)
	// Authorize decides whether sess may perform action on resource: the
	// role's permission policies intersected with the session policies,
	// explicit deny first. reqCtx holds the caller's request context keys;
	// the STS sets the keys it derives from the session and its clock,
	// overriding any of reqCtx. An error means the session cannot be
	// evaluated (its role is gone): the APIs answer with a deny.
	Authorize(sess *sts.Session, action, resource string, reqCtx map[string][]string) (policy.Result, error)
	// SessionFromToken returns the session a bare session token proves
	// (the plain form of the decision API) after checking that the token
	// is authentic, was minted for accessKeyID and has not expired. Errors
	// are *sts.Error (InvalidClientTokenId, ExpiredToken).
	SessionFromToken(accessKeyID, sessionToken string) (*sts.Session, error)
}

// Mapper turns an identity into grants (mapping.Mapper).
type Mapper interface {
	Map(id providers.Identity) mapping.Decision
}

// Provider is one configured upstream as the broker sees it. Impl is the
// provider itself; the broker uses the capability interfaces it implements
// (providers.PasswordAuthenticator, providers.AccountAuthenticator,
// CodeFlowProvider, TokenProvider, SAMLServiceProvider).
type Provider struct {
	Name        string
	Type        string
	DisplayName string
	Impl        any
	// MFA is the provider's MFA policy: MFAOff ("" too), MFAOptional or
	// MFARequired (mfa.go).
	MFA string
}

// Config wires a broker.
type Config struct {
	// PublicURL is where browsers and clients reach the broker.
	PublicURL string
	// Providers in the order they are shown on the sign-in page.
	Providers []Provider
	Mapper    Mapper
	// STS redeems the broker's tokens and assertions, serves the Query API
	// and checks the sessions of the decision and explain APIs.
	STS    STS
	Issuer *Issuer
	// SAMLIdP is the broker as a SAML IdP towards its own STS: it serves
	// /saml/idp/metadata, and SAML logins are redeemed with
	// AssumeRoleWithSAML on a Response it signs (see issue.go). Without
	// it, SAML logins are redeemed like the others, with a broker JWT.
	SAMLIdP *SAMLIdP
	// CookieKey seals login state (32 bytes).
	CookieKey []byte
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Store holds the sessions, the replay caches and the login failure
	// counters shared by replicas (required).
	Store store.Store
	// Sessions sets the length and the re-check interval of the sessions
	// logins create (session.go); zero fields take the defaults.
	Sessions Sessions
	// Revocations records revocations for every replica: the
	// administrators' (POST /api/v1/admin/revocations, mounted with
	// GET /api/v1/admin/sessions only when it is set) and that of a session
	// ended because its person is gone upstream (recheck.go).
	Revocations Revocations
	// Revoker, when set, is asked instead of Revocations to revoke the
	// credentials of a session ended because its person is gone upstream;
	// with neither, such a session issues nothing more, but its
	// credentials live until they expire.
	Revoker SessionRevoker
	// RoleARNs are the ARNs of the configured roles: a revocation by role
	// name is resolved among them.
	RoleARNs []string
	// LoginProtection throttles password guessing (see lockout.go).
	LoginProtection LoginProtection
	// Ready reports whether dependencies (store, providers) are reachable.
	Ready func(ctx context.Context) error
	// Health, when set, answers GET /readyz instead of Ready (from checks
	// run in the background: internal/health).
	Health http.Handler
	Logger *slog.Logger
	Now    func() time.Time
	// Extra routes mounted on the same mux (metrics, pprof).
	Extra map[string]http.Handler
	// Explainer serves GET /api/v1/explain to sessions of AdminRoleARNs
	// that the STS allows idbroker:Explain (see explainapi.go); nil leaves
	// the route out.
	Explainer Explainer
	// AdminRoleARNs are the roles whose sessions may use the
	// administrators' APIs (explain, revocations, sessions; admin.go).
	AdminRoleARNs []string
	// Portal brands the browser's pages (branding.go); the zero value is
	// the plain look.
	Portal Portal
	// Region is the STS's region, named in the commands the credentials
	// page offers (default us-east-1).
	Region string
	// Limiter, when set, limits issuances (ratelimit.go); nil: no limit.
	Limiter IssueLimiter
	// Observer, when set, receives the broker's measurements (observe.go).
	Observer Observer
	// Reports records the audit events and the authorize API's decisions
	// for the credential report and the access advisor, and serves them
	// (reportsapi.go); nil keeps no reports.
	Reports *reports.Recorder
	// MFA keeps the TOTP enrolments (*mfa.Service; mfa.go). Nil: nobody
	// can enrol, and a provider's MFA policy other than off is refused.
	MFA MFAService
}

// Server is the broker's HTTP surface.
type Server struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	providers map[string]Provider
	sealer    *sealer
	lockout   *lockout
	sessions  Sessions
	secure    bool
	portal    Portal
	assets    *assetSet
	mux       *http.ServeMux
	handler   http.Handler
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Mapper == nil || cfg.STS == nil || cfg.Issuer == nil || cfg.Store == nil {
		return nil, errors.New("broker: Mapper, STS, Issuer and Store are required")
	}
	sessions := cfg.Sessions.WithDefaults()
	if errs := sessions.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("broker: sessions: %w", errors.Join(errs...))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	se, err := newSealer(cfg.CookieKey, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	lo, err := newLockout(cfg.LoginProtection, cfg.Store, cfg.Providers, cfg.Logger, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if errs := cfg.Portal.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("broker: portal: %w", errors.Join(errs...))
	}
	assets, err := newAssetSet(cfg.Portal.Logo)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       cfg.Now,
		providers: make(map[string]Provider, len(cfg.Providers)),
		sealer:    se,
		lockout:   lo,
		sessions:  sessions,
		secure:    strings.HasPrefix(cfg.PublicURL, "https://"),
		portal:    cfg.Portal,
		assets:    assets,
	}
	// A lock is a security event of the broker's: audited like the rest.
	lo.onLock = func(ctx context.Context, provider, username string, attrs []slog.Attr) {
		s.auditWarn(ctx, "login.locked", providers.Identity{Provider: provider, Username: username}, attrs...)
	}
	for _, p := range cfg.Providers {
		if err := checkSAMLProviderName(p); err != nil {
			return nil, err
		}
		if err := checkMFAPolicy(p, cfg.MFA != nil); err != nil {
			return nil, err
		}
		s.providers[p.Name] = p
	}
	s.routes()
	return s, nil
}

// ServeHTTP serves every route of the broker and the STS Query API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", s.serveRoot)
	mux.HandleFunc("GET /.well-known/openid-configuration", s.cfg.Issuer.serveDiscovery)
	mux.HandleFunc("GET /keys", s.cfg.Issuer.serveKeys)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("POST /api/v1/credentials", s.serveAPICredentials)
	mux.HandleFunc("GET /api/v1/providers", s.serveProviders)
	mux.HandleFunc("GET /login/{provider}", s.serveLoginForm)
	mux.HandleFunc("POST /login/{provider}", s.serveLoginPost)
	mux.HandleFunc("GET /oidc/{provider}/callback", s.serveOIDCCallback)
	mux.HandleFunc("POST /oauth2/token", s.serveToken)
	mux.HandleFunc("GET /portal", s.servePortal)
	mux.HandleFunc("POST /portal/credentials", s.servePortalIssue)
	mux.HandleFunc("GET /portal/credentials/{view}", s.serveCredentialsPage)
	mux.HandleFunc("GET /roles", s.serveRolesRedirect)
	mux.HandleFunc("GET /assets/{name}", s.serveAsset)
	mux.HandleFunc("POST /logout", s.serveLogout)
	mux.HandleFunc("GET /saml/{provider}/metadata", s.serveSAMLMetadata)
	mux.HandleFunc("POST /saml/{provider}/acs", s.serveSAMLACS)
	mux.HandleFunc("GET /saml/idp/metadata", s.serveSAMLIdPMetadata)
	for pattern, h := range s.cfg.Extra {
		mux.Handle(pattern, h)
	}
	s.mux = mux
	// Browsers' cross-origin form posts are refused (Sec-Fetch-Site/Origin);
	// the STS Query API and the JSON API are for non-browser clients and
	// carry their own authentication, so they are exempt.
	cop := http.NewCrossOriginProtection()
	cop.AddInsecureBypassPattern("POST /{$}")
	cop.AddInsecureBypassPattern("POST /api/v1/credentials")
	cop.AddInsecureBypassPattern("POST /oauth2/token")
	// The IdP posts SAML Responses cross-site by design; the signature and
	// the sealed request-tracking cookie protect the ACS.
	cop.AddInsecureBypassPattern("POST /saml/{provider}/acs")
	s.sessionRoutes(mux, cop)
	s.oauthRoutes(mux, cop)
	s.decisionRoutes(mux, cop)
	s.adminRoutes(mux, cop)
	s.reportRoutes(mux)
	s.mfaRoutes(mux, cop)
	s.handler = realClient(s.cfg.TrustedProxies, s.instrument(securityHeaders(s.secure, cop.Handler(mux))))
}

// serveRoot is the STS Query API for POST and for GET with an Action, and
// the sign-in page otherwise.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost || r.URL.Query().Has("Action") {
		s.cfg.STS.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.serveSignIn(w, r)
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Health != nil {
		s.cfg.Health.ServeHTTP(w, r)
		return
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "err", err)
			http.Error(w, "not ready\n", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

// securityHeaders sets the headers every answer carries; on an https
// public URL, browsers are also told to use https only from now on (HSTS,
// for this host only: other hosts of the domain are not the broker's to
// decide).
func securityHeaders(https bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		if https {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}
