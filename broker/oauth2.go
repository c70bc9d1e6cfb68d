package broker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

// The broker is an OAuth 2.0 authorization server for one client, its own
// command line (idbroker login): the authorization-code grant with PKCE
// and a loopback redirect (RFC 6749, 7636, 8252; oauth2authorize.go) and
// the device authorization grant (RFC 8628; device.go). Both end at
// POST /oauth2/token (oauth2token.go) with a new bearer session of the
// sessions API, made from the identity of the browser session that
// allowed it and ending with it.
//
// What is pending between the browser and the CLI (an authorization code,
// a device request) is a record of the store, so that every replica sees
// it: sealed like a session, under an id of its own namespace
// (oauth2GrantPrefix), which a session id never has. Everything single use
// (a code, a consent, a device decision, a delivery) is claimed in the
// store.

const (
	// CLIClientID is the one OAuth client: the public idbroker CLI.
	CLIClientID = "idbroker-cli"
	// oauth2GrantPrefix starts the store id of every pending OAuth record
	// (an authorization code, a device request); session ids never
	// contain ':'.
	oauth2GrantPrefix = "oauth2-"
	// oauth2StoreTimeout bounds each store call of the OAuth endpoints.
	oauth2StoreTimeout = 2 * time.Second
	// maxRedirectURI bounds a loopback redirect URI.
	maxRedirectURI = 512
	// resumeCookie carries the request to come back to after a sign-in.
	resumeCookie = "idb_resume"
	resumeTTL    = 10 * time.Minute
)

// IsOAuthRecord reports whether a record of the store's session listing
// is a pending OAuth grant rather than a session (ListSessions("") lists
// both; a session listing skips these).
func IsOAuthRecord(id string) bool { return strings.HasPrefix(id, oauth2GrantPrefix) }

func (s *Server) oauthRoutes(mux *http.ServeMux, cop *http.CrossOriginProtection) {
	mux.HandleFunc("GET /oauth2/authorize", s.serveOAuthAuthorize)
	mux.HandleFunc("POST /oauth2/authorize", s.serveOAuthDecision)
	mux.HandleFunc("POST /oauth2/device_authorization", s.serveDeviceAuthorization)
	mux.HandleFunc("GET /device", s.serveDevice)
	mux.HandleFunc("POST /device", s.serveDevicePost)
	// The CLI calls this one without cookies; the browser's posts
	// (authorize, device) stay under the cross-origin check and CSRF.
	cop.AddInsecureBypassPattern("POST /oauth2/device_authorization")
}

// checkLoopbackRedirect accepts only a loopback IP redirect of a native
// app (RFC 8252 §7.3): http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH,
// any port, written plainly: no localhost (§8.3), no other spelling of
// the address, no userinfo, query or fragment. It returns the port.
func checkLoopbackRedirect(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("redirect_uri is required")
	}
	if len(raw) > maxRedirectURI {
		return "", fmt.Errorf("redirect_uri is longer than %d bytes", maxRedirectURI)
	}
	for _, c := range raw {
		if c <= ' ' || c >= 0x7f || c == '\\' || c == '#' || c == '?' || c == '@' {
			return "", errors.New("redirect_uri holds a character a loopback redirect has no use for (space, control, non-ASCII, \\, #, ?, @)")
		}
	}
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		return "", errors.New("redirect_uri must start with http:// (a loopback redirect)")
	}
	hostport, path, _ := strings.Cut(rest, "/")
	var port string
	switch {
	case strings.HasPrefix(hostport, "127.0.0.1:"):
		port = strings.TrimPrefix(hostport, "127.0.0.1:")
	case strings.HasPrefix(hostport, "[::1]:"):
		port = strings.TrimPrefix(hostport, "[::1]:")
	default:
		return "", errors.New("redirect_uri must name 127.0.0.1 or [::1] with a port (not localhost, not another host)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", errors.New("redirect_uri has no valid port")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host != hostport || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("redirect_uri is not a plain loopback URL")
	}
	if strings.Contains("/"+path+"/", "/../") || strings.Contains("/"+path+"/", "/./") {
		return "", errors.New("redirect_uri has dot segments")
	}
	return port, nil
}

// clientOf reads the client of a CLI request to the token or device
// endpoints: client_id in the form, or HTTP Basic (RFC 6749 §2.3.1, as
// golang.org/x/oauth2 tries first) with the client id and an empty
// secret, or both if they agree. The one client is public: a secret is
// refused.
func clientOf(r *http.Request, form url.Values) (string, oauthError, bool) {
	id := form.Get("client_id")
	if user, pass, ok := r.BasicAuth(); ok {
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || p != "" || (id != "" && id != u) {
			return "", invalidClient("the client is public: send client_id " + CLIClientID + " without a secret"), false
		}
		id = u
	} else if hasAuthorization(r) {
		return "", invalidClient("only HTTP Basic client authentication (with an empty secret) or client_id in the body is accepted"), false
	}
	if form.Get("client_secret") != "" {
		return "", invalidClient("the client is public: send client_id " + CLIClientID + " without a secret"), false
	}
	if id != CLIClientID {
		return "", invalidClient("unknown client: the only client is " + CLIClientID), false
	}
	return id, oauthError{}, true
}

func invalidClient(desc string) oauthError {
	return oauthErr(http.StatusUnauthorized, "invalid_client", desc)
}

