package broker

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
)

// SAML service-provider endpoints, one set per upstream IdP:
//
//	GET  /login/{provider}          starts an SP-initiated login (HTTP-Redirect or HTTP-POST binding)
//	GET  /saml/{provider}/metadata  our SP metadata for the IdP's administrators
//	POST /saml/{provider}/acs       the assertion consumer service (HTTP-POST binding)
//
// The IDs of the AuthnRequests a browser has outstanding travel in a sealed,
// short-lived cookie scoped to the provider's ACS path. The IdP posts the
// Response cross-site, so the cookie is SameSite=None; Secure when the broker
// is served over https. Browsers drop SameSite=None cookies that are not
// Secure, so on a plain-http public URL (allowed on loopback only, for demos)
// the cookie is SameSite=Lax instead: it still comes back when the IdP is
// same-site (another port of 127.0.0.1 or localhost), and a cross-site IdP
// over plain http fails closed with "sign-in expired".

// SAMLServiceProvider is an upstream SAML IdP as the broker drives it
// (providers/saml.Provider implements the first three methods).
type SAMLServiceProvider interface {
	// Metadata is our SP metadata for this IdP.
	Metadata() ([]byte, error)
	// MakeAuthnRequest creates an AuthnRequest for the binding.
	MakeAuthnRequest(ctx context.Context, binding, relayState string) (*saml.AuthnRequest, error)
	// HandleACS verifies the posted Response against the outstanding request IDs.
	HandleACS(ctx context.Context, r *http.Request, possibleRequestIDs []string) (providers.Identity, string, error)
	// SAMLBinding is the binding AuthnRequests are sent with
	// (saml.BindingRedirect or saml.BindingPOST).
	SAMLBinding() string
}

// SAMLProvider is a providers/saml Provider with the binding the broker
// sends AuthnRequests with; use it as Provider.Impl.
type SAMLProvider struct {
	*saml.Provider
	// Binding is saml.BindingRedirect (the default when empty) or saml.BindingPOST.
	Binding string
}

// SAMLBinding returns the binding for AuthnRequests.
func (p *SAMLProvider) SAMLBinding() string {
	if p.Binding == "" {
		return saml.BindingRedirect
	}
	return p.Binding
}

const (
	samlCookiePrefix = "idb_saml_"
	// samlRequestTTL bounds how long an AuthnRequest may stay outstanding.
	samlRequestTTL = 10 * time.Minute
	// samlMaxOutstanding is how many requests one browser may have open per
	// IdP (several tabs); older ones are forgotten.
	samlMaxOutstanding = 4
)

// samlTracker is the sealed content of the request-tracking cookie.
type samlTracker struct {
	IDs []string `json:"ids"`
}

func samlPurpose(provider string) string { return "saml-request:" + provider }

func samlACSPath(provider string) string { return "/saml/" + provider + "/acs" }

// samlProvider returns the named provider when it is a SAML provider.
func (s *Server) samlProvider(name string) (Provider, SAMLServiceProvider, bool) {
	p, ok := s.providers[name]
	if !ok {
		return Provider{}, nil, false
	}
	sp, ok := p.Impl.(SAMLServiceProvider)
	return p, sp, ok
}

