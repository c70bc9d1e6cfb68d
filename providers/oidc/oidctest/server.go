// Package oidctest runs a real, in-process OpenID Connect issuer for tests:
// discovery, JWKS (with key rotation), an authorization endpoint that
// approves a configurable user, a token endpoint that checks the client
// secret and the PKCE verifier and redeems refresh tokens (rotated, and
// revocable), userinfo, and a groups-overage endpoint.
// Every endpoint counts its hits and can be made slow, failing or
// oversized.
//
// It is a test helper: it calls t.Fatal on setup errors and registers its
// shutdown with t.Cleanup.
package oidctest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Endpoint names, for Hits and SetFault.
const (
	Discovery = "discovery"
	JWKS      = "jwks"
	Authorize = "authorize"
	Token     = "token"
	Userinfo  = "userinfo"
	Overage   = "overage"
	// Refresh is not an endpoint of its own but the token endpoint's
	// refresh_token grant: Hits(Refresh) counts those requests (Hits(Token)
	// counts them too), and SetFault(Refresh, …) makes only them misbehave.
	Refresh = "refresh"
)

var paths = map[string]string{
	Discovery: "/.well-known/openid-configuration",
	JWKS:      "/jwks",
	Authorize: "/authorize",
	Token:     "/token",
	Userinfo:  "/userinfo",
	Overage:   "/overage",
}

// Fault changes how one endpoint answers. Zero fields mean "normal".
type Fault struct {
	// Delay is slept before answering (cut short when the client goes away).
	Delay time.Duration
	// Status replaces the status code (the body is then Body or "error").
	Status int
	// BodySize, when > 0, replaces the body by that many bytes of JSON-ish
	// padding.
	BodySize int
	// Body replaces the body verbatim.
	Body []byte
}

// Option configures a Server.
type Option func(*Server)

// WithTLS serves over https (httptest.NewTLSServer); use Client() to trust it.
func WithTLS() Option { return func(s *Server) { s.tls = true } }

// WithAlg sets the signing algorithm of the initial and rotated keys
// (RS256, RS384, RS512, ES256, ES384, ES512). Default RS256.
func WithAlg(alg string) Option { return func(s *Server) { s.alg = alg } }

// WithClient sets the registered client id and secret (default
// "test-client" / "test-secret").
func WithClient(id, secret string) Option {
	return func(s *Server) { s.clientID, s.clientSecret = id, secret }
}

// WithUser sets the claims put into ID tokens issued by the token endpoint
// (iss, aud, iat, exp, nonce, at_hash are added). Default sub "u-123",
// email, email_verified, name, preferred_username, groups.
func WithUser(claims map[string]any) Option { return func(s *Server) { s.user = claims } }

// WithIssParameter makes the authorize endpoint add RFC 9207 iss to the
// redirect and advertise it in discovery.
func WithIssParameter() Option { return func(s *Server) { s.issParam = true } }

// WithDiscovery installs a hook that edits the discovery document before
// it is served (to drop S256 from code_challenge_methods_supported, point
// jwks_uri elsewhere, ...).
func WithDiscovery(edit func(doc map[string]any)) Option {
	return func(s *Server) { s.discoEdit = edit }
}

// WithRefreshTokens makes the token endpoint give a refresh token with
// every code it redeems, as some providers do by default; without it one
// comes only when the authorization request's scope has offline_access.
func WithRefreshTokens() Option { return func(s *Server) { s.alwaysRefresh = true } }

// WithoutRefreshRotation makes a refresh keep its refresh token: the answer
// carries none, and the one redeemed stays valid. By default each refresh
// answers with a new refresh token and the redeemed one is dead (rotation).
func WithoutRefreshRotation() Option { return func(s *Server) { s.noRotation = true } }

// WithoutRefreshIDToken makes refresh answers carry no id_token (OIDC Core
// 12.2 lets a provider leave it out). By default they carry a fresh one
// for the current user claims, without nonce.
func WithoutRefreshIDToken() Option { return func(s *Server) { s.noRefreshIDToken = true } }

// WithNow sets the server's clock for iat/exp (default time.Now).
func WithNow(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithTokenLifetime sets the ID token lifetime (default 5 minutes).
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.lifetime = d } }

