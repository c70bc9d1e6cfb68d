package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// RequestTimeout bounds one call to the broker.
const RequestTimeout = 30 * time.Second

// maxAnswer bounds what is read of one answer of the broker.
const maxAnswer = 1 << 20

// Client calls one broker's JSON API. Build it with NewClient.
type Client struct {
	// Base is the broker's normalized URL (NormalizeBrokerURL).
	Base string
	// HTTP sends the requests; it follows no redirect.
	HTTP *http.Client
	// UserAgent names the command in the broker's logs.
	UserAgent string
}

// NewClient returns a client of the broker at base (a normalized URL)
// whose requests time out after RequestTimeout.
func NewClient(base, userAgent string) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = RequestTimeout
	return &Client{
		Base:      base,
		UserAgent: userAgent,
		HTTP: &http.Client{
			Transport: tr,
			Timeout:   RequestTimeout,
			// The API never redirects; a redirect means another server
			// (a proxy's sign-in, a wrong URL) and is reported as such.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// SessionInfo is a session as the broker describes it (GET
// /api/v1/sessions/current).
type SessionInfo struct {
	ID        string    `json:"session_id"`
	Provider  string    `json:"provider"`
	User      string    `json:"user"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Roles are the role ARNs the rules in force grant the session now.
	Roles []string `json:"roles"`
	// MFA says the session has multi-factor authentication; MFARoles are
	// the roles of Roles that need it (refused with MFARequired until a
	// step-up, CredentialsWithMFA).
	MFA      bool     `json:"mfa"`
	MFARoles []string `json:"mfa_roles"`
}

// Credentials are temporary AWS keys for one role.
type Credentials struct {
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	SessionToken    string    `json:"SessionToken"`
	Expiration      time.Time `json:"Expiration"`
	RoleARN         string    `json:"RoleArn"`
}

// SignIn is a password sign-in (POST /api/v1/sessions), with the second
// factor when the broker asks for one (401 MFARequired): a TOTP code or a
// recovery code.
type SignIn struct {
	Provider, Username, Password string
	TOTPCode, RecoveryCode       string
}

// CreateSession signs in and returns the session token.
func (c *Client) CreateSession(ctx context.Context, in SignIn) (string, error) {
	body := map[string]string{"provider": in.Provider, "username": in.Username, "password": in.Password}
	if in.TOTPCode != "" {
		body["totp_code"] = in.TOTPCode
	}
	if in.RecoveryCode != "" {
		body["recovery_code"] = in.RecoveryCode
	}
	var out struct {
		Token string `json:"session_token"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/sessions", "", body, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("the broker at %s answered the sign-in without a session token", c.Base)
	}
	return out.Token, nil
}

// CurrentSession describes the session of token.
func (c *Client) CurrentSession(ctx context.Context, token string) (*SessionInfo, error) {
	var out SessionInfo
	if err := c.do(ctx, http.MethodGet, "/api/v1/sessions/current", token, nil, &out); err != nil {
		return nil, err
	}
	if out.ID == "" || out.User == "" || out.ExpiresAt.IsZero() {
		return nil, fmt.Errorf("the broker at %s described the session incompletely", c.Base)
	}
	return &out, nil
}

// EndSession ends the session of token at the broker, on every replica.
func (c *Client) EndSession(ctx context.Context, token string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/sessions/current", token, nil, nil)
}

// Credentials asks for keys of role (an ARN or a name) from the session
// of token.
func (c *Client) Credentials(ctx context.Context, token, role string) (*Credentials, error) {
	return c.CredentialsWithMFA(ctx, token, role, "", "")
}

// CredentialsWithMFA is Credentials with a step-up: the TOTP code (or a
// recovery code) gives the session MFA before the keys are issued.
func (c *Client) CredentialsWithMFA(ctx context.Context, token, role, totpCode, recoveryCode string) (*Credentials, error) {
	body := map[string]string{"role": role}
	if totpCode != "" {
		body["totp_code"] = totpCode
	}
	if recoveryCode != "" {
		body["recovery_code"] = recoveryCode
	}
	var out Credentials
	if err := c.do(ctx, http.MethodPost, "/api/v1/credentials", token, body, &out); err != nil {
		return nil, err
	}
	if out.AccessKeyID == "" || out.SecretAccessKey == "" || out.SessionToken == "" || out.Expiration.IsZero() {
		return nil, fmt.Errorf("the broker at %s answered without complete credentials", c.Base)
	}
	return &out, nil
}

// APIError is a refusal of the broker's JSON API: its status and its
// {"error": {"code", "message"}}.
type APIError struct {
	Status    int
	Code      string
	Message   string
	Roles     []string
	RequestID string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	msg := e.Message + " (" + e.Code
	if e.RequestID != "" {
		msg += ", broker request id " + e.RequestID
	}
	return msg + ")"
}

// IsAPIError reports whether err is a refusal of the broker with one of
// codes.
func IsAPIError(err error, codes ...string) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.Code == c {
			return true
		}
	}
	return false
}

// do sends one request with an optional bearer token and JSON body and
// decodes a 2xx JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return transportError(c.Base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return transportError(c.Base, err)
	}
	isJSON := false
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
		isJSON = mt == "application/json"
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.refusal(resp, raw, isJSON)
	}
	if out == nil {
		return nil
	}
	if !isJSON {
		return fmt.Errorf("the server at %s answered %s with %q, not JSON: is this the broker's URL?", c.Base, path, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("the broker at %s answered %s with JSON this command cannot read: %w", c.Base, path, err)
	}
	return nil
}

// refusal turns a non-2xx answer into an *APIError.
func (c *Client) refusal(resp *http.Response, raw []byte, isJSON bool) error {
	var body struct {
		Error struct {
			Code      string   `json:"code"`
			Message   string   `json:"message"`
			Roles     []string `json:"roles"`
			RequestID string   `json:"request_id"`
		} `json:"error"`
	}
	if isJSON && json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		return &APIError{Status: resp.StatusCode, Code: body.Error.Code, Message: printable(body.Error.Message),
			Roles: body.Error.Roles, RequestID: printable(body.Error.RequestID)}
	}
	msg := fmt.Sprintf("the server at %s answered HTTP %d", c.Base, resp.StatusCode)
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		msg += " (a redirect: is this the broker's URL, or is a proxy in the way?)"
	case resp.StatusCode == http.StatusNotFound:
		msg += " (not found: is this the broker's URL?)"
	case resp.StatusCode >= 500:
		msg += ": the broker or a proxy in front of it has a problem; try again later"
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}

// printable keeps a server's text to one line of printable characters, so
// that an answer cannot rewrite the terminal.
func printable(s string) string {
	if len(s) > 500 {
		s = s[:500]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
