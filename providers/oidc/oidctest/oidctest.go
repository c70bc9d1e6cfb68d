// Package oidctest runs a real, in-process OpenID Connect issuer for tests:
// discovery, JWKS (with key rotation), an authorization endpoint that
// approves a configurable user, a token endpoint that checks the client
// secret and the PKCE verifier, userinfo, and a groups-overage endpoint.
// Every endpoint counts its hits and can be made slow, failing or
// oversized.
//
// It is a test helper: it calls t.Fatal on setup errors and registers its
// shutdown with t.Cleanup.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Endpoint names, for Hits and SetFault.
const (
	Discovery = "discovery"
	JWKS      = "jwks"
	Authorize = "authorize"
	Token     = "token"
	Userinfo  = "userinfo"
	Overage   = "overage"
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

// Key is one signing key of the issuer.
type Key struct {
	KID     string
	Alg     string
	Private crypto.Signer
}

// Public returns the key's public half.
func (k Key) Public() crypto.PublicKey { return k.Private.Public() }

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
	idTokenMutate func(map[string]any)
	issOverride   *string
	requests      []*http.Request
}

type codeGrant struct {
	clientID, redirectURI, nonce, challenge, method string
}

// New starts a test issuer on 127.0.0.1.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t:            t,
		alg:          "RS256",
		now:          time.Now,
		lifetime:     5 * time.Minute,
		clientID:     "test-client",
		clientSecret: "test-secret",
		hits:         map[string]int{},
		faults:       map[string]Fault{},
		codes:        map[string]codeGrant{},
		accessTokens: map[string]bool{},
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

// NewKey generates a fresh key for alg (not published).
func (s *Server) NewKey(alg string) Key {
	s.t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256", "RS384", "RS512":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		s.t.Fatalf("oidctest: unsupported alg %q", alg)
	}
	if err != nil {
		s.t.Fatalf("oidctest: generating key: %v", err)
	}
	return Key{KID: "k-" + randString(6), Alg: alg, Private: priv}
}

// CurrentKey returns the key that signs now.
func (s *Server) CurrentKey() Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

// Keys returns the published keys.
func (s *Server) Keys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Key(nil), s.keys...)
}

// RotateKey publishes a new key (same alg) and signs with it from now on;
// older keys stay published until RemoveKey.
func (s *Server) RotateKey() Key {
	k := s.NewKey(s.alg)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	return k
}

// AddKey publishes k without making it the signing key.
func (s *Server) AddKey(k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]Key{k}, s.keys...)
}

// RemoveKey unpublishes the key with kid.
func (s *Server) RemoveKey(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.keys[:0]
	for _, k := range s.keys {
		if k.KID != kid {
			out = append(out, k)
		}
	}
	s.keys = out
}

// Claims returns a baseline valid claim set for aud: iss, sub, aud, iat,
// exp (now+lifetime), plus the user claims.
func (s *Server) Claims(aud string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c := maps.Clone(s.user)
	c["iss"] = s.Issuer()
	c["aud"] = aud
	c["iat"] = now.Unix()
	c["exp"] = now.Add(s.lifetime).Unix()
	return c
}

// Sign signs claims with the current key (header alg, kid, typ JWT).
func (s *Server) Sign(claims map[string]any) string {
	k := s.CurrentKey()
	return s.SignWith(k, map[string]any{"kid": k.KID, "typ": "JWT"}, claims)
}

// SignWith signs claims with key k; header entries are added to
// {"alg": k.Alg} (and may override alg).
func (s *Server) SignWith(k Key, header, claims map[string]any) string {
	s.t.Helper()
	h := map[string]any{"alg": k.Alg}
	maps.Copy(h, header)
	alg, _ := h["alg"].(string)
	var key any = k.Private
	if strings.HasPrefix(alg, "HS") {
		s.t.Fatalf("oidctest: use SignHMAC for %s", alg)
	}
	return s.signRaw(h, claims, alg, key)
}

// SignHMAC signs with an HMAC algorithm (HS256/384/512) and a secret, for
// algorithm-confusion tests.
func (s *Server) SignHMAC(alg string, secret []byte, header, claims map[string]any) string {
	h := map[string]any{"alg": alg}
	maps.Copy(h, header)
	return s.signRaw(h, claims, alg, secret)
}

// Unsigned builds "header.payload." with the given header (alg none tests).
func Unsigned(header, claims map[string]any) string {
	return seg(header) + "." + seg(claims) + "."
}

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) signRaw(header, claims map[string]any, alg string, key any) string {
	s.t.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		s.t.Fatalf("oidctest: unknown alg %q", alg)
	}
	signing := seg(header) + "." + seg(claims)
	sig, err := m.Sign(signing, key)
	if err != nil {
		s.t.Fatalf("oidctest: signing: %v", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// JWK renders a public key as a JWK map.
func JWK(k Key) map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		e := big(pub.E)
		return map[string]any{"kty": "RSA", "kid": k.KID, "alg": k.Alg, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(e)}
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		ecdh, err := pub.ECDH()
		if err != nil {
			panic(err)
		}
		raw := ecdh.Bytes() // 0x04 || X || Y
		return map[string]any{"kty": "EC", "kid": k.KID, "alg": k.Alg, "use": "sig",
			"crv": pub.Curve.Params().Name, "x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
	}
	panic("oidctest: unsupported key type")
}

func big(e int) []byte {
	var out []byte
	for e > 0 {
		out = append([]byte{byte(e)}, out...)
		e >>= 8
	}
	return out
}

func randString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) wrap(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[name]++
		f, faulty := s.faults[name]
		s.mu.Unlock()
		if faulty {
			if f.Delay > 0 {
				select {
				case <-time.After(f.Delay):
				case <-r.Context().Done():
					return
				}
			}
			if f.Status != 0 || f.BodySize > 0 || f.Body != nil {
				status := f.Status
				if status == 0 {
					status = http.StatusOK
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				switch {
				case f.Body != nil:
					_, _ = w.Write(f.Body)
				case f.BodySize > 0:
					writePadding(w, f.BodySize)
				default:
					_, _ = w.Write([]byte(`{"error":"injected"}`))
				}
				return
			}
		}
		switch name {
		case Discovery:
			s.discovery(w, r)
		case JWKS:
			s.jwks(w, r)
		case Authorize:
			s.authorize(w, r)
		case Token:
			s.token(w, r)
		case Userinfo:
			s.userinfoH(w, r)
		case Overage:
			s.overageH(w, r)
		}
	}
}

