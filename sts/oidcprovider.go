package sts

import (
	"context"
	"github.com/idbroker/idbroker/internal/loopback"
	"net/url"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// OIDCProvider is a registered OIDC identity provider
// (arn:<p>:iam::<acct>:oidc-provider/<issuer host+path>).
type OIDCProvider struct {
	// Issuer is the exact "iss" of its tokens: https://host[/path]
	// (http:// only on loopback hosts, for tests and demos).
	Issuer string
	// Verifier verifies the provider's tokens, audience included: it holds
	// the provider's client IDs.
	Verifier WebIdentityVerifier
	// KeyPath is where the provider is written in the caller's
	// configuration ("sts.oidc_providers[1]"); New names its problems under
	// it (see Config).
	KeyPath string
}

// WebIdentityVerifier verifies a web identity token (an OIDC ID token) for
// one registered OIDC provider.
type WebIdentityVerifier interface {
	// VerifyWebIdentity checks signature, issuer (the provider's),
	// audience (one of the provider's client IDs) and expiry: it is the one
	// check of the token, and the STS takes what it returns as verified.
	// Every error wraps one of awsspec's web identity failure classes
	// (ErrTokenExpired, preferably as a *TokenExpiredError;
	// ErrKeyUnavailable, ErrKeyNotFound, ErrAudience, ErrInvalidToken).
	VerifyWebIdentity(ctx context.Context, token string) (*WebIdentity, error)
}

// WebIdentity is a verified web identity token. Audience is the client ID
// the verifier accepted the token for (aud, or azp where the provider's
// rules take it).
type WebIdentity struct {
	Issuer, Subject, Audience, AZP string
	AMR                            []string
	IssuedAt, Expiry               time.Time
	Claims                         map[string]any // all claims (https://aws.amazon.com/tags etc.)
}

type oidcProvider struct {
	issuer   string
	hostPath string // issuer without scheme: condition-key prefix
	arn      string
	verifier WebIdentityVerifier
	// keys are the provider's condition keys (<hostPath>:aud, ...), built
	// once rather than for every request.
	keys oidcKeys
}

// oidcKeys are the condition keys of one OIDC provider's tokens.
type oidcKeys struct{ aud, sub, amr, azp string }

func (s *Service) compileOIDCProvider(pc OIDCProvider, path string, errs *configProblems) (*oidcProvider, bool) {
	before := len(*errs)
	u, err := url.Parse(pc.Issuer)
	switch {
	case err != nil:
		errs.addf(path+".issuer", "%q is not a URL", pc.Issuer)
	case u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "":
		errs.addf(path+".issuer", "%q must be https://host[/path] without query, fragment or user info", pc.Issuer)
	case u.Scheme == "http" && !loopback.Host(u.Hostname()):
		errs.addf(path+".issuer", "%q: http:// is allowed only on loopback hosts", pc.Issuer)
	case u.Scheme != "https" && u.Scheme != "http":
		errs.addf(path+".issuer", "%q: scheme must be https", pc.Issuer)
	}
	if pc.Verifier == nil {
		errs.addf(path+".verifier", "required")
	}
	if len(*errs) > before {
		return nil, false
	}
	p := &oidcProvider{issuer: pc.Issuer, verifier: pc.Verifier}
	p.hostPath = awsspec.IssuerHostPath(pc.Issuer)
	p.arn = awsspec.OIDCProviderARN(s.partition, s.account, p.hostPath)
	pfx := p.hostPath + ":"
	p.keys = oidcKeys{aud: pfx + "aud", sub: pfx + "sub", amr: pfx + "amr", azp: pfx + "azp"}
	return p, true
}

// OIDCProviderARN is the IAM ARN of a registered OIDC provider ("" if none).
func (s *Service) OIDCProviderARN(issuer string) string {
	if p := s.providers[issuer]; p != nil {
		return p.arn
	}
	return ""
}
