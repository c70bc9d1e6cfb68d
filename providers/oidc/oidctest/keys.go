package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Key is one signing key of the issuer.
type Key struct {
	KID     string
	Alg     string
	Private crypto.Signer
}

// Public returns the key's public half.
func (k Key) Public() crypto.PublicKey { return k.Private.Public() }

// NewKey generates a fresh key for alg (not published).
func (s *Server) NewKey(alg string) Key {
	s.t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case "RS256", "RS384", "RS512":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	default:
		s.t.Fatalf("oidctest: unsupported alg %q", alg)
	}
	if err != nil {
		s.t.Fatalf("oidctest: generating key: %v", err)
	}
	return Key{KID: "k-" + randString(6), Alg: alg, Private: priv}
}

// CurrentKey returns the key that signs now.
func (s *Server) CurrentKey() Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

// Keys returns the published keys.
func (s *Server) Keys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Key(nil), s.keys...)
}

// RotateKey publishes a new key (same alg) and signs with it from now on;
// older keys stay published until RemoveKey.
func (s *Server) RotateKey() Key {
	k := s.NewKey(s.alg)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	return k
}

// AddKey publishes k without making it the signing key.
func (s *Server) AddKey(k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]Key{k}, s.keys...)
}

// RemoveKey unpublishes the key with kid.
func (s *Server) RemoveKey(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.keys[:0]
	for _, k := range s.keys {
		if k.KID != kid {
			out = append(out, k)
		}
	}
	s.keys = out
}

// Claims returns a baseline valid claim set for aud: iss, sub, aud, iat,
// exp (now+lifetime), plus the user claims.
func (s *Server) Claims(aud string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c := maps.Clone(s.user)
	c["iss"] = s.Issuer()
	c["aud"] = aud
	c["iat"] = now.Unix()
	c["exp"] = now.Add(s.lifetime).Unix()
	return c
}

// Sign signs claims with the current key (header alg, kid, typ JWT).
func (s *Server) Sign(claims map[string]any) string {
	k := s.CurrentKey()
	return s.SignWith(k, map[string]any{"kid": k.KID, "typ": "JWT"}, claims)
}

// SignWith signs claims with key k; header entries are added to
// {"alg": k.Alg} (and may override alg).
func (s *Server) SignWith(k Key, header, claims map[string]any) string {
	s.t.Helper()
	h := map[string]any{"alg": k.Alg}
	maps.Copy(h, header)
	alg, _ := h["alg"].(string)
	var key any = k.Private
	if strings.HasPrefix(alg, "HS") {
		s.t.Fatalf("oidctest: use SignHMAC for %s", alg)
	}
	return s.signRaw(h, claims, alg, key)
}

// SignHMAC signs with an HMAC algorithm (HS256/384/512) and a secret, for
// algorithm-confusion tests.
func (s *Server) SignHMAC(alg string, secret []byte, header, claims map[string]any) string {
	h := map[string]any{"alg": alg}
	maps.Copy(h, header)
	return s.signRaw(h, claims, alg, secret)
}

// Unsigned builds "header.payload." with the given header (alg none tests).
func Unsigned(header, claims map[string]any) string {
	return seg(header) + "." + seg(claims) + "."
}

func seg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) signRaw(header, claims map[string]any, alg string, key any) string {
	s.t.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		s.t.Fatalf("oidctest: unknown alg %q", alg)
	}
	signing := seg(header) + "." + seg(claims)
	sig, err := m.Sign(signing, key)
	if err != nil {
		s.t.Fatalf("oidctest: signing: %v", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// JWK renders a public key as a JWK map.
func JWK(k Key) map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		e := big(pub.E)
		return map[string]any{"kty": "RSA", "kid": k.KID, "alg": k.Alg, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(e)}
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		ecdh, err := pub.ECDH()
		if err != nil {
			panic(err)
		}
		raw := ecdh.Bytes() // 0x04 || X || Y
		return map[string]any{"kty": "EC", "kid": k.KID, "alg": k.Alg, "use": "sig",
			"crv": pub.Curve.Params().Name, "x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
	}
	panic("oidctest: unsupported key type")
}

func big(e int) []byte {
	var out []byte
	for e > 0 {
		out = append([]byte{byte(e)}, out...)
		e >>= 8
	}
	return out
}

func randString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
