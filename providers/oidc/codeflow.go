package oidc

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
)

// AuthURL returns the authorization URL for a login: response_type=code,
// the state, the nonce, and the S256 challenge of verifier (generate it
// with oauth2.GenerateVerifier). It runs discovery if needed.
func (p *Provider) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	if state == "" || nonce == "" || verifier == "" {
		return "", errors.New("oidc: state, nonce and PKCE verifier are required")
	}
	meta, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.oauth2Config(meta).AuthCodeURL(state, gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// AuthCodeURL is AuthURL with a background context bounded by the
// provider timeout; it returns "" when discovery fails or an argument is
// empty. Prefer AuthURL.
func (p *Provider) AuthCodeURL(state, nonce, verifier string) string {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	u, err := p.AuthURL(ctx, state, nonce, verifier)
	if err != nil {
		p.logger.Warn("oidc: cannot build authorization URL", "error", err.Error())
		return ""
	}
	return u
}

// Exchange completes a login: it checks the RFC 9207 iss callback
// parameter (callbackIss, "" when absent), redeems code with the PKCE
// verifier, verifies the ID token (aud must contain client_id; azp, when
// present, must be client_id), checks the nonce and at_hash, fetches
// userinfo and overage groups when configured, and returns the Identity.
//
// Errors wrap providers.ErrInvalidCredentials (and one of awsspec's
// web-identity failure classes) for a rejected login, providers.ErrUnavailable when the
// provider cannot be reached, providers.ErrConfiguration for a provider
// whose answers the configuration cannot handle.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce, callbackIss string) (providers.Identity, error) {
	fail := func(err error) (providers.Identity, error) {
		return providers.Identity{}, err
	}
	reject := func(class error, format string, args ...any) (providers.Identity, error) {
		return fail(fmt.Errorf("%w: %w", providers.ErrInvalidCredentials, errorf(class, format, args...)))
	}
	if code == "" || verifier == "" || nonce == "" {
		return reject(awsspec.ErrInvalidToken, "code, PKCE verifier and nonce are required")
	}
	meta, err := p.discover(ctx)
	if err != nil {
		return fail(err)
	}
	// RFC 9207: an iss parameter must name our issuer; it must be present
	// when the provider says it sends it.
	if callbackIss != "" && callbackIss != p.cfg.Issuer {
		return reject(awsspec.ErrInvalidToken, "authorization response iss %s is not %s (mix-up)", quote(callbackIss), p.cfg.Issuer)
	}
	if callbackIss == "" && meta.IssParamSupported {
		return reject(awsspec.ErrInvalidToken, "authorization response lacks the iss parameter the provider advertises")
	}
	xctx, cancel := context.WithTimeout(gooidc.ClientContext(ctx, p.client), p.timeout)
	defer cancel()
	tok, err := p.oauth2Config(meta).Exchange(xctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			// The response body and description are not echoed.
			return reject(awsspec.ErrInvalidToken, "token endpoint refused the code: HTTP %d, error %s", status, quote(re.ErrorCode))
		}
		return fail(fmt.Errorf("%w: oidc: token request to %s failed: %w", providers.ErrUnavailable, p.cfg.Issuer, redactURLError(err)))
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return reject(awsspec.ErrInvalidToken, "token response has no id_token")
	}
	t, err := p.codeV.Verify(ctx, rawID)
	if err != nil {
		return fail(classify(err))
	}
	got := t.idToken.Nonce
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
		return reject(awsspec.ErrInvalidToken, "nonce mismatch")
	}
	if _, ok := t.Claims["at_hash"]; ok {
		// go-oidc's check (OIDC Core 3.1.3.6); present but empty fails it.
		if err := t.idToken.VerifyAccessToken(tok.AccessToken); err != nil {
			return reject(awsspec.ErrInvalidToken, "at_hash does not match the access token")
		}
	}
	claims := t.Claims
	if p.cfg.UseUserinfo {
		ui, err := p.userinfo(ctx, meta, tok.AccessToken)
		if err != nil {
			return fail(err)
		}
		if s, _ := ui["sub"].(string); s != t.Subject {
			return reject(awsspec.ErrInvalidToken, "userinfo sub does not match the ID token")
		}
		for k, v := range ui {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	groups, err := p.groups(ctx, claims, tok.AccessToken)
	if err != nil {
		return fail(err)
	}
	id := p.identity(t, claims, groups)
	id.Upstream = p.keepRefreshToken(ctx, tok.RefreshToken) // for Refresh
	return id, nil
}

// redactURLError drops the URL's query from a *url.Error (it could carry a
// code).
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return fmt.Errorf("%s %s: %w", ue.Op, u.Redacted(), ue.Err)
		}
	}
	return err
}

// getJSON performs an authenticated request and strictly decodes a JSON
// object answer. The body is never echoed in errors.
func (p *Provider) callJSON(ctx context.Context, method, endpoint, accessToken string, body []byte) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: building request: %w", providers.ErrConfiguration, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: %s %s: %w", providers.ErrUnavailable, method, endpoint, redactURLError(err))
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: reading %s: %w", providers.ErrUnavailable, endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: oidc: %s answered HTTP %d", providers.ErrUnavailable, endpoint, resp.StatusCode)
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: oidc: %s: %w", providers.ErrInvalidCredentials, endpoint, errorf(awsspec.ErrInvalidToken, "response: %v", err))
	}
	return normalizeNumbers(obj).(map[string]any), nil
}

func (p *Provider) userinfo(ctx context.Context, meta discoveryMeta, accessToken string) (map[string]any, error) {
	ep := meta.UserInfoURL
	if ep == "" {
		return nil, fmt.Errorf("%w: oidc provider %q has no userinfo endpoint", providers.ErrConfiguration, p.cfg.Name)
	}
	return p.callJSON(ctx, http.MethodGet, ep, accessToken, nil)
}
