package cli

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// ProviderInfo is one sign-in method of the broker.
type ProviderInfo struct {
	Name, DisplayName string
	// Type is the provider's kind (ldap, static, oidc, saml), "" when the
	// broker did not say.
	Type string
}

// Password reports whether the provider signs people in with a username
// and password the broker checks itself (ldap, static).
func (p ProviderInfo) Password() bool { return p.Type == "ldap" || p.Type == "static" }

// passwordInput is a password field of a sign-in form.
var passwordInput = regexp.MustCompile(`(?i)<input[^>]*\btype="?password\b`)

// TakesPassword reports whether provider name signs in with a password
// form at the broker, from its sign-in start GET /login/{name} (not
// followed): a page with a password field is a password provider; a
// redirect (OIDC, SAML) or any other page is not. For a broker whose
// sign-in page does not tell the kinds.
func (c *Client) TakesPassword(ctx context.Context, name string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/login/"+url.PathEscape(name), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/html")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return false, transportError(c.Base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return false, transportError(c.Base, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return false, &APIError{Status: resp.StatusCode, Code: "UnknownProvider", Message: fmt.Sprintf("the broker at %s has no provider %q", c.Base, name)}
	}
	return resp.StatusCode == http.StatusOK && passwordInput.Match(raw), nil
}

// signInLink is one provider of the broker's sign-in page: its link
// /login/{name}, the name shown, and the kind in parentheses after it.
var signInLink = regexp.MustCompile(`<a[^>]*\bhref="/login/([^"]+)"[^>]*>([^<]*)</a>(?:\s*<span[^>]*>\s*\(([a-z0-9_-]+)\)\s*</span>)?`)

// Providers lists the broker's sign-in methods as its sign-in page (GET /)
// shows them: the broker has no JSON listing, and the page is public.
// A page that lists none (another layout) gives an empty list, not an
// error: the browser way works for every provider.
func (c *Client) Providers(ctx context.Context) ([]ProviderInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, transportError(c.Base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, transportError(c.Base, err)
	}
	if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusTemporaryRedirect {
		// A broker with one provider may send the sign-in page straight
		// to it.
		if loc, err := url.Parse(resp.Header.Get("Location")); err == nil && strings.HasPrefix(loc.Path, "/login/") {
			if name := strings.TrimPrefix(loc.Path, "/login/"); name != "" && !strings.Contains(name, "/") {
				return []ProviderInfo{{Name: name}}, nil
			}
		}
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("the server at %s answered its sign-in page with HTTP %d: is this the broker's URL?", c.Base, resp.StatusCode)}
	}
	return parseSignInPage(string(raw)), nil
}

// parseSignInPage reads the providers off the sign-in page.
func parseSignInPage(page string) []ProviderInfo {
	var out []ProviderInfo
	seen := map[string]bool{}
	for _, m := range signInLink.FindAllStringSubmatch(page, -1) {
		name, err := url.PathUnescape(html.UnescapeString(m[1]))
		if err != nil || name == "" || strings.ContainsAny(name, "/?#") || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, ProviderInfo{Name: name, DisplayName: printable(strings.TrimSpace(html.UnescapeString(m[2]))), Type: m[3]})
	}
	return out
}
