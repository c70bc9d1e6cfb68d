package cli

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// The broker's OAuth 2.0 server for its command line (RFC 6749, 7636,
// 8252, 8628): one public client, PKCE S256, a loopback redirect on any
// port, and the device grant. The access token of the token answer is a
// session token of the sessions API.
const (
	ClientID = "idbroker-cli"
	// LoopbackTimeout is how long the command waits for the browser.
	LoopbackTimeout = 5 * time.Minute
	// maxDeviceName is the longest device_name the broker shows.
	maxDeviceName = 64
)

// oauthConfig is the broker's OAuth endpoints for the CLI client.
func (c *Client) oauthConfig(redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: ClientID,
		Endpoint: oauth2.Endpoint{
			AuthURL:       c.Base + "/oauth2/authorize",
			TokenURL:      c.Base + "/oauth2/token",
			DeviceAuthURL: c.Base + "/oauth2/device_authorization",
			AuthStyle:     oauth2.AuthStyleInParams, // a public client: client_id in the form, no secret
		},
		RedirectURL: redirect,
	}
}

// oauthContext makes x/oauth2 use the client's HTTP client (timeouts, no
// redirects).
func (c *Client) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.HTTP)
}

// LoopbackOptions steer the browser sign-in.
type LoopbackOptions struct {
	// Provider, when set, sends the browser straight to that provider.
	Provider string
	// Open opens the URL in a browser; nil or an error: the person opens
	// it (Show has printed it).
	Open func(url string) error
	// Show tells the person the URL (always called, before Open).
	Show func(url string)
	// Timeout is how long to wait for the browser (LoopbackTimeout).
	Timeout time.Duration
}

// OAuthError is the authorization server's refusal (RFC 6749 §4.1.2.1,
// §5.2; RFC 8628 §3.5), said for a person.
type OAuthError struct {
	Code, Description string
	// What is the sentence for a person.
	What string
}

func (e *OAuthError) Error() string { return e.What }

// LoopbackTimeoutError is a browser that never came back.
type LoopbackTimeoutError struct {
	Base    string
	Timeout time.Duration
}

func (e *LoopbackTimeoutError) Error() string {
	return fmt.Sprintf("the browser did not come back from %s within %v: sign in again (with --no-browser to open the link yourself, or --device on a machine without a browser)", e.Base, e.Timeout)
}

// LoopbackLogin signs in through the browser: it listens on
// 127.0.0.1:<free port>, sends the person to the broker's authorization
// endpoint with PKCE S256 and a random state, accepts exactly one
// callback with that state on /callback, redeems the code at the token
// endpoint and returns the session token.
func (c *Client) LoopbackLogin(ctx context.Context, opts LoopbackOptions) (string, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = LoopbackTimeout
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("cannot listen on 127.0.0.1 for the browser's answer: %w", err)
	}
	defer ln.Close()
	redirect := fmt.Sprintf("http://%s/callback", ln.Addr().String())
	cfg := c.oauthConfig(redirect)
	state, err := randomString(32)
	if err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	params := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if opts.Provider != "" {
		params = append(params, oauth2.SetAuthURLParam("provider", opts.Provider))
	}
	authURL := cfg.AuthCodeURL(state, params...)

	cb := &callback{host: ln.Addr().String(), state: state, done: make(chan callbackResult, 1),
		redeem: func(ctx context.Context, code string) (string, error) {
			tok, err := cfg.Exchange(c.oauthContext(ctx), code, oauth2.VerifierOption(verifier))
			if err != nil {
				return "", c.tokenError(err)
			}
			return accessToken(tok)
		}}
	srv := &http.Server{Handler: cb, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: RequestTimeout + 10*time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	if opts.Show != nil {
		opts.Show(authURL)
	}
	if opts.Open != nil {
		_ = opts.Open(authURL)
	}
	timer := time.NewTimer(opts.Timeout)
	defer timer.Stop()
	select {
	case r := <-cb.done:
		return r.token, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("interrupted while waiting for the browser: %w", ctx.Err())
	case <-timer.C:
		return "", &LoopbackTimeoutError{Base: c.Base, Timeout: opts.Timeout}
	}
}

type callbackResult struct {
	token string
	err   error
}

// callback is the loopback listener's one route.
type callback struct {
	host, state string
	redeem      func(ctx context.Context, code string) (string, error)
	mu          sync.Mutex
	used        bool
	done        chan callbackResult
}

func (cb *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/callback" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	// The Host check keeps out pages that reach this port under another
	// name (DNS rebinding); the state keeps out any answer not for this
	// sign-in. Neither ends the wait: the right answer may still come.
	if r.Host != cb.host || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(cb.state)) != 1 {
		callbackPage(w, http.StatusBadRequest, "This answer is not for the sign-in this command is waiting for.",
			"Nothing was done. Go back to the terminal and follow the link it shows.")
		return
	}
	cb.mu.Lock()
	used := cb.used
	cb.used = true
	cb.mu.Unlock()
	if used {
		callbackPage(w, http.StatusConflict, "This sign-in was already completed.", "You can close this tab.")
		return
	}
	var res callbackResult
	if code := q.Get("error"); code != "" {
		res.err = authorizeError(code, q.Get("error_description"))
	} else if code := q.Get("code"); code == "" {
		res.err = errors.New("the broker's answer in the browser carried no authorization code")
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), RequestTimeout)
		res.token, res.err = cb.redeem(ctx, code)
		cancel()
	}
	if res.err != nil {
		callbackPage(w, http.StatusOK, "The sign-in did not complete.", printable(res.err.Error())+" You can close this tab; the terminal says what to do next.")
	} else {
		callbackPage(w, http.StatusOK, "You are signed in to the idbroker command line.", "You can close this tab and return to the terminal.")
	}
	cb.done <- res
}

