package saml

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/idbroker/idbroker/providers"
)

// HandleACS verifies the HTTP-POST response at our ACS and returns the
// identity and a safe RelayState ("" unless it is a local path).
// possibleRequestIDs are the outstanding request IDs of this browser.
func (p *Provider) HandleACS(ctx context.Context, r *http.Request, possibleRequestIDs []string) (providers.Identity, string, error) {
	a, relay, err := p.verifyACS(ctx, r, possibleRequestIDs)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			p.logger.WarnContext(ctx, "saml response rejected", "class", e.Class.Error(), "reason", e.Reason)
		} else {
			p.logger.WarnContext(ctx, "saml response not processed", "err", err.Error())
		}
		return providers.Identity{}, "", err
	}
	id := p.identity(a)
	p.logger.InfoContext(ctx, "saml login", "assertion_id", a.ID, "mfa", id.MFA)
	return id, relay, nil
}

func (p *Provider) verifyACS(ctx context.Context, r *http.Request, possibleRequestIDs []string) (*Assertion, string, error) {
	if r.Method != http.MethodPost {
		return nil, "", fail(ErrMalformed, "ACS requires POST")
	}
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxACSBase64+16<<10)
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, "", fail(ErrTooLarge, "ACS body too large")
			}
			return nil, "", fail(ErrMalformed, "ACS form cannot be parsed")
		}
	}
	if r.PostForm.Get("SAMLart") != "" {
		return nil, "", fail(ErrMalformed, "artifact binding is not supported")
	}
	if len(r.PostForm["SAMLResponse"]) != 1 {
		return nil, "", fail(ErrMalformed, "need exactly one SAMLResponse")
	}
	raw, err := decodeBase64(r.PostForm.Get("SAMLResponse"), maxACSBase64)
	if err != nil {
		return nil, "", err
	}
	md, err := p.md.get(ctx)
	if err != nil {
		return nil, "", unavailable("idp metadata", err)
	}
	a, err := p.ver.verify(ctx, raw, verifyRequest{idp: md, requestIDs: possibleRequestIDs})
	if err != nil {
		return nil, "", err
	}
	return a, SafeRelayState(r.PostForm.Get("RelayState")), nil
}

// SafeRelayState returns rs when it is a local absolute path ("/x"): no
// scheme, not "//x", not "/\x", no control characters or backslashes; otherwise "".
func SafeRelayState(rs string) string {
	if len(rs) == 0 || len(rs) > 2048 || rs[0] != '/' {
		return ""
	}
	if len(rs) > 1 && (rs[1] == '/' || rs[1] == '\\') {
		return ""
	}
	for _, c := range rs {
		if c == '\\' || unicode.IsControl(c) || c == unicode.ReplacementChar {
			return ""
		}
	}
	u, err := url.Parse(rs)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	// Reject encoded slashes or backslashes that a later decode could turn into "//".
	lower := strings.ToLower(rs)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return ""
	}
	return rs
}
