package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/providers"
)

// CodeFlowProvider is an upstream that signs browsers in by redirection
// (the OpenID Connect authorization-code flow with PKCE). providers/oidc's
// *Provider implements it.
type CodeFlowProvider interface {
	// AuthURL returns the upstream authorization URL carrying state, nonce
	// and the S256 challenge of verifier.
	AuthURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Exchange redeems the code with the verifier, checks the nonce and the
	// RFC 9207 iss parameter (callbackIss, "" when absent).
	Exchange(ctx context.Context, code, verifier, nonce, callbackIss string) (providers.Identity, error)
}

// TokenProvider is an upstream whose ID tokens apps may present directly
// (the mobile exchange and RFC 8693). providers/oidc's *Provider implements it.
type TokenProvider interface {
	// IdentityFromToken verifies a raw ID token with this provider's issuer,
	// keys and audiences.
	IdentityFromToken(ctx context.Context, rawIDToken string) (providers.Identity, error)
	// Issuer is the provider's exact issuer URL.
	Issuer() string
}

const (
	oidcCookie = "idb_oidc"
	// oidcLoginTTL bounds a browser's round trip to the identity provider.
	oidcLoginTTL = 10 * time.Minute
	// upstreamTimeout bounds the broker's calls to a provider during one
	// request (each HTTP call has the provider's own, shorter timeout).
	upstreamTimeout = 30 * time.Second
)

// oidcLogin is what the browser carries (sealed) between the redirect to
// the provider and the callback.
type oidcLogin struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

// oidcPurpose binds a sealed login to one provider: a cookie sealed for
// provider B does not open at provider A's callback.
func oidcPurpose(provider string) string { return oidcCookie + "/" + provider }

