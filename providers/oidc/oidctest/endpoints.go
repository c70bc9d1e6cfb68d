package oidctest

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

func (s *Server) wrap(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.fault(w, r, name) {
			return
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

// fault counts a hit of endpoint name and plays its Fault, if one is set:
// it reports whether it answered the request (or the client went away).
func (s *Server) fault(w http.ResponseWriter, r *http.Request, name string) bool {
	s.mu.Lock()
	s.hits[name]++
	f, faulty := s.faults[name]
	s.mu.Unlock()
	if !faulty {
		return false
	}
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	if f.Status == 0 && f.BodySize == 0 && f.Body == nil {
		return false
	}
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
	return true
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
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), scope: q.Get("scope"),
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
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		s.codeGrant(w, r)
	case "refresh_token":
		if !s.fault(w, r, Refresh) {
			s.refreshGrant(w, r, id)
		}
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "")
	}
}

// codeGrant redeems an authorization code (once) with its PKCE verifier,
// and gives a refresh token when offline_access was asked for or
// WithRefreshTokens.
func (s *Server) codeGrant(w http.ResponseWriter, r *http.Request) {
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
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     s.Sign(claims),
	}
	if s.alwaysRefresh || slices.Contains(strings.Fields(g.scope), "offline_access") {
		resp["refresh_token"] = s.newRefreshToken(g.clientID)
	}
	writeJSON(w, http.StatusOK, resp)
}

// newRefreshToken issues a refresh token ("rt-" and 32 base64url
// characters) to clientID.
func (s *Server) newRefreshToken(clientID string) string {
	rt := "rt-" + randString(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshTokens[rt] = clientID
	return rt
}

// refreshGrant redeems a refresh token issued to clientID: an unknown,
// revoked, rotated or another client's token is invalid_grant. The answer
// has a new access token, a new refresh token (the redeemed one dies)
// unless WithoutRefreshRotation, and an ID token for the current user
// claims (no nonce) unless WithoutRefreshIDToken.
func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, clientID string) {
	rt := r.PostForm.Get("refresh_token")
	s.mu.Lock()
	owner, found := s.refreshTokens[rt]
	found = found && owner == clientID
	if found && !s.noRotation {
		delete(s.refreshTokens, rt)
	}
	s.mu.Unlock()
	if !found {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown, revoked or rotated refresh token")
		return
	}
	access := "at-" + randString(24)
	s.mu.Lock()
	s.accessTokens[access] = true
	mut := s.idTokenMutate
	s.mu.Unlock()
	resp := map[string]any{
		"access_token": access,
		"token_type":   "Bearer",
		"expires_in":   300,
	}
	if !s.noRotation {
		resp["refresh_token"] = s.newRefreshToken(clientID)
	}
	if !s.noRefreshIDToken {
		claims := s.Claims(clientID)
		claims["at_hash"] = AtHash(s.CurrentKey().Alg, access)
		if mut != nil {
			mut(claims)
		}
		resp["id_token"] = s.Sign(claims)
	}
	writeJSON(w, http.StatusOK, resp)
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
