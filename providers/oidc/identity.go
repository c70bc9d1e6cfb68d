package oidc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
)

// IdentityFromToken verifies an ID token presented directly (mobile
// exchange): aud must contain client_id or one of allowed_audiences; there
// is no nonce and no userinfo. Such a login has no refresh token: Refresh
// returns it unchanged. A groups overage fails closed because no
// access token is available to fetch the groups.
func (p *Provider) IdentityFromToken(ctx context.Context, rawIDToken string) (providers.Identity, error) {
	t, err := p.directV.Verify(ctx, rawIDToken)
	if err != nil {
		return providers.Identity{}, classify(err)
	}
	groups, err := p.groups(ctx, t.Claims, "")
	if err != nil {
		return providers.Identity{}, err
	}
	return p.identity(t, t.Claims, groups), nil
}

// classify adds the providers sentinel matching a verification error.
func classify(err error) error {
	if errors.Is(err, awsspec.ErrKeyUnavailable) {
		return fmt.Errorf("%w: %w", providers.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", providers.ErrInvalidCredentials, err)
}

// groups reads the configured groups claim; on a groups overage it asks
// the configured overage endpoint, or fails closed.
func (p *Provider) groups(ctx context.Context, claims map[string]any, accessToken string) ([]string, error) {
	if p.cfg.GroupsClaim == "" {
		return nil, nil
	}
	if v, ok := claimPath(claims, p.cfg.GroupsClaim); ok {
		return stringsOf(v), nil
	}
	if !overage(claims, p.cfg.GroupsClaim) {
		return nil, nil
	}
	if p.cfg.OverageEndpoint == "" || accessToken == "" {
		return nil, fmt.Errorf("%w: oidc provider %q: groups overage signalled but no overage endpoint/access token to resolve it", providers.ErrConfiguration, p.cfg.Name)
	}
	resp, err := p.callJSON(ctx, http.MethodPost, p.cfg.OverageEndpoint, accessToken, []byte(`{"securityEnabledOnly":false}`))
	if err != nil {
		return nil, err
	}
	vals, ok := resp["value"].([]any)
	if !ok {
		return nil, fmt.Errorf("%w: oidc: overage response has no value list", providers.ErrUnavailable)
	}
	var out []string
	for _, v := range vals {
		switch t := v.(type) {
		case string:
			out = append(out, t)
		case map[string]any:
			if id, ok := t["id"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return dedupe(out), nil
}

// overage reports whether the token says groups were left out: a
// _claim_names entry for the groups claim (OIDC distributed claims, Entra)
// or hasgroups=true.
func overage(claims map[string]any, groupsClaim string) bool {
	if names, ok := claims["_claim_names"].(map[string]any); ok {
		top, _, _ := strings.Cut(groupsClaim, ".")
		if _, ok := names[top]; ok {
			return true
		}
		if _, ok := names[groupsClaim]; ok {
			return true
		}
	}
	if b, ok := claims["hasgroups"].(bool); ok && b {
		return true
	}
	if s, ok := claims["hasgroups"].(string); ok && strings.EqualFold(s, "true") {
		return true
	}
	return false
}

// claimPath finds a claim by exact name, else by a dotted path into nested
// objects.
func claimPath(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	var cur any = claims
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// stringsOf returns a string as a one-element list, and the non-empty
// string elements of a list; anything else yields nothing.
func stringsOf(v any) []string {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil
		}
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return dedupe(out)
	}
	return nil
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// skippedAttributes are protocol claims not worth keeping as attributes.
var skippedAttributes = map[string]bool{"nonce": true, "at_hash": true, "c_hash": true, "s_hash": true}

func (p *Provider) identity(t *Token, claims map[string]any, groups []string) providers.Identity {
	id := providers.Identity{
		Provider: p.cfg.Name,
		Subject:  t.Issuer + "#" + t.Subject,
		Groups:   groups,
		// Expiry stays zero: an ID token's exp bounds when the token may be
		// presented, not the user's session (Keycloak's are 5 minutes). AWS
		// does not cap web-identity sessions by it either; SAML's
		// SessionNotOnOrAfter, which does end a session, sets Expiry there.
	}
	id.Email, _ = claims["email"].(string)
	if id.Email != "" {
		verified, _ := claims["email_verified"].(bool) // "true" as a string is not verified
		id.EmailVerified = verified || p.cfg.InsecureSkipEmailVerified
	}
	if name, _ := claims["name"].(string); name != "" {
		id.DisplayName = name
	} else {
		given, _ := claims["given_name"].(string)
		family, _ := claims["family_name"].(string)
		id.DisplayName = strings.TrimSpace(given + " " + family)
	}
	if p.cfg.UsernameClaim != "" {
		id.Username, _ = claims[p.cfg.UsernameClaim].(string)
	}
	if id.Username == "" {
		id.Username, _ = claims["preferred_username"].(string)
	}
	if id.Username == "" && id.EmailVerified {
		id.Username = id.Email
	}
	if id.Username == "" {
		id.Username = t.Subject
	}
	for _, m := range t.AMR {
		switch strings.ToLower(m) {
		case "mfa", "otp", "hwk":
			id.MFA = true
		}
	}
	if f, ok := claims["auth_time"].(float64); ok && f == math.Trunc(f) && f >= 0 && f <= maxNumericDate {
		id.AuthTime = time.Unix(int64(f), 0).UTC()
	}
	if id.MFA {
		// amr describes the authentication at auth_time (zero: unknown).
		id.MFATime = id.AuthTime
	}
	id.Attributes = map[string][]string{}
	for k, v := range claims {
		if skippedAttributes[k] || (k == "email" && !id.EmailVerified) {
			continue // an unverified email must not reach rules through attributes
		}
		switch tv := v.(type) {
		case string:
			id.Attributes[k] = []string{tv}
		case []any:
			vals := make([]string, 0, len(tv))
			for _, e := range tv {
				s, ok := e.(string)
				if !ok {
					vals = nil
					break
				}
				vals = append(vals, s)
			}
			if vals != nil {
				id.Attributes[k] = vals
			}
		}
	}
	return id
}