// writeTokenError answers the token and device endpoints (RFC 6749 §5.2);
// a refused client gets the Basic challenge of §5.2 as well.
func writeTokenError(w http.ResponseWriter, e oauthError) {
	if e.Code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="idbroker"`)
	}
	writeOAuthError(w, e)
}

// readCLIForm reads the bounded form body of a CLI endpoint with no query
// string and no repeated parameter (RFC 6749 §3.2), answering the error
// itself.
func readCLIForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.URL.RawQuery != "" {
		// Codes and tokens never belong in a URL (they end up in access logs).
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "parameters must be sent in the form body, not the query string"))
		return nil, false
	}
	if err := parseForm(w, r); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeTokenError(w, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the request body is larger than %d bytes", maxFormBody)))
			return nil, false
		}
		writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded"))
		return nil, false
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			writeTokenError(w, oauthErr(http.StatusBadRequest, "invalid_request", "parameter "+k+" is repeated"))
			return nil, false
		}
	}
	return r.PostForm, true
}

// Pending OAuth records in the store.

var errNoOAuthRecord = errors.New("no such OAuth record: unknown, expired or used")

func grantPurpose(id string) string { return "idb_oauth2/v1\x00" + id }

// putGrant seals v under id (which starts with oauth2GrantPrefix) until
// expires, listed under index (may be empty).
func (s *Server) putGrant(ctx context.Context, id string, v any, expires time.Time, index ...string) error {
	sealed, err := s.sealer.seal(grantPurpose(id), v, expires.Sub(s.now()))
	if err != nil {
		return fmt.Errorf("%w: seal: %w", errSessionStore, err)
	}
	ctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	if err := s.cfg.Store.PutSession(ctx, store.SessionRecord{ID: id, Data: []byte(sealed), Index: index, Expires: expires}); err != nil {
		return fmt.Errorf("%w: %w", errSessionStore, err)
	}
	return nil
}

// getGrant opens the record id into v: errNoOAuthRecord when it is absent,
// expired or does not open, errSessionStore when the store cannot say.
func (s *Server) getGrant(ctx context.Context, id string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	rec, err := s.cfg.Store.GetSession(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNoOAuthRecord
	case err != nil:
		return fmt.Errorf("%w: %w", errSessionStore, err)
	}
	if s.sealer.openMax(grantPurpose(id), string(rec.Data), maxSealedCookie, v) != nil {
		return errNoOAuthRecord
	}
	return nil
}

// claim claims key in the store until the given time: true the first
// time, on any replica.
func (s *Server) claim(ctx context.Context, key string, until time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, oauth2StoreTimeout)
	defer cancel()
	fresh, err := s.cfg.Store.Claim(ctx, key, until)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errSessionStore, err)
	}
	return fresh, nil
}

// keyedHash is a hex HMAC of v under a key derived from the cookie key
// for label: the store's key for a value too short to be hashed plainly
// (a user code).
func (s *Server) keyedHash(label, v string) string {
	m := hmac.New(sha256.New, derive(s.cfg.CookieKey, label))
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil))
}

func sha256Hex(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// Coming back after a sign-in: a browser without a session that asks for
// the authorization or the device page is sent to sign in, carrying a
// sealed note of its request; the sign-in (signedIn) ends there instead
// of on the role page. The note is rebuilt into a local path of the
// broker's own: nothing from the query is followed as a URL.

// resumeNote is the sealed content of the resume cookie.
type resumeNote struct {
	// Kind is "authorize" (Query: the authorization request, validated)
	// or "device" (Query: the user code typed, if any).
	Kind  string `json:"k"`
	Query string `json:"q"`
}

const resumePurpose = "idb_resume/v1"

// setResume remembers where the browser goes after it signs in.
func (s *Server) setResume(w http.ResponseWriter, n resumeNote) error {
	sealed, err := s.sealer.seal(resumePurpose, n, resumeTTL)
	if err != nil {
		return err
	}
	c := &http.Cookie{Name: resumeCookie, Value: sealed, Path: "/", MaxAge: int(resumeTTL / time.Second), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if s.secure {
		// A SAML IdP posts to the ACS from its own site: a Lax cookie
		// would not come along, and the sign-in would end on the role page.
		c.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
	return nil
}

func (s *Server) clearResume(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(resumeCookie); err != nil {
		return
	}
	c := &http.Cookie{Name: resumeCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if s.secure {
		c.SameSite = http.SameSiteNoneMode
	}
	http.SetCookie(w, c)
}

// afterSignIn is where a sign-in sends the browser: the request it was
// sent to sign in for (once), else the role page.
func (s *Server) afterSignIn(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(resumeCookie)
	if err != nil {
		return "/portal"
	}
	s.clearResume(w, r)
	var n resumeNote
	if s.sealer.open(resumePurpose, c.Value, &n) != nil {
		return "/portal"
	}
	switch n.Kind {
	case "authorize":
		return "/oauth2/authorize?" + n.Query
	case "device":
		if n.Query != "" {
			return "/device?" + url.Values{"user_code": {n.Query}}.Encode()
		}
		return "/device"
	}
	return "/portal"
}

// signInFirst sends a browser without a session to sign in (straight to
// provider when it names one configured), to come back to n afterwards.
func (s *Server) signInFirst(w http.ResponseWriter, r *http.Request, n resumeNote, provider string) {
	if err := s.setResume(w, n); err != nil {
		s.fail(w, r, http.StatusInternalServerError, "Something went wrong.", "", err)
		return
	}
	target := "/"
	if _, ok := s.providers[provider]; ok {
		target = "/login/" + url.PathEscape(provider)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}