func oidcCookiePath(provider string) string { return "/oidc/" + provider + "/" }

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startCodeFlow answers GET /login/{provider} for a redirecting provider:
// it remembers state, nonce and the PKCE verifier in a sealed cookie and
// sends the browser to the provider.
func (s *Server) startCodeFlow(w http.ResponseWriter, r *http.Request, p Provider, cf CodeFlowProvider) {
	login := oidcLogin{Provider: p.Name, State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier()}
	ctx, cancel := context.WithTimeout(r.Context(), upstreamTimeout)
	defer cancel()
	target, err := cf.AuthURL(ctx, login.State, login.Nonce, login.Verifier)
	if err != nil {
		status, msg := http.StatusServiceUnavailable, "The identity provider cannot be reached right now. Try again later."
		if errors.Is(err, providers.ErrConfiguration) {
			status, msg = http.StatusInternalServerError, "This sign-in method is misconfigured."
		}
		s.fail(w, r, status, msg, "", fmt.Errorf("oidc %s: authorization URL: %w", p.Name, err))
		return
	}
	sealed, err := s.sealer.seal(oidcPurpose(p.Name), login, oidcLoginTTL)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong.", "", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: oidcCookie, Value: sealed, Path: oidcCookiePath(p.Name),
		MaxAge: int(oidcLoginTTL / time.Second), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// errIdPRefused is a callback carrying the provider's error parameter.
var errIdPRefused = errors.New("identity provider returned an error")

// serveOIDCCallback answers GET /oidc/{provider}/callback: the login cookie
// is used up whatever happens; state must match it (constant time) and be
// unseen; an error parameter or a wrong iss stops the login before any
// code is sent to the token endpoint.
func (s *Server) serveOIDCCallback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("provider")
	p, ok := s.providers[name]
	if !ok {
		s.fail(w, r, http.StatusNotFound, "There is no such sign-in method.", "", errors.New("unknown provider"))
		return
	}
	cf, ok := p.Impl.(CodeFlowProvider)
	if !ok {
		s.fail(w, r, http.StatusNotFound, "This sign-in method is not available here.", "", errors.New("provider has no code flow"))
		return
	}
	// Single use: clear the login cookie before anything else.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: oidcCookiePath(name), MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	expired := func(reason error) {
		s.audit(r.Context(), "login.refused", providers.Identity{Provider: name}, slog.String("client_ip", clientIP(r)), slog.Any("reason", reason))
		s.fail(w, r, http.StatusBadRequest, "Your sign-in could not be completed.", "Start again from the sign-in page, in the same browser.", reason)
	}
	q := r.URL.Query()
	var login oidcLogin
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		expired(errors.New("oidc callback without a login cookie"))
		return
	}
	if err := s.sealer.open(oidcPurpose(name), c.Value, &login); err != nil || login.Provider != name {
		expired(errors.New("oidc login cookie invalid, expired or for another provider"))
		return
	}
	if e := q.Get("error"); e != "" {
		reason := fmt.Errorf("%w: %s", errIdPRefused, sanitizeParam(e))
		s.audit(r.Context(), "login.refused", providers.Identity{Provider: name}, slog.String("client_ip", clientIP(r)), slog.Any("reason", reason))
		s.fail(w, r, http.StatusForbidden, "The identity provider did not sign you in.", "Try again, or ask your administrator.", reason)
		return
	}
	state := q.Get("state")
	if len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(state), []byte(login.State)) != 1 {
		expired(errors.New("oidc state missing or mismatched"))
		return
	}
	code := q.Get("code")
	if len(q["code"]) != 1 || code == "" || len(code) > 4096 {
		expired(errors.New("oidc callback without a single code"))
		return
	}
	if len(q["iss"]) > 1 {
		expired(errors.New("oidc callback with several iss parameters"))
		return
	}
	// The state is single use even if the cookie is replayed.
	sum := sha256.Sum256([]byte(login.State))
	fresh, err := s.cfg.Store.Claim(r.Context(), "oidc-state:"+hex.EncodeToString(sum[:]), s.now().Add(oidcLoginTTL+time.Minute))
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again later.", "", fmt.Errorf("state store: %w", err))
		return
	}
	if !fresh {
		expired(errors.New("oidc state replayed"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), upstreamTimeout)
	defer cancel()
	id, err := cf.Exchange(ctx, code, login.Verifier, login.Nonce, q.Get("iss"))
	if err != nil {
		s.audit(r.Context(), "login.refused", providers.Identity{Provider: name}, slog.String("client_ip", clientIP(r)), slog.Any("reason", err))
		status, msg := http.StatusUnauthorized, "The identity provider's answer could not be verified."
		switch {
		case errors.Is(err, providers.ErrUnavailable):
			status, msg = http.StatusServiceUnavailable, "The identity provider cannot be reached right now. Try again later."
		case errors.Is(err, providers.ErrConfiguration):
			status, msg = http.StatusBadGateway, "The identity provider's answer cannot be used with this configuration."
		}
		s.fail(w, r, status, msg, "Start again from the sign-in page.", err)
		return
	}
	s.audit(r.Context(), "login", id, slog.String("client_ip", clientIP(r)))
	s.signedIn(w, r, id, methodOIDC)
}

// tokenLogin verifies an ID token presented directly at a provider (the
// JSON API, RFC 8693) and audits the outcome. A refusal is a *refusal:
// classTokenUnavailable when the provider's keys cannot be had, else
// classTokenRefused.
func (s *Server) tokenLogin(ctx context.Context, p Provider, tp TokenProvider, raw, clientIP string) (providers.Identity, error) {
	ctx, cancel := context.WithTimeout(ctx, upstreamTimeout)
	defer cancel()
	var (
		id  providers.Identity
		err error
	)
	if raw == "" {
		err = fmt.Errorf("%w: empty token", providers.ErrInvalidCredentials)
	} else {
		id, err = tp.IdentityFromToken(ctx, raw)
	}
	if err == nil && id.Provider != p.Name {
		err = fmt.Errorf("%w: identity of provider %q", providers.ErrInvalidCredentials, id.Provider)
	}
	if err != nil {
		s.audit(ctx, "login.refused", providers.Identity{Provider: p.Name}, slog.String("client_ip", clientIP), slog.String("method", "id_token"), slog.Any("reason", err))
		return providers.Identity{}, tokenRefused(err)
	}
	s.audit(ctx, "login", id, slog.String("client_ip", clientIP), slog.String("method", "id_token"))
	return id, nil
}

// sanitizeParam keeps an upstream error code printable and short for the log.
func sanitizeParam(v string) string {
	var b strings.Builder
	for _, c := range v {
		if b.Len() >= 64 {
			b.WriteString("…")
			break
		}
		if c == '_' || c == '-' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