// Server is a running test issuer.
type Server struct {
	t         testing.TB
	srv       *httptest.Server
	tls       bool
	alg       string
	now       func() time.Time
	lifetime  time.Duration
	issParam  bool
	discoEdit func(map[string]any)

	alwaysRefresh, noRotation, noRefreshIDToken bool

	clientID, clientSecret string

	mu            sync.Mutex
	keys          []Key // published; keys[len-1] signs
	user          map[string]any
	userinfo      map[string]any
	overage       []string
	hits          map[string]int
	faults        map[string]Fault
	codes         map[string]codeGrant
	accessTokens  map[string]bool
	refreshTokens map[string]string // refresh token -> client id
	idTokenMutate func(map[string]any)
	issOverride   *string
	requests      []*http.Request
}

type codeGrant struct {
	clientID, redirectURI, nonce, challenge, method, scope string
}

// New starts a test issuer on 127.0.0.1.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:             t,
		alg:           "RS256",
		now:           time.Now,
		lifetime:      5 * time.Minute,
		clientID:      "test-client",
		clientSecret:  "test-secret",
		hits:          map[string]int{},
		faults:        map[string]Fault{},
		codes:         map[string]codeGrant{},
		accessTokens:  map[string]bool{},
		refreshTokens: map[string]string{},
		user: map[string]any{
			"sub":                "u-123",
			"email":              "alice@example.com",
			"email_verified":     true,
			"name":               "Alice Example",
			"preferred_username": "alice",
			"groups":             []any{"dev"},
		},
	}
	for _, o := range opts {
		o(s)
	}
	s.keys = []Key{s.NewKey(s.alg)}
	mux := http.NewServeMux()
	for name, p := range paths {
		mux.HandleFunc(p, s.wrap(name))
	}
	if s.tls {
		s.srv = httptest.NewTLSServer(mux)
	} else {
		s.srv = httptest.NewServer(mux)
	}
	t.Cleanup(s.srv.Close)
	return s
}

// Issuer is the issuer URL (no trailing slash).
func (s *Server) Issuer() string { return s.srv.URL }

// URL returns the absolute URL of an endpoint name.
func (s *Server) URL(endpoint string) string { return s.srv.URL + paths[endpoint] }

// Client returns an HTTP client that trusts the server (needed WithTLS).
func (s *Server) Client() *http.Client { return s.srv.Client() }

// ClientID returns the registered client id.
func (s *Server) ClientID() string { return s.clientID }

// ClientSecret returns the registered client secret.
func (s *Server) ClientSecret() string { return s.clientSecret }

// Hits returns how many requests an endpoint received.
func (s *Server) Hits(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[endpoint]
}

// SetFault makes an endpoint misbehave until ClearFault.
func (s *Server) SetFault(endpoint string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = f
}

// ClearFault restores an endpoint's normal behaviour.
func (s *Server) ClearFault(endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults, endpoint)
}

// SetUser replaces the user claims of future ID tokens.
func (s *Server) SetUser(claims map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = claims
}

// SetUserinfo sets the userinfo response claims (default: the user claims).
func (s *Server) SetUserinfo(claims map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userinfo = claims
}

// SetOverageGroups sets the groups the overage endpoint returns.
func (s *Server) SetOverageGroups(groups []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overage = groups
}

// MutateIDToken installs a hook that edits the claims of ID tokens issued
// by the token endpoint just before signing (to forge a wrong nonce,
// at_hash, aud...). nil removes it.
func (s *Server) MutateIDToken(fn func(claims map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idTokenMutate = fn
}

// SetDiscoveryIssuer makes discovery advertise another issuer value.
func (s *Server) SetDiscoveryIssuer(iss string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issOverride = &iss
}

// RevokeRefreshTokens revokes every refresh token issued so far, as an
// administrator ending the user's sessions at the provider would: each
// is answered with invalid_grant from now on.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refreshTokens)
}

// LiveRefreshTokens is how many refresh tokens the token endpoint would
// redeem now.
func (s *Server) LiveRefreshTokens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.refreshTokens)
}