func writePadding(w http.ResponseWriter, n int) {
	// {"keys":[],"p":"aaaa..."} of n bytes, streamed.
	prefix := `{"keys":[],"p":"`
	_, _ = w.Write([]byte(prefix))
	chunk := []byte(strings.Repeat("a", 32<<10))
	left := n - len(prefix) - 2
	for left > 0 {
		c := chunk
		if left < len(c) {
			c = c[:left]
		}
		if _, err := w.Write(c); err != nil {
			return
		}
		left -= len(c)
	}
	_, _ = w.Write([]byte(`"}`))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	iss := s.Issuer()
	if s.issOverride != nil {
		iss = *s.issOverride
	}
	s.mu.Unlock()
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                s.URL(Authorize),
		"token_endpoint":                        s.URL(Token),
		"userinfo_endpoint":                     s.URL(Userinfo),
		"jwks_uri":                              s.URL(JWKS),
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{s.alg},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	}
	if s.issParam {
		doc["authorization_response_iss_parameter_supported"] = true
	}
	if s.discoEdit != nil {
		s.discoEdit(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	keys := []any{}
	for _, k := range s.Keys() {
		keys = append(keys, JWK(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// authorize approves at once: it checks client_id, response_type and the
// presence of an S256 code_challenge, then redirects to redirect_uri with
// code and state (and iss when enabled).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.clientID || q.Get("response_type") != "code" {
		http.Error(w, "bad client_id or response_type", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || !redirect.IsAbs() {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	}
	code := randString(24)
	s.mu.Lock()
	s.codes[code] = codeGrant{
		clientID: s.clientID, redirectURI: q.Get("redirect_uri"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
	}
	s.mu.Unlock()
	rq := redirect.Query()
	rq.Set("code", code)
	rq.Set("state", q.Get("state"))
	if s.issParam {
		rq.Set("iss", s.Issuer())
	}
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// Authorize runs the authorize endpoint for an auth-code URL produced by a
// client and returns the callback URL it redirects to (without following it).
func (s *Server) Authorize(authURL string) (*url.URL, error) {
	c := s.Client()
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := cc.Get(authURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("oidctest: authorize returned %d", resp.StatusCode)
	}
	return url.Parse(resp.Header.Get("Location"))
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.clientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	code := r.PostForm.Get("code")
	s.mu.Lock()
	g, found := s.codes[code]
	delete(s.codes, code) // one use
	s.mu.Unlock()
	if !found {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	}
	if r.PostForm.Get("redirect_uri") != g.redirectURI {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri mismatch")
		return
	}
	verifier := r.PostForm.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	}
	access := "at-" + randString(24)
	claims := s.Claims(s.clientID)
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	claims["at_hash"] = AtHash(s.CurrentKey().Alg, access)
	s.mu.Lock()
	s.accessTokens[access] = true
	mut := s.idTokenMutate
	s.mu.Unlock()
	if mut != nil {
		mut(claims)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     s.Sign(claims),
	})
}

// AtHash computes the at_hash of an access token for alg.
func AtHash(alg, accessToken string) string {
	var h hash.Hash
	switch alg[2:] {
	case "384":
		h = sha512.New384()
	case "512":
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func (s *Server) bearerOK(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accessTokens[tok]
}

func (s *Server) userinfoH(w http.ResponseWriter, r *http.Request) {
	if !s.bearerOK(r) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	c := s.userinfo
	if c == nil {
		c = s.user
	}
	c = maps.Clone(c)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, c)
}

// overageH answers like Microsoft Graph getMemberObjects:
// {"value": ["group", ...]}.
func (s *Server) overageH(w http.ResponseWriter, r *http.Request) {
	if !s.bearerOK(r) {
		http.Error(w, "invalid token", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	g := append([]string{}, s.overage...)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"value": g})
}

// Sentinel is an egress sentinel: an HTTP server that records every
// request; tests assert it saw none.
type Sentinel struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits int
}

// NewSentinel starts an egress sentinel.
func NewSentinel(t testing.TB) *Sentinel {
	s := &Sentinel{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.hits++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}, "value": []string{"admins"}})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the sentinel's base URL.
func (s *Sentinel) URL() string { return s.srv.URL }

// Hits is how many requests the sentinel received.
func (s *Sentinel) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}
