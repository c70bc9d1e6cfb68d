package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// benchAudience is the client id the bench issuer's tokens are for.
const benchAudience = "idbroker-bench"

// issuer is a minimal RS256 OpenID provider on loopback: discovery and JWKS
// for the server under test, and token minting for the driver.
type issuer struct {
	url  string
	kid  string
	key  *rsa.PrivateKey
	srv  *http.Server
	jwks []byte
}

// startIssuer listens on a loopback address and serves discovery and JWKS.
func startIssuer(listen string) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("issuer listen: %w", err)
	}
	is := &issuer{url: "http://" + ln.Addr().String(), kid: "bench-1", key: key}
	is.jwks, err = json.Marshal(map[string]any{"keys": []map[string]string{jwk(&key.PublicKey, is.kid)}})
	if err != nil {
		return nil, err
	}
	disc, err := json.Marshal(map[string]any{
		"issuer":                                is.url,
		"jwks_uri":                              is.url + "/keys",
		"authorization_endpoint":                is.url + "/authorize",
		"token_endpoint":                        is.url + "/token",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(disc)
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(is.jwks)
	})
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = is.srv.Serve(ln) }()
	return is, nil
}

func (is *issuer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = is.srv.Shutdown(ctx)
}

func jwk(pub *rsa.PublicKey, kid string) map[string]string {
	return map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// mint signs one RS256 ID token for subject sub, valid for ttl.
func (is *issuer) mint(sub string, now time.Time, ttl time.Duration) (string, error) {
	hdr, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": is.kid})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": is.url, "sub": sub, "aud": benchAudience,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(),
	})
	if err != nil {
		return "", err
	}
	signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, is.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// mintPool pre-mints n tokens with distinct subjects on all cores, so the
// driver signs nothing while it measures.
func (is *issuer) mintPool(n int, ttl time.Duration) ([]string, error) {
	now := time.Now()
	out := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i], errs[i] = is.mint(fmt.Sprintf("bench-user-%05d", i), now, ttl)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// rsaPublicFromJWKS reads the first RSA key of a JWKS document.
func rsaPublicFromJWKS(doc []byte) (*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, N, E string
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	for _, k := range set.Keys {
		if k.Kty != "RSA" {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			return nil, errors.New("jwks: bad RSA key encoding")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	}
	return nil, errors.New("jwks: no RSA key")
}
