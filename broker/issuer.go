package broker

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Audience is the client id the broker's tokens are issued to; the STS has
// it registered for the broker's OIDC provider.
const Audience = "idbroker"

// TokenLifetime bounds the broker's JWTs: they only travel in process from
// the broker to the STS.
const TokenLifetime = 5 * time.Minute

// Issuer is the broker acting as an OIDC issuer towards its own STS: it
// serves discovery and JWKS and signs one short-lived JWT per issued grant.
type Issuer struct {
	url  string
	key  *ecdsa.PrivateKey
	kid  string
	now  func() time.Time
	jwks []byte
	disc []byte
}

// NewIssuer returns an issuer for issuerURL signing with key (ES256).
func NewIssuer(issuerURL string, key *ecdsa.PrivateKey, now func() time.Time) (*Issuer, error) {
	if now == nil {
		now = time.Now
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	sum := sha256.Sum256(der)
	is := &Issuer{url: strings.TrimSuffix(issuerURL, "/"), key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:12]), now: now}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: is.kid, Algorithm: "ES256", Use: "sig"}}}
	if is.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("encode jwks: %w", err)
	}
	if is.disc, err = json.Marshal(map[string]any{
		"issuer":                                is.url,
		"jwks_uri":                              is.url + "/keys",
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "amr", "mfa_time", "sid"},
	}); err != nil {
		return nil, fmt.Errorf("encode discovery: %w", err)
	}
	return is, nil
}

// URL is the issuer identifier (the broker's public URL).
func (is *Issuer) URL() string { return is.url }

// PublicKeys are the keys that verify the issuer's tokens.
func (is *Issuer) PublicKeys() []crypto.PublicKey { return []crypto.PublicKey{&is.key.PublicKey} }

// TokenRequest is what the broker vouches for in one token.
type TokenRequest struct {
	RoleName string
	Provider string
	Username string
	MFA      bool
	// MFATime is when the MFA happened: the numeric claim mfa_time (unix
	// seconds), which the STS reads for aws:MultiFactorAuthAge; zero or no
	// MFA leaves it out.
	MFATime           time.Time
	SessionTags       map[string]string
	TransitiveTagKeys []string
	SourceIdentity    string
	// SessionID is the broker session the token is issued from: the sid
	// claim (OIDC's session id claim); "" leaves it out.
	SessionID string
}

// Sign returns a JWT for the request, valid for TokenLifetime.
func (is *Issuer) Sign(tr TokenRequest) (string, error) {
	now := is.now()
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	claims := jwt.MapClaims{
		"iss": is.url,
		"sub": Subject(tr.RoleName, tr.Provider, tr.Username),
		"aud": Audience,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(TokenLifetime).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti),
	}
	if tr.MFA {
		claims["amr"] = []string{"mfa"}
		if !tr.MFATime.IsZero() {
			claims["mfa_time"] = tr.MFATime.Unix()
		}
	} else {
		claims["amr"] = []string{"pwd"}
	}
	if len(tr.SessionTags) > 0 {
		pt := make(map[string][]string, len(tr.SessionTags))
		for k, v := range tr.SessionTags {
			pt[k] = []string{v}
		}
		tags := map[string]any{"principal_tags": pt}
		if len(tr.TransitiveTagKeys) > 0 {
			tags["transitive_tag_keys"] = tr.TransitiveTagKeys
		}
		claims["https://aws.amazon.com/tags"] = tags
	}
	if tr.SourceIdentity != "" {
		claims["https://aws.amazon.com/source_identity"] = tr.SourceIdentity
	}
	if tr.SessionID != "" {
		claims["sid"] = tr.SessionID
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = is.kid
	s, err := tok.SignedString(is.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

func (is *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(is.disc)
}

func (is *Issuer) serveKeys(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(is.jwks)
}