func (s *Server) serveSAMLMetadata(w http.ResponseWriter, r *http.Request) {
	_, sp, ok := s.samlProvider(r.PathValue("provider"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	md, err := sp.Metadata()
	if err != nil {
		s.log.ErrorContext(r.Context(), "saml sp metadata", "provider", r.PathValue("provider"), "err", err)
		http.Error(w, "metadata unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(md)
}

// trackerCookie reads the browser's outstanding request IDs for provider
// (nil when absent, expired or forged).
func (s *Server) trackerCookie(r *http.Request, provider string) []string {
	c, err := r.Cookie(samlCookiePrefix + provider)
	if err != nil {
		return nil
	}
	var t samlTracker
	if err := s.sealer.open(samlPurpose(provider), c.Value, &t); err != nil {
		return nil
	}
	return t.IDs
}

func (s *Server) setTrackerCookie(w http.ResponseWriter, provider, value string, maxAge int) {
	c := &http.Cookie{
		Name: samlCookiePrefix + provider, Value: value, Path: samlACSPath(provider),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: maxAge,
	}
	if s.secure {
		// The IdP posts the Response from its own site.
		c.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
}

// startSAMLLogin sends the browser to the IdP with a fresh AuthnRequest.
func (s *Server) startSAMLLogin(w http.ResponseWriter, r *http.Request, p Provider, sp SAMLServiceProvider) {
	ctx := r.Context()
	req, err := sp.MakeAuthnRequest(ctx, sp.SAMLBinding(), "")
	if err != nil {
		status, msg := http.StatusInternalServerError, "The sign-in could not be started."
		if errors.Is(err, providers.ErrUnavailable) {
			status, msg = http.StatusServiceUnavailable, "The identity provider cannot be reached right now. Try again later."
		}
		s.audit(ctx, "login.refused", providers.Identity{Provider: p.Name}, slog.String("client_ip", clientIP(r)), slog.Any("reason", err))
		s.fail(w, r, status, msg, "", err)
		return
	}
	ids := append(s.trackerCookie(r, p.Name), req.ID)
	if len(ids) > samlMaxOutstanding {
		ids = ids[len(ids)-samlMaxOutstanding:]
	}
	sealed, err := s.sealer.seal(samlPurpose(p.Name), samlTracker{IDs: ids}, samlRequestTTL)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong.", "", err)
		return
	}
	s.setTrackerCookie(w, p.Name, sealed, int(samlRequestTTL/time.Second))
	w.Header().Set("Cache-Control", "no-store")
	if req.RedirectURL != "" {
		http.Redirect(w, r, req.RedirectURL, http.StatusFound)
		return
	}
	s.writeAutoPost(w, r, req.HTMLForm)
}

var (
	scriptRE     = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	formActionRE = regexp.MustCompile(`<form[^>]*\baction="([^"]*)"`)
)

// writeAutoPost serves crewjam's self-submitting HTTP-POST binding form.
// Its inline script is allowed by hash, not by 'unsafe-inline', and the
// form may post only to the IdP's origin.
func (s *Server) writeAutoPost(w http.ResponseWriter, r *http.Request, form []byte) {
	var hashes []string
	for _, m := range scriptRE.FindAllSubmatch(form, -1) {
		sum := sha256.Sum256(m[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	m := formActionRE.FindSubmatch(form)
	if m == nil {
		s.fail(w, r, http.StatusInternalServerError, "The sign-in could not be started.", "", errors.New("post binding form has no action"))
		return
	}
	u, err := url.Parse(html.UnescapeString(string(m[1])))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		s.fail(w, r, http.StatusInternalServerError, "The sign-in could not be started.", "", errors.New("post binding form action is not an http(s) URL"))
		return
	}
	scriptSrc := "'none'"
	if len(hashes) > 0 {
		scriptSrc = hashes[0]
		for _, h := range hashes[1:] {
			scriptSrc += " " + h
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src %s; form-action %s://%s; frame-ancestors 'none'; base-uri 'none'", scriptSrc, u.Scheme, u.Host))
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signing in · idbroker</title></head>\n<body>\n%s\n<noscript><p>JavaScript is off: press Submit to continue to your identity provider.</p></noscript>\n</body></html>\n", form)
}

// serveSAMLACS is the assertion consumer service: it verifies the Response,
// then continues like any other login (mapping, role chooser, credentials).
// A refusal shows a plain page with a request ID; the reason (never the
// document) goes to the log and the audit trail.
func (s *Server) serveSAMLACS(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, sp, ok := s.samlProvider(r.PathValue("provider"))
	if !ok {
		s.fail(w, r, http.StatusNotFound, "There is no such sign-in method.", "", errors.New("unknown SAML provider"))
		return
	}
	ids := s.trackerCookie(r, p.Name)
	id, relay, err := sp.HandleACS(ctx, r, ids)
	if err != nil {
		status, msg, hint := http.StatusForbidden, "The sign-in could not be completed.", "Start again from the sign-in page."
		switch {
		case errors.Is(err, saml.ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		case errors.Is(err, saml.ErrInResponseTo) && len(ids) == 0:
			msg = "Your sign-in has expired."
		case errors.Is(err, store.ErrUnavailable):
			// The assertion cannot be claimed: the broker's store is out,
			// not the IdP.
			status, msg, hint = http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again later.", ""
		case errors.Is(err, providers.ErrUnavailable):
			status, msg = http.StatusServiceUnavailable, "The identity provider cannot be reached right now. Try again later."
		}
		s.audit(ctx, "login.refused", providers.Identity{Provider: p.Name}, slog.String("client_ip", clientIP(r)),
			slog.String("method", "saml"), slog.Bool("solicited_tracker", len(ids) > 0), slog.String("reason", err.Error()))
		s.fail(w, r, status, msg, hint, err)
		return
	}
	if id.Provider != p.Name {
		// Defence in depth: the provider names its identities.
		s.fail(w, r, http.StatusForbidden, "The sign-in could not be completed.", "", errors.New("identity from another provider"))
		return
	}
	if len(ids) > 0 {
		s.setTrackerCookie(w, p.Name, "", -1)
	}
	attrs := []slog.Attr{slog.String("client_ip", clientIP(r)), slog.String("method", "saml"), slog.Bool("mfa", id.MFA)}
	if relay != "" {
		// RelayState is honoured only as a local path, and the sign-in
		// always ends on the role chooser or the credentials page, so it is
		// recorded, never followed.
		attrs = append(attrs, slog.String("relay_state", relay))
	}
	s.audit(ctx, "login", id, attrs...)
	s.signedIn(w, r, id, methodSAML)
}

// isSAMLIdentity reports whether id came from a SAML provider.
func (s *Server) isSAMLIdentity(id providers.Identity) bool {
	_, _, ok := s.samlProvider(id.Provider)
	return ok
}

// samlReservedNames cannot name a SAML provider: they are routes of their own.
var samlReservedNames = []string{"idp"}

func checkSAMLProviderName(p Provider) error {
	if _, ok := p.Impl.(SAMLServiceProvider); ok && slices.Contains(samlReservedNames, p.Name) {
		return fmt.Errorf("broker: provider name %q is reserved (/saml/%s/ serves the broker's own IdP)", p.Name, p.Name)
	}
	return nil
}
