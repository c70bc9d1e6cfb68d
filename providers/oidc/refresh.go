package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
)

var _ providers.Refresher = (*Provider)(nil)

// MaxRefreshTokenBytes is the longest refresh token a login keeps (the
// broker stores it with the session); a longer one is not kept, and that
// login cannot be re-checked.
const MaxRefreshTokenBytes = 16 << 10

// errUnavailableConfig is a re-check that cannot be made because of the
// configuration: the caller refuses and keeps the session
// (ErrUnavailable), and the operator learns why (ErrConfiguration).
var errUnavailableConfig = fmt.Errorf("%w: %w", providers.ErrUnavailable, providers.ErrConfiguration)

// upstream is what the provider keeps in Identity.Upstream: the refresh
// token of the login, and the issuer and client it belongs to, so that it
// is never sent to another issuer, or with another client's credentials,
// after a configuration change.
type upstream struct {
	Issuer       string `json:"iss"`
	ClientID     string `json:"client_id"`
	RefreshToken string `json:"refresh_token"`
}

// keepRefreshToken is the Identity.Upstream of a login that got refresh
// token rt (nil when rt is empty or too long to keep).
func (p *Provider) keepRefreshToken(ctx context.Context, rt string) []byte {
	if rt == "" {
		return nil
	}
	if len(rt) > MaxRefreshTokenBytes {
		p.logger.WarnContext(ctx, "oidc: refresh token not kept: longer than the limit; the login cannot be re-checked",
			"bytes", len(rt), "limit", MaxRefreshTokenBytes)
		return nil
	}
	b, _ := json.Marshal(upstream{Issuer: p.cfg.Issuer, ClientID: p.cfg.ClientID, RefreshToken: rt}) // strings only: cannot fail
	return b
}

// Refresh re-checks a code-flow login that kept a refresh token: it
// redeems the token at the token endpoint (x/oauth2, over the provider's
// bounded HTTP client), verifies the ID token that comes back with the
// code flow's verifier (no nonce: OIDC Core 12.2) and requires its sub to
// be the login's, fetches userinfo and overage groups as a login does, and
// returns the identity with the claims read now, the login's own AuthTime,
// MFA, MFATime and Expiry, and Upstream holding the refresh token to use
// next (rotated when the provider rotates it). Without an ID token in the
// answer the claims come from userinfo when use_userinfo is set, else the
// identity stays as it was (the provider still honoured the login).
//
// A login without a refresh token (none given, or an ID token presented
// to IdentityFromToken) cannot be re-checked: id comes back unchanged and
// nothing is sent.
//
// Errors: providers.ErrAccountGone when the provider refuses the refresh
// token (invalid_grant: revoked, expired, the user gone or disabled),
// answers for another subject, or with an ID token that fails
// verification, or when the login came from another issuer or client than
// the one configured now; providers.ErrUnavailable when it cannot be asked
// (network, timeout, 5xx, 429, keys unavailable), also with
// providers.ErrConfiguration when its answer shows a configuration problem
// (invalid_client, a groups overage without overage_endpoint). The refresh
// token never appears in an error or a log.
func (p *Provider) Refresh(ctx context.Context, id providers.Identity) (providers.Identity, error) {
	fail := func(sentinel error, format string, args ...any) (providers.Identity, error) {
		return providers.Identity{}, fmt.Errorf("%w: oidc provider %q: re-check of %q: %s", sentinel, p.cfg.Name, id.Username, fmt.Sprintf(format, args...))
	}
	if id.Provider != p.cfg.Name {
		return fail(errUnavailableConfig, "cannot re-check a login of provider %q", id.Provider)
	}
	sub, ok := strings.CutPrefix(id.Subject, p.cfg.Issuer+"#")
	if !ok || sub == "" {
		return fail(providers.ErrAccountGone, "the login came from another issuer than %s", p.cfg.Issuer)
	}
	if len(id.Upstream) == 0 {
		return id, nil
	}
	var st upstream
	if err := json.Unmarshal(id.Upstream, &st); err != nil || st.RefreshToken == "" {
		return fail(providers.ErrAccountGone, "the login's upstream state is unreadable")
	}
	if st.Issuer != p.cfg.Issuer || st.ClientID != p.cfg.ClientID {
		return fail(providers.ErrAccountGone, "the login's refresh token belongs to another issuer or client than the one configured now")
	}
	meta, err := p.discover(ctx)
	if err != nil {
		return fail(providers.ErrUnavailable, "%v", err)
	}
	xctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.client), p.timeout)
	defer cancel()
	tok, err := p.oauth2Config(meta).TokenSource(xctx, &oauth2.Token{RefreshToken: st.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			return fail(providers.ErrUnavailable, "token request to %s failed: %v", p.cfg.Issuer, redactURLError(err))
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		// The response body and description are not echoed.
		switch {
		case re.ErrorCode == "invalid_grant":
			return fail(providers.ErrAccountGone, "the token endpoint refused the refresh token (invalid_grant): the provider ended the login")
		case status >= 500 || status == http.StatusTooManyRequests:
			return fail(providers.ErrUnavailable, "the token endpoint answered HTTP %d", status)
		default:
			return fail(errUnavailableConfig, "the token endpoint refused the refresh: HTTP %d, error %s", status, quote(re.ErrorCode))
		}
	}
	next := p.keepRefreshToken(ctx, tok.RefreshToken)
	if next == nil {
		return fail(providers.ErrUnavailable, "the token endpoint answered without a refresh token that can be kept")
	}

	t := &Token{Issuer: p.cfg.Issuer, Subject: sub}
	var claims map[string]any
	if rawID, _ := tok.Extra("id_token").(string); rawID != "" {
		if t, err = p.codeV.Verify(ctx, rawID); err != nil {
			if errors.Is(err, awsspec.ErrKeyUnavailable) {
				return fail(providers.ErrUnavailable, "%v", err)
			}
			return fail(providers.ErrAccountGone, "the refreshed ID token is refused: %v", err)
		}
		if t.Subject != sub {
			return fail(providers.ErrAccountGone, "the refreshed ID token names another subject")
		}
		if _, ok := t.Claims["at_hash"]; ok {
			if err := t.idToken.VerifyAccessToken(tok.AccessToken); err != nil {
				return fail(providers.ErrAccountGone, "the refreshed ID token's at_hash does not match the access token")
			}
		}
		claims = t.Claims
	}
	if p.cfg.UseUserinfo {
		ui, err := p.userinfo(ctx, meta, tok.AccessToken)
		if err != nil {
			return fail(providers.ErrUnavailable, "userinfo: %v", err)
		}
		if s, _ := ui["sub"].(string); s != sub {
			return fail(providers.ErrAccountGone, "userinfo names another subject")
		}
		if claims == nil {
			claims = map[string]any{}
		}
		for k, v := range ui {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	if claims == nil {
		// Nothing to read the claims from: the provider honoured the login,
		// which is all this answer says.
		out := id
		out.Upstream = next
		return out, nil
	}
	groups, err := p.groups(ctx, claims, tok.AccessToken)
	if err != nil {
		if errors.Is(err, providers.ErrConfiguration) {
			return fail(errUnavailableConfig, "groups: %v", err)
		}
		return fail(providers.ErrUnavailable, "groups: %v", err)
	}
	fresh := p.identity(t, claims, groups)
	// What the provider says now; when and how the login happened stays.
	fresh.AuthTime, fresh.MFA, fresh.MFATime, fresh.Expiry = id.AuthTime, id.MFA, id.MFATime, id.Expiry
	fresh.Upstream = next
	return fresh, nil
}
