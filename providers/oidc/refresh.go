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
// (invalid_client, a groups overage without overage_endpoint). When the
// refresh token was redeemed and rotated before an ErrUnavailable (userinfo
// or the keys could not be had), the identity returned with the error is id
// with the new Upstream, which the caller keeps: the old token is dead.
// The refresh token never appears in an error or a log.
func (p *Provider) Refresh(ctx context.Context, id providers.Identity) (providers.Identity, error) {
	fail := func(err error) error {
		return fmt.Errorf("oidc provider %q: re-check of %q: %w", p.cfg.Name, id.Username, err)
	}
	if id.Provider != p.cfg.Name {
		return providers.Identity{}, fail(failure(errUnavailableConfig, "cannot re-check a login of provider %q", id.Provider))
	}
	sub, ok := strings.CutPrefix(id.Subject, p.cfg.Issuer+"#")
	if !ok || sub == "" {
		return providers.Identity{}, fail(failure(providers.ErrAccountGone, "the login came from another issuer than %s", p.cfg.Issuer))
	}
	if len(id.Upstream) == 0 {
		return id, nil
	}
	var st upstream
	if err := json.Unmarshal(id.Upstream, &st); err != nil || st.RefreshToken == "" {
		return providers.Identity{}, fail(failure(providers.ErrAccountGone, "the login's upstream state is unreadable"))
	}
	if st.Issuer != p.cfg.Issuer || st.ClientID != p.cfg.ClientID {
		return providers.Identity{}, fail(failure(providers.ErrAccountGone, "the login's refresh token belongs to another issuer or client than the one configured now"))
	}
	meta, err := p.discover(ctx)
	if err != nil {
		return providers.Identity{}, fail(failure(providers.ErrUnavailable, "%v", err))
	}
	tok, err := p.redeem(ctx, meta, st.RefreshToken)
	if err != nil {
		return providers.Identity{}, fail(err)
	}
	next := p.keepRefreshToken(ctx, tok.RefreshToken)
	if next == nil {
		return providers.Identity{}, fail(failure(providers.ErrUnavailable, "the token endpoint answered without a refresh token that can be kept"))
	}
	fresh, err := p.refreshed(ctx, meta, tok, id, sub)
	switch {
	case err == nil:
		fresh.Upstream = next
		return fresh, nil
	case errors.Is(err, providers.ErrAccountGone):
		return providers.Identity{}, fail(err)
	default:
		kept := id
		kept.Upstream = next
		return kept, fail(err)
	}
}

// failure is a failed step of Refresh: class (a providers sentinel, or
// errUnavailableConfig) and the operator's reason, which never echoes a
// response body or a token.
func failure(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", class, fmt.Sprintf(format, args...))
}

// redeem redeems refresh token rt at the token endpoint; a failure is a
// failure of its class.
func (p *Provider) redeem(ctx context.Context, meta discoveryMeta, rt string) (*oauth2.Token, error) {
	xctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.client), p.timeout)
	defer cancel()
	tok, err := p.oauth2Config(meta).TokenSource(xctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return nil, failure(providers.ErrUnavailable, "token request to %s failed: %v", p.cfg.Issuer, redactURLError(err))
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	switch {
	case re.ErrorCode == "invalid_grant":
		return nil, failure(providers.ErrAccountGone, "the token endpoint refused the refresh token (invalid_grant): the provider ended the login")
	case status >= 500 || status == http.StatusTooManyRequests:
		return nil, failure(providers.ErrUnavailable, "the token endpoint answered HTTP %d", status)
	default:
		return nil, failure(errUnavailableConfig, "the token endpoint refused the refresh: HTTP %d, error %s", status, quote(re.ErrorCode))
	}
}

// refreshed is the identity a redeemed refresh answer stands for: the
// claims of its ID token (verified, the login's sub) and of userinfo when
// configured, the groups read from them, and the login's own AuthTime,
// MFA, MFATime and Expiry; id itself when the answer has no claims to
// read. A failure is a failure of its class.
func (p *Provider) refreshed(ctx context.Context, meta discoveryMeta, tok *oauth2.Token, id providers.Identity, sub string) (providers.Identity, error) {
	t := &Token{Issuer: p.cfg.Issuer, Subject: sub}
	var claims map[string]any
	if rawID, _ := tok.Extra("id_token").(string); rawID != "" {
		var err error
		if t, err = p.codeV.Verify(ctx, rawID); err != nil {
			if errors.Is(err, awsspec.ErrKeyUnavailable) {
				return providers.Identity{}, failure(providers.ErrUnavailable, "%v", err)
			}
			return providers.Identity{}, failure(providers.ErrAccountGone, "the refreshed ID token is refused: %v", err)
		}
		if t.Subject != sub {
			return providers.Identity{}, failure(providers.ErrAccountGone, "the refreshed ID token names another subject")
		}
		if _, ok := t.Claims["at_hash"]; ok {
			if err := t.idToken.VerifyAccessToken(tok.AccessToken); err != nil {
				return providers.Identity{}, failure(providers.ErrAccountGone, "the refreshed ID token's at_hash does not match the access token")
			}
		}
		claims = t.Claims
	}
	if p.cfg.UseUserinfo {
		ui, err := p.userinfo(ctx, meta, tok.AccessToken)
		if err != nil {
			return providers.Identity{}, failure(providers.ErrUnavailable, "userinfo: %v", err)
		}
		if s, _ := ui["sub"].(string); s != sub {
			return providers.Identity{}, failure(providers.ErrAccountGone, "userinfo names another subject")
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
		return id, nil
	}
	groups, err := p.groups(ctx, claims, tok.AccessToken)
	if err != nil {
		if errors.Is(err, providers.ErrConfiguration) {
			return providers.Identity{}, failure(errUnavailableConfig, "groups: %v", err)
		}
		return providers.Identity{}, failure(providers.ErrUnavailable, "groups: %v", err)
	}
	fresh := p.identity(t, claims, groups)
	// What the provider says now; when and how the login happened stays.
	fresh.AuthTime, fresh.MFA, fresh.MFATime, fresh.Expiry = id.AuthTime, id.MFA, id.MFATime, id.Expiry
	return fresh, nil
}