var callbackTemplate = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>idbroker</title></head>
<body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

// callbackPage is the loopback listener's answer to the browser: plain,
// no script, no external resource.
func callbackPage(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = callbackTemplate.Execute(w, map[string]string{"Title": title, "Text": text})
}

// authorizeError is an error redirect of the authorization endpoint.
func authorizeError(code, desc string) error {
	code, desc = printable(code), printable(desc)
	e := &OAuthError{Code: code, Description: desc}
	switch code {
	case "access_denied":
		e.What = "the sign-in was denied in the browser"
	default:
		e.What = "the broker refused the sign-in: " + code
		if desc != "" {
			e.What += " (" + desc + ")"
		}
	}
	return e
}

// tokenError says why the token endpoint refused.
func (c *Client) tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		var ue *url.Error
		if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return transportError(c.Base, err)
		}
		return fmt.Errorf("the broker's token answer could not be read: %w", err)
	}
	e := &OAuthError{Code: printable(re.ErrorCode), Description: printable(re.ErrorDescription)}
	switch e.Code {
	case "access_denied":
		e.What = "the sign-in was denied in the browser"
	case "expired_token":
		e.What = "the code expired before it was approved: run the command again"
	case "invalid_grant":
		e.What = "the broker refused the sign-in's code (expired or used already): sign in again"
	case "":
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		e.What = fmt.Sprintf("the broker's token endpoint answered HTTP %d without an OAuth error: is %s the broker, and does it sign in command lines?", status, c.Base)
	default:
		e.What = "the broker refused the sign-in: " + e.Code
	}
	if e.Description != "" && e.Code != "" {
		e.What += " (" + e.Description + ")"
	}
	return e
}

// accessToken is the session token of a token answer.
func accessToken(tok *oauth2.Token) (string, error) {
	if tok == nil || tok.AccessToken == "" {
		return "", errors.New("the broker's token answer carried no access token")
	}
	if tt := tok.Type(); !strings.EqualFold(tt, "Bearer") {
		return "", fmt.Errorf("the broker's token answer is of type %q, not Bearer", printable(tt))
	}
	return tok.AccessToken, nil
}

// DeviceOptions steer the device sign-in.
type DeviceOptions struct {
	// DeviceName is shown on the approval page (the host name); cut to
	// 64 printable characters.
	DeviceName string
	// Show tells the person where to go and which code to enter.
	Show func(*oauth2.DeviceAuthResponse)
}

// DeviceLogin signs in with the device grant (RFC 8628): it asks for a
// code, shows it, and polls the token endpoint (x/oauth2 keeps the
// interval and slows down when told) until the person approves, denies,
// or the code expires.
func (c *Client) DeviceLogin(ctx context.Context, opts DeviceOptions) (string, error) {
	cfg := c.oauthConfig("")
	var params []oauth2.AuthCodeOption
	if name := deviceName(opts.DeviceName); name != "" {
		params = append(params, oauth2.SetAuthURLParam("device_name", name))
	}
	da, err := cfg.DeviceAuth(c.oauthContext(ctx), params...)
	if err != nil {
		return "", c.tokenError(err)
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return "", fmt.Errorf("the broker at %s answered the device authorization incompletely", c.Base)
	}
	da.UserCode = printable(da.UserCode)
	da.VerificationURI = printable(da.VerificationURI)
	da.VerificationURIComplete = printable(da.VerificationURIComplete)
	if opts.Show != nil {
		opts.Show(da)
	}
	tok, err := cfg.DeviceAccessToken(c.oauthContext(ctx), da)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) && !da.Expiry.IsZero() && !time.Now().Before(da.Expiry) {
			return "", &OAuthError{Code: "expired_token", What: fmt.Sprintf("the code %s expired before it was approved: run the command again", da.UserCode)}
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("interrupted while waiting for the approval: %w", ctx.Err())
		}
		err = c.tokenError(err)
		var oe *OAuthError
		if errors.As(err, &oe) && oe.Code == "expired_token" {
			oe.What = fmt.Sprintf("the code %s expired before it was approved: run the command again", da.UserCode)
		}
		return "", err
	}
	return accessToken(tok)
}

// deviceName is name cut to what the broker shows: printable ASCII, at
// most 64 characters.
func deviceName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, name)
	if len(name) > maxDeviceName {
		name = name[:maxDeviceName]
	}
	return strings.TrimSpace(name)
}

// randomString is n random bytes from crypto/rand, base64url.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
