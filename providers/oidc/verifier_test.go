package oidc_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
)

const clientID = "broker-client"

var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ`)

// oidctestPadding is a run of oidctest's fault padding ("aaaa..."), long
// enough that no random id or kid in an error or a log line holds it by
// accident, as a short "aaaa" could.
var oidctestPadding = strings.Repeat("a", 32)

// logBuf is a concurrency-safe buffer for a slog JSON handler.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuf) {
	buf := &logBuf{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// assertNoSecret fails if the token (or any JWT) appears in the error text
// or the log buffer.
func assertNoSecret(t *testing.T, token string, err error, logs *logBuf) {
	t.Helper()
	texts := []string{logs.String()}
	if err != nil {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err))
	}
	for _, s := range texts {
		if token != "" && strings.Contains(s, token) {
			t.Errorf("token leaked: %.200s", s)
		}
		if len(token) > 40 && strings.Contains(s, token[len(token)-40:]) {
			t.Errorf("token signature leaked: %.200s", s)
		}
		if jwtPattern.MatchString(s) {
			t.Errorf("JWT-like string leaked: %.200s", s)
		}
	}
}

// classOf names the sentinel in err's chain, checking there is exactly one.
func classOf(t *testing.T, err error) error {
	t.Helper()
	var found []error
	for _, s := range []error{awsspec.ErrTokenExpired, awsspec.ErrKeyUnavailable, awsspec.ErrAudience, awsspec.ErrInvalidToken} {
		if errors.Is(err, s) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("error %v: want exactly one sentinel, found %v", err, found)
	}
	return found[0]
}

type env struct {
	idp  *oidctest.Server
	v    *oidc.Verifier
	logs *logBuf
	now  time.Time
}

func newEnv(t *testing.T, cfg oidc.VerifierConfig, opts ...oidctest.Option) *env {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	opts = append([]oidctest.Option{oidctest.WithNow(func() time.Time { return now })}, opts...)
	idp := oidctest.New(t, opts...)
	logger, logs := newLogger()
	cfg.Issuer = idp.Issuer()
	if cfg.ClientIDs == nil {
		cfg.ClientIDs = []string{clientID}
	}
	cfg.HTTPClient = idp.Client()
	cfg.Logger = logger
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	v, err := oidc.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return &env{idp: idp, v: v, logs: logs, now: now}
}

func (e *env) claims(edit func(map[string]any)) map[string]any {
	c := e.idp.Claims(clientID)
	if edit != nil {
		edit(c)
	}
	return c
}

func seg(v any) string {
	b, _ := jsonMarshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyHappy(t *testing.T) {
	for _, alg := range []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t, oidc.VerifierConfig{}, oidctest.WithAlg(alg))
			raw := e.idp.Sign(e.claims(func(c map[string]any) { c["amr"] = []any{"pwd", "mfa"}; c["azp"] = clientID }))
			tok, err := e.v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tok.Issuer != e.idp.Issuer() || tok.Subject != "u-123" || tok.AZP != clientID ||
				len(tok.Audience) != 1 || tok.Audience[0] != clientID ||
				!tok.Expiry.Equal(e.now.Add(5*time.Minute)) || !tok.IssuedAt.Equal(e.now) ||
				strings.Join(tok.AMR, ",") != "pwd,mfa" || tok.Claims["email"] != "alice@example.com" {
				t.Errorf("unexpected token %+v", tok)
			}
			if _, ok := tok.Claims["exp"].(float64); !ok {
				t.Errorf("exp claim should be float64, got %T", tok.Claims["exp"])
			}
			assertNoSecret(t, raw, nil, e.logs)
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{MaxAge: time.Hour})
	other := oidctest.New(t) // a second, unrelated issuer
	sentinel := oidctest.NewSentinel(t)
	k := e.idp.CurrentKey()
	evil := e.idp.NewKey("RS256")
	ecKey := e.idp.NewKey("ES256")
	e.idp.AddKey(ecKey) // published EC key, for kty/alg mismatch
	pubDER, _ := x509.MarshalPKIXPublicKey(k.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hdr := func(extra map[string]any) map[string]any {
		h := map[string]any{"kid": k.KID, "typ": "JWT"}
		maps.Copy(h, extra)
		return h
	}
	base := func() map[string]any { return e.claims(nil) }
	with := func(edit func(map[string]any)) map[string]any { return e.claims(edit) }
	now := e.now
	valid := e.idp.Sign(base())
	evilCert := selfSigned(t, evil)

	cases := []struct {
		name  string
		token func() string
		want  error
	}{
		// OIDC-01 alg none.
		{"alg none", func() string { return oidctest.Unsigned(hdr(map[string]any{"alg": "none"}), base()) }, awsspec.ErrInvalidToken},
		{"alg None", func() string { return oidctest.Unsigned(hdr(map[string]any{"alg": "None"}), base()) }, awsspec.ErrInvalidToken},
		{"alg nOnE no sig segment", func() string {
			return strings.TrimSuffix(oidctest.Unsigned(hdr(map[string]any{"alg": "nOnE"}), base()), ".")
		}, awsspec.ErrInvalidToken},
		{"alg RS256 empty signature", func() string {
			return strings.Join(strings.Split(valid, ".")[:2], ".") + "."
		}, awsspec.ErrInvalidToken},
		// OIDC-02/03 HMAC confusion.
		{"HS256 with PEM public key", func() string { return e.idp.SignHMAC("HS256", pubPEM, hdr(nil), base()) }, awsspec.ErrInvalidToken},
		{"HS256 with PEM without newline", func() string {
			return e.idp.SignHMAC("HS256", bytes.TrimSpace(pubPEM), hdr(nil), base())
		}, awsspec.ErrInvalidToken},
		{"HS256 with DER key", func() string { return e.idp.SignHMAC("HS256", pubDER, hdr(nil), base()) }, awsspec.ErrInvalidToken},
		{"HS512 with empty-ish key", func() string { return e.idp.SignHMAC("HS512", []byte{0}, hdr(nil), base()) }, awsspec.ErrInvalidToken},
		{"PS256 refused", func() string {
			return e.idp.SignWith(k, hdr(map[string]any{"alg": "PS256"}), base())
		}, awsspec.ErrInvalidToken},
		{"one-byte signature", func() string {
			return strings.Join(strings.Split(valid, ".")[:2], ".") + ".AA"
		}, awsspec.ErrInvalidToken},
		{"ES256 zero signature (psychic)", func() string {
			return seg(map[string]any{"alg": "ES256", "kid": ecKey.KID}) + "." + seg(base()) + "." +
				base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		}, awsspec.ErrInvalidToken},
		// Signature with a known key fails.
		{"tampered payload", func() string {
			p := strings.Split(valid, ".")
			return p[0] + "." + seg(with(func(c map[string]any) { c["sub"] = "admin" })) + "." + p[2]
		}, awsspec.ErrInvalidToken},
		{"signed by evil key under good kid", func() string { return e.idp.SignWith(evil, hdr(nil), base()) }, awsspec.ErrInvalidToken},
		{"RS256 header with EC kid (kty mismatch)", func() string {
			return e.idp.SignWith(k, hdr(map[string]any{"kid": ecKey.KID}), base())
		}, awsspec.ErrInvalidToken},
		// OIDC-24: expired and badly signed -> signature error.
		{"expired and badly signed", func() string {
			return e.idp.SignWith(evil, hdr(nil), with(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }))
		}, awsspec.ErrInvalidToken},
		// OIDC-04 unknown kid.
		{"unknown kid", func() string { return e.idp.SignWith(evil, hdr(map[string]any{"kid": "does-not-exist"}), base()) }, awsspec.ErrInvalidToken},
		{"no kid, several keys", func() string {
			return e.idp.SignWith(k, map[string]any{"typ": "JWT"}, base())
		}, awsspec.ErrInvalidToken},
		// OIDC-05 header injection; sentinel must see nothing.
		{"jku to sentinel", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": evil.KID, "jku": sentinel.URL() + "/jwks.json"}), base())
		}, awsspec.ErrInvalidToken},
		{"x5u to sentinel", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": evil.KID, "x5u": sentinel.URL() + "/cert.pem"}), base())
		}, awsspec.ErrInvalidToken},
		{"embedded jwk", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": evil.KID, "jwk": oidctest.JWK(evil)}), base())
		}, awsspec.ErrInvalidToken},
		{"embedded jwk under good kid", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"jwk": oidctest.JWK(evil)}), base())
		}, awsspec.ErrInvalidToken},
		// OIDC-06 kid as injection.
		{"kid path traversal", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": "../../../../dev/null"}), base())
		}, awsspec.ErrInvalidToken},
		{"kid 1KiB", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": strings.Repeat("A", 1<<10)}), base())
		}, awsspec.ErrInvalidToken},
		{"kid not a string", func() string { return e.idp.SignWith(k, hdr(map[string]any{"kid": 7}), base()) }, awsspec.ErrInvalidToken},
		{"kid /dev/null", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": "/dev/null"}), base())
		}, awsspec.ErrInvalidToken},
		{"kid shell pipe", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": "|sleep 10"}), base())
		}, awsspec.ErrInvalidToken},
		{"kid SQL", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": "x' UNION SELECT '1';--"}), base())
		}, awsspec.ErrInvalidToken},
		{"kid NUL bytes", func() string {
			return e.idp.SignWith(k, hdr(map[string]any{"kid": k.KID + "\x00\x00"}), base())
		}, awsspec.ErrInvalidToken},
		{"kid 64KiB", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": strings.Repeat("A", 64<<10)}), base())
		}, awsspec.ErrInvalidToken},
		// OIDC-05 x5c: the embedded certificate is never a key source.
		{"x5c with evil cert under good kid", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(evilCert)}}), base())
		}, awsspec.ErrInvalidToken},
		{"x5c with evil cert, evil kid", func() string {
			return e.idp.SignWith(evil, hdr(map[string]any{"kid": evil.KID, "x5c": []string{base64.StdEncoding.EncodeToString(evilCert)}}), base())
		}, awsspec.ErrInvalidToken},
		// OIDC-23 encrypted tokens are refused whole.
		{"enc header", func() string {
			return e.idp.SignWith(k, hdr(map[string]any{"enc": "A256GCM"}), base())
		}, awsspec.ErrInvalidToken},
		{"JWE compact, zip DEF", func() string {
			return seg(map[string]any{"alg": "RSA-OAEP", "enc": "A256GCM", "zip": "DEF", "kid": k.KID}) + ".AAAA.AAAA.AAAA.AAAA"
		}, awsspec.ErrInvalidToken},
		{"JWE PBES2 huge p2c", func() string {
			return seg(map[string]any{"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2c": 1 << 31, "p2s": "AAAA"}) + ".AAAA.AAAA.AAAA.AAAA"
		}, awsspec.ErrInvalidToken},
		// OIDC-08 cross-provider keys.
		{"kid of another issuer", func() string { return other.Sign(base()) }, awsspec.ErrInvalidToken},
		{"valid token of another issuer", func() string { return other.Sign(other.Claims(clientID)) }, awsspec.ErrInvalidToken},
		// OIDC-09 time claims.
		{"expired", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["exp"] = now.Add(-oidc.DefaultClockSkew - time.Second).Unix() }))
		}, awsspec.ErrTokenExpired},
		{"exp missing", func() string { return e.idp.Sign(with(func(c map[string]any) { delete(c, "exp") })) }, awsspec.ErrInvalidToken},
		{"exp string", func() string { return e.idp.Sign(with(func(c map[string]any) { c["exp"] = "9999999999" })) }, awsspec.ErrInvalidToken},
		{"exp float", func() string { return e.idp.Sign(with(func(c map[string]any) { c["exp"] = 1.7e9 + 0.5 })) }, awsspec.ErrInvalidToken},
		{"exp 1e300", func() string { return e.idp.Sign(with(func(c map[string]any) { c["exp"] = 1e300 })) }, awsspec.ErrInvalidToken},
		{"exp negative", func() string { return e.idp.Sign(with(func(c map[string]any) { c["exp"] = -5 })) }, awsspec.ErrInvalidToken},
		// OIDC-10.
		{"nbf 6m in future", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["nbf"] = now.Add(6 * time.Minute).Unix() }))
		}, awsspec.ErrInvalidToken},
		{"iat 10m in future", func() string {
			return e.idp.Sign(with(func(c map[string]any) {
				c["iat"] = now.Add(10 * time.Minute).Unix()
				c["exp"] = now.Add(15 * time.Minute).Unix()
			}))
		}, awsspec.ErrInvalidToken},
		{"iat missing", func() string { return e.idp.Sign(with(func(c map[string]any) { delete(c, "iat") })) }, awsspec.ErrInvalidToken},
		{"lifetime 30 days", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["exp"] = now.Add(30 * 24 * time.Hour).Unix() }))
		}, awsspec.ErrInvalidToken},
		{"iat older than max age", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["iat"] = now.Add(-3 * time.Hour).Unix() }))
		}, awsspec.ErrInvalidToken},
		// OIDC-11 iss.
		{"iss evil", func() string { return e.idp.Sign(with(func(c map[string]any) { c["iss"] = "https://evil.test" })) }, awsspec.ErrInvalidToken},
		{"iss trailing slash", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["iss"] = e.idp.Issuer() + "/" }))
		}, awsspec.ErrInvalidToken},
		{"iss upper case", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["iss"] = strings.ToUpper(e.idp.Issuer()) }))
		}, awsspec.ErrInvalidToken},
		{"iss missing", func() string { return e.idp.Sign(with(func(c map[string]any) { delete(c, "iss") })) }, awsspec.ErrInvalidToken},
		// OIDC-12 aud/azp.
		{"wrong aud", func() string { return e.idp.Sign(with(func(c map[string]any) { c["aud"] = "other-client" })) }, awsspec.ErrAudience},
		{"aud empty list", func() string { return e.idp.Sign(with(func(c map[string]any) { c["aud"] = []any{} })) }, awsspec.ErrInvalidToken},
		{"aud number", func() string { return e.idp.Sign(with(func(c map[string]any) { c["aud"] = 42 })) }, awsspec.ErrInvalidToken},
		{"several aud, no azp", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["aud"] = []any{clientID, "other"} }))
		}, awsspec.ErrAudience},
		{"several aud, azp other", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["aud"] = []any{"other", clientID}; c["azp"] = "other" }))
		}, awsspec.ErrAudience},
		{"sub missing", func() string { return e.idp.Sign(with(func(c map[string]any) { delete(c, "sub") })) }, awsspec.ErrInvalidToken},
		// OIDC-13 typed JWTs.
		{"typ at+jwt", func() string { return e.idp.SignWith(k, hdr(map[string]any{"typ": "at+jwt"}), base()) }, awsspec.ErrInvalidToken},
		{"typ logout+jwt", func() string { return e.idp.SignWith(k, hdr(map[string]any{"typ": "logout+jwt"}), base()) }, awsspec.ErrInvalidToken},
		{"crit header", func() string {
			return e.idp.SignWith(k, hdr(map[string]any{"crit": []string{"exp"}, "exp": 1}), base())
		}, awsspec.ErrInvalidToken},
		{"crit b64 (go-jose supports it)", func() string {
			return e.idp.SignWith(k, hdr(map[string]any{"crit": []string{"b64"}, "b64": true}), base())
		}, awsspec.ErrInvalidToken},
		{"b64 header", func() string { return e.idp.SignWith(k, hdr(map[string]any{"b64": true}), base()) }, awsspec.ErrInvalidToken},
		{"typ not a string", func() string { return e.idp.SignWith(k, hdr(map[string]any{"typ": 7}), base()) }, awsspec.ErrInvalidToken},
		// OIDC-22 size and form.
		{"too large", func() string {
			return e.idp.Sign(with(func(c map[string]any) { c["pad"] = strings.Repeat("x", 70<<10) }))
		}, awsspec.ErrInvalidToken},
		{"dots", func() string { return "a" + strings.Repeat(".", 10<<10) }, awsspec.ErrInvalidToken},
		{"padded base64", func() string {
			p := strings.Split(valid, ".")
			return p[0] + "=." + p[1] + "." + p[2]
		}, awsspec.ErrInvalidToken},
		{"std base64 chars", func() string {
			p := strings.Split(valid, ".")
			return p[0] + "." + p[1] + "+/." + p[2]
		}, awsspec.ErrInvalidToken},
		{"JSON serialization", func() string {
			p := strings.Split(valid, ".")
			return `{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`
		}, awsspec.ErrInvalidToken},
		{"deep nesting", func() string {
			return e.idp.Sign(with(func(c map[string]any) {
				var v any = "x"
				for range 100 {
					v = []any{v}
				}
				c["deep"] = v
			}))
		}, awsspec.ErrInvalidToken},
		// OIDC-27 JSON semantics: duplicates and case folding.
		{"duplicate sub", func() string { return signRawPayload(e.idp, k, dupPayload(base(), "sub", "admin")) }, awsspec.ErrInvalidToken},
		{"duplicate groups", func() string {
			return signRawPayload(e.idp, k, dupPayload(with(func(c map[string]any) { c["groups"] = "dev" }), "groups", "admins"))
		}, awsspec.ErrInvalidToken},
		{"duplicate nested member", func() string {
			b, _ := jsonMarshal(base())
			b = append(b[:len(b)-1], []byte(`,"https://aws.amazon.com/tags":{"principal_tags":{"team":["dev"],"team":["admins"]}}}`)...)
			return signRawPayload(e.idp, k, b)
		}, awsspec.ErrInvalidToken},
		{"case-folded ISS", func() string {
			c := base()
			c["ISS"] = c["iss"]
			c["iss"] = "https://evil.test"
			return e.idp.Sign(c)
		}, awsspec.ErrInvalidToken},
		{"case-folded Aud only", func() string {
			c := base()
			c["Aud"] = c["aud"]
			delete(c, "aud")
			return e.idp.Sign(c)
		}, awsspec.ErrInvalidToken},
		{"empty token", func() string { return "" }, awsspec.ErrInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.token()
			start := time.Now()
			tok, err := e.v.Verify(context.Background(), raw)
			if err == nil {
				t.Fatalf("accepted: %+v", tok)
			}
			if got := classOf(t, err); got != tc.want {
				t.Errorf("class = %v, want %v (error: %v)", got, tc.want, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			assertNoSecret(t, raw, err, e.logs)
		})
	}
	if sentinel.Hits() != 0 {
		t.Errorf("egress sentinel saw %d requests", sentinel.Hits())
	}
	if h := other.Hits(oidctest.JWKS) + other.Hits(oidctest.Discovery); h != 0 {
		t.Errorf("other issuer contacted %d times", h)
	}
	// Many rejected unknown kids, yet JWKS fetched at most twice (initial + one refresh).
	if h := e.idp.Hits(oidctest.JWKS); h > 2 {
		t.Errorf("JWKS fetched %d times", h)
	}
	// The verifier still works.
	if _, err := e.v.Verify(context.Background(), valid); err != nil {
		t.Errorf("valid token after attacks: %v", err)
	}
}

// dupPayload renders claims as JSON with an extra duplicate member.
func dupPayload(c map[string]any, name, value string) []byte {
	b, _ := jsonMarshal(c)
	return append(b[:len(b)-1], []byte(fmt.Sprintf(`,%q:%q}`, name, value))...)
}

func signRawPayload(idp *oidctest.Server, k oidctest.Key, payload []byte) string {
	signing := seg(map[string]any{"alg": k.Alg, "kid": k.KID}) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := jwt.GetSigningMethod(k.Alg).Sign(signing, k.Private)
	if err != nil {
		panic(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestVerifyAudienceChoices: the audience rule with several client IDs,
// and the client ID each accepted token is reported for (Token.ClientID:
// azp when it is one of ours, else the first audience that is).
func TestVerifyAudienceChoices(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{ClientIDs: []string{"a", "b"}})
	cases := []struct {
		name   string
		aud    any
		azp    string
		client string // accepted for
		want   error
	}{
		{"first id", "a", "", "a", nil},
		{"second id", "b", "", "b", nil},
		{"single aud, azp ignored", "b", "elsewhere", "b", nil},
		{"single aud, azp the other id", "a", "b", "b", nil},
		{"single aud list", []any{"b"}, "", "b", nil},
		{"several aud with azp ours", []any{"x", "b"}, "b", "b", nil},
		{"several aud, azp ours, first aud ours too", []any{"a", "b"}, "b", "b", nil},
		{"several aud with azp other", []any{"a", "x"}, "x", "", awsspec.ErrAudience},
		{"several aud, no azp", []any{"a", "b"}, "", "", awsspec.ErrAudience},
		{"neither", "c", "", "", awsspec.ErrAudience},
		{"several, none ours", []any{"c", "d"}, "c", "", awsspec.ErrAudience},
		{"azp ours, aud not", "c", "a", "", awsspec.ErrAudience},
		{"empty aud string", "", "", "", awsspec.ErrAudience},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.idp.Claims("")
			c["aud"] = tc.aud
			if tc.azp != "" {
				c["azp"] = tc.azp
			}
			raw := e.idp.Sign(c)
			tok, err := e.v.Verify(context.Background(), raw)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tok.ClientID != tc.client {
					t.Errorf("ClientID = %q, want %q", tok.ClientID, tc.client)
				}
				return
			}
			if err == nil || classOf(t, err) != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			assertNoSecret(t, raw, err, e.logs)
		})
	}
}

func TestVerifyLazyDiscovery(t *testing.T) {
	// Nothing listens here: NewVerifier must neither block nor fail.
	logger, logs := newLogger()
	start := time.Now()
	v, err := oidc.NewVerifier(oidc.VerifierConfig{
		Issuer: "http://127.0.0.1:1", ClientIDs: []string{clientID}, Logger: logger,
		DiscoveryRetryInterval: time.Hour,
	})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("NewVerifier took %v", d)
	}
	idp := oidctest.New(t)
	raw := idp.Sign(idp.Claims(clientID))
	// The first well-formed token starts discovery (its iss is not trusted
	// before its signature is checked, so it does not decide): unreachable,
	// it is ErrKeyUnavailable.
	_, err = v.Verify(context.Background(), raw)
	if classOf(t, err) != awsspec.ErrKeyUnavailable {
		t.Errorf("want ErrKeyUnavailable, got %v", err)
	}
	assertNoSecret(t, raw, err, logs)
}

func TestVerifyDiscoveryRetry(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{DiscoveryRetryInterval: 200 * time.Millisecond})
	if e.idp.Hits(oidctest.Discovery) != 0 {
		t.Fatal("discovery at construction")
	}
	e.idp.SetFault(oidctest.Discovery, oidctest.Fault{Status: 500, BodySize: 4096})
	raw := e.idp.Sign(e.claims(nil))
	for range 5 {
		_, err := e.v.Verify(context.Background(), raw)
		if classOf(t, err) != awsspec.ErrKeyUnavailable {
			t.Fatalf("want ErrKeyUnavailable, got %v", err)
		}
		if len(err.Error()) > 300 || strings.Contains(err.Error(), oidctestPadding) {
			t.Errorf("upstream body echoed: %.300s", err)
		}
		assertNoSecret(t, raw, err, e.logs)
	}
	if strings.Contains(e.logs.String(), oidctestPadding) {
		t.Error("upstream body logged")
	}
	if h := e.idp.Hits(oidctest.Discovery); h != 1 {
		t.Errorf("discovery attempted %d times within the retry interval, want 1", h)
	}
	e.idp.ClearFault(oidctest.Discovery)
	time.Sleep(250 * time.Millisecond)
	if _, err := e.v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if h := e.idp.Hits(oidctest.Discovery); h != 2 {
		t.Errorf("discovery hits = %d, want 2", h)
	}
}

func TestVerifyDiscoveryIssuerMismatch(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{})
	e.idp.SetDiscoveryIssuer("https://evil.test")
	raw := e.idp.Sign(e.claims(nil))
	_, err := e.v.Verify(context.Background(), raw)
	if classOf(t, err) != awsspec.ErrKeyUnavailable {
		t.Fatalf("want ErrKeyUnavailable, got %v", err)
	}
	if e.idp.Hits(oidctest.JWKS) != 0 {
		t.Error("JWKS fetched despite issuer mismatch")
	}
}

func TestVerifyJWKSFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault oidctest.Fault
	}{
		{"500 with 1MB body", oidctest.Fault{Status: 500, BodySize: 1 << 20}},
		{"oversized 100MB", oidctest.Fault{BodySize: 100 << 20}},
		{"invalid JSON", oidctest.Fault{Body: []byte(`{"keys":[`)}},
		{"no usable keys", oidctest.Fault{Body: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k-oct"}]}`)}},
		{"slow beyond timeout", oidctest.Fault{Delay: 3 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, oidc.VerifierConfig{Timeout: 500 * time.Millisecond, JWKSRefreshInterval: 300 * time.Millisecond})
			e.idp.SetFault(oidctest.JWKS, tc.fault)
			raw := e.idp.Sign(e.claims(nil))
			start := time.Now()
			_, err := e.v.Verify(context.Background(), raw)
			if classOf(t, err) != awsspec.ErrKeyUnavailable {
				t.Fatalf("want ErrKeyUnavailable, got %v", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if strings.Contains(err.Error(), oidctestPadding) || strings.Contains(err.Error(), "injected") {
				t.Errorf("upstream body echoed: %.200s", err)
			}
			assertNoSecret(t, raw, err, e.logs)
			// Recovery once the fault clears and the interval has passed.
			e.idp.ClearFault(oidctest.JWKS)
			time.Sleep(350 * time.Millisecond)
			if _, err := e.v.Verify(context.Background(), raw); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
		})
	}
}

func TestVerifyUnknownKidFlood(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{JWKSRefreshInterval: time.Minute})
	good := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	evil := e.idp.NewKey("RS256")
	tokens := make([]string, 1000)
	for i := range tokens {
		tokens[i] = e.idp.SignWith(evil, map[string]any{"kid": fmt.Sprintf("kid-%d", i)}, e.claims(nil))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(tokens)+50)
	for _, raw := range tokens {
		wg.Go(func() {
			_, err := e.v.Verify(context.Background(), raw)
			errs <- err
		})
	}
	wg.Wait()
	// And sequentially, where single-flight alone would not help.
	for _, raw := range tokens[:50] {
		_, err := e.v.Verify(context.Background(), raw)
		errs <- err
	}
	close(errs)
	for err := range errs {
		if err == nil || !errors.Is(err, awsspec.ErrInvalidToken) {
			t.Fatalf("want ErrInvalid, got %v", err)
		}
	}
	if h := e.idp.Hits(oidctest.JWKS); h > 2 {
		t.Errorf("JWKS fetched %d times for 1000 unknown kids, want <= 2", h)
	}
	// Known keys keep working during the flood's aftermath.
	if _, err := e.v.Verify(context.Background(), good); err != nil {
		t.Errorf("good token: %v", err)
	}
	assertNoSecret(t, tokens[0], nil, e.logs)
}

func TestVerifyKeyRotation(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{JWKSRefreshInterval: 100 * time.Millisecond})
	k1 := e.idp.CurrentKey()
	t1 := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), t1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	e.idp.RotateKey()
	t2 := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), t2); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if h := e.idp.Hits(oidctest.JWKS); h != 2 {
		t.Errorf("JWKS hits = %d, want 2 (one refresh for the new kid)", h)
	}
	// Overlap: k1 still valid.
	if _, err := e.v.Verify(context.Background(), t1); err != nil {
		t.Fatalf("old key during overlap: %v", err)
	}
	// k1 removed upstream: once a refresh happens (triggered by an unknown
	// kid), k1 tokens are refused.
	e.idp.RemoveKey(k1.KID)
	time.Sleep(150 * time.Millisecond)
	unknown := e.idp.SignWith(e.idp.NewKey("RS256"), map[string]any{"kid": "k-unknown"}, e.claims(nil))
	if _, err := e.v.Verify(context.Background(), unknown); !errors.Is(err, awsspec.ErrInvalidToken) {
		t.Fatalf("unknown kid: %v", err)
	}
	if _, err := e.v.Verify(context.Background(), t1); err == nil {
		t.Fatal("token of removed key accepted after refresh")
	}
}

func TestVerifyDuplicateKid(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{})
	k := e.idp.CurrentKey()
	twin := e.idp.NewKey("RS256")
	twin.KID = k.KID
	e.idp.AddKey(twin)
	for _, key := range []oidctest.Key{k, twin} {
		raw := e.idp.SignWith(key, map[string]any{"kid": k.KID}, e.claims(nil))
		if _, err := e.v.Verify(context.Background(), raw); !errors.Is(err, awsspec.ErrInvalidToken) {
			t.Errorf("ambiguous kid: want ErrInvalid, got %v", err)
		}
	}
}

func TestVerifyStaticKeys(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now().Truncate(time.Second)
	const iss = "https://broker.example.com"
	v, err := oidc.NewVerifier(oidc.VerifierConfig{
		Issuer: iss, ClientIDs: []string{"sts.amazonaws.com"},
		StaticKeys: []crypto_PublicKey{&priv.PublicKey},
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key *ecdsa.PrivateKey, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
		tok.Header["kid"] = "broker-1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": iss, "sub": "alice", "aud": "sts.amazonaws.com",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	if _, err := v.Verify(context.Background(), sign(priv, claims())); err != nil {
		t.Fatalf("static key: %v", err)
	}
	if _, err := v.Verify(context.Background(), sign(other, claims())); !errors.Is(err, awsspec.ErrInvalidToken) {
		t.Errorf("foreign key: %v", err)
	}
	c := claims()
	c["exp"] = now.Add(-time.Hour).Unix()
	c["iat"] = now.Add(-2 * time.Hour).Unix()
	if _, err := v.Verify(context.Background(), sign(priv, c)); !errors.Is(err, awsspec.ErrTokenExpired) {
		t.Errorf("expired: %v", err)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  oidc.VerifierConfig
	}{
		{"no issuer", oidc.VerifierConfig{ClientIDs: []string{"a"}}},
		{"http non-loopback", oidc.VerifierConfig{Issuer: "http://idp.example.com", ClientIDs: []string{"a"}}},
		{"http to a name that starts like a loopback address", oidc.VerifierConfig{Issuer: "http://127.evil.example", ClientIDs: []string{"a"}}},
		{"http to a loopback-looking subdomain", oidc.VerifierConfig{Issuer: "http://127.0.0.1.nip.io", ClientIDs: []string{"a"}}},
		{"query", oidc.VerifierConfig{Issuer: "https://idp.example.com?x=1", ClientIDs: []string{"a"}}},
		{"no client ids", oidc.VerifierConfig{Issuer: "https://idp.example.com"}},
		{"empty client id", oidc.VerifierConfig{Issuer: "https://idp.example.com", ClientIDs: []string{""}}},
		{"bad static key", oidc.VerifierConfig{Issuer: "https://idp.example.com", ClientIDs: []string{"a"}, StaticKeys: []crypto_PublicKey{"x"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := oidc.NewVerifier(tc.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// Keep the TLS client path exercised too.
func TestVerifyTLS(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{}, oidctest.WithTLS())
	raw := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	// Without trusting the test CA, discovery fails as key-unavailable.
	v, _ := oidc.NewVerifier(oidc.VerifierConfig{Issuer: e.idp.Issuer(), ClientIDs: []string{clientID}, HTTPClient: &http.Client{}})
	if _, err := v.Verify(context.Background(), raw); !errors.Is(err, awsspec.ErrKeyUnavailable) {
		t.Errorf("untrusted TLS: %v", err)
	}
}

func TestVerifyLastKnownGoodKeys(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{KeysTTL: 50 * time.Millisecond, JWKSRefreshInterval: 10 * time.Millisecond})
	raw := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	e.idp.SetFault(oidctest.JWKS, oidctest.Fault{Status: 503})
	time.Sleep(100 * time.Millisecond)
	// Stale keys, refresh fails: a known kid still verifies (within the hard TTL).
	if _, err := e.v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("known kid while JWKS down: %v", err)
	}
	if e.idp.Hits(oidctest.JWKS) < 2 {
		t.Error("stale keys were not refreshed")
	}
	if !strings.Contains(e.logs.String(), "JWKS refresh failed") {
		t.Error("failed refresh not logged")
	}
	assertNoSecret(t, raw, nil, e.logs)
}

func TestVerifyCallerCancel(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{Timeout: 3 * time.Second})
	e.idp.SetFault(oidctest.JWKS, oidctest.Fault{Delay: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.v.Verify(ctx, e.idp.Sign(e.claims(nil)))
	if !errors.Is(err, awsspec.ErrKeyUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("caller waited %v", d)
	}
}

// FuzzVerify feeds arbitrary strings to a static-key verifier: it must
// never panic and never accept.
func FuzzVerify(f *testing.F) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	v, err := oidc.NewVerifier(oidc.VerifierConfig{
		Issuer: "https://broker.example.com", ClientIDs: []string{"c"},
		StaticKeys: []crypto_PublicKey{&priv.PublicKey}, Now: func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	good := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": "https://broker.example.com", "sub": "s", "aud": "c", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	raw, _ := good.SignedString(priv)
	f.Add(raw)
	f.Add(raw[:len(raw)-2])
	f.Add("eyJhbGciOiJub25lIn0.eyJ9.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := v.Verify(context.Background(), s)
		if err == nil && s != raw {
			t.Fatalf("accepted a mutated token: %+v", tok)
		}
	})
}

// TestVerifyRemovedKey: once the issuer has removed a key and a refresh
// has fetched the set without it, tokens signed by that key are refused,
// by the request that triggered the refresh and by every request that
// waited on that fetch (OIDC-21).
func TestVerifyRemovedKey(t *testing.T) {
	cases := []struct {
		name    string
		waiters int
		delay   time.Duration
	}{
		{"triggering request", 1, 0},
		{"requests waiting on the fetch", 20, 200 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, oidc.VerifierConfig{KeysTTL: 100 * time.Millisecond, JWKSRefreshInterval: 50 * time.Millisecond})
			k1 := e.idp.CurrentKey()
			old := e.idp.Sign(e.claims(nil))
			e.idp.RotateKey()
			current := e.idp.Sign(e.claims(nil))
			for _, raw := range []string{old, current} {
				if _, err := e.v.Verify(context.Background(), raw); err != nil {
					t.Fatalf("before removal: %v", err)
				}
			}
			e.idp.RemoveKey(k1.KID)
			if tc.delay > 0 {
				e.idp.SetFault(oidctest.JWKS, oidctest.Fault{Delay: tc.delay}) // slow but correct
			}
			time.Sleep(150 * time.Millisecond) // past the TTL and the refresh interval
			hits := e.idp.Hits(oidctest.JWKS)
			errs := make(chan error, tc.waiters)
			var wg sync.WaitGroup
			for range tc.waiters {
				wg.Go(func() {
					_, err := e.v.Verify(context.Background(), old)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err == nil {
					t.Fatal("token of a removed key accepted")
				}
				if classOf(t, err) != awsspec.ErrInvalidToken || !errors.Is(err, awsspec.ErrKeyNotFound) {
					t.Errorf("want ErrKeyNotFound (ErrInvalid), got %v", err)
				}
			}
			if h := e.idp.Hits(oidctest.JWKS) - hits; h != 1 {
				t.Errorf("JWKS fetched %d times, want 1", h)
			}
			e.idp.ClearFault(oidctest.JWKS)
			if _, err := e.v.Verify(context.Background(), current); err != nil {
				t.Errorf("current key: %v", err)
			}
			assertNoSecret(t, old, nil, e.logs)
		})
	}
}

// TestVerifyNewKeyWhileJWKSDown: a token under a kid the cache does not
// hold is an outage (ErrKeyUnavailable), not a forgery, as long as the
// most recent JWKS fetch failed, also within the refresh interval after
// that failure; known keys keep working; once the JWKS recovers the new
// key verifies.
func TestVerifyNewKeyWhileJWKSDown(t *testing.T) {
	const interval = 300 * time.Millisecond
	e := newEnv(t, oidc.VerifierConfig{JWKSRefreshInterval: interval})
	old := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	e.idp.SetFault(oidctest.JWKS, oidctest.Fault{Status: http.StatusServiceUnavailable})
	e.idp.RotateKey()
	fresh := e.idp.Sign(e.claims(nil))
	time.Sleep(interval + 50*time.Millisecond)
	steps := []string{"fetch fails", "throttled after the failure", "throttled again"}
	for _, step := range steps {
		_, err := e.v.Verify(context.Background(), fresh)
		if classOf(t, err) != awsspec.ErrKeyUnavailable || errors.Is(err, awsspec.ErrKeyNotFound) {
			t.Errorf("%s: want ErrKeyUnavailable, got %v", step, err)
		}
	}
	if h := e.idp.Hits(oidctest.JWKS); h != 2 {
		t.Errorf("JWKS hits = %d, want 2", h)
	}
	if _, err := e.v.Verify(context.Background(), old); err != nil {
		t.Errorf("known key while JWKS down: %v", err)
	}
	e.idp.ClearFault(oidctest.JWKS)
	time.Sleep(interval + 50*time.Millisecond)
	if _, err := e.v.Verify(context.Background(), fresh); err != nil {
		t.Errorf("new key after recovery: %v", err)
	}
	assertNoSecret(t, fresh, nil, e.logs)
}

// selfSigned returns a self-signed certificate (DER) for k, for x5c.
func selfSigned(t *testing.T, k oidctest.Key) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idp.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestVerifyJWKSKeyKinds: keys in the JWKS that are not RSA/EC signature
// keys verify nothing, even for a token naming their kid: an oct key (HS256
// with its secret, OIDC-07) and an RSA key marked use=enc (OIDC-04); the
// issuer's signing key in the same set still works.
func TestVerifyJWKSKeyKinds(t *testing.T) {
	e := newEnv(t, oidc.VerifierConfig{})
	k := e.idp.CurrentKey()
	encKey := e.idp.NewKey("RS256")
	encJWK := oidctest.JWK(encKey)
	encJWK["use"], encJWK["kid"] = "enc", "k-enc"
	encNoAlg := oidctest.JWK(encKey)
	encNoAlg["use"], encNoAlg["kid"] = "enc", "k-enc-noalg"
	delete(encNoAlg, "alg")
	secret := []byte("0123456789abcdef0123456789abcdef")
	octJWK := map[string]any{"kty": "oct", "kid": "k-oct", "alg": "HS256", "use": "sig", "k": base64.RawURLEncoding.EncodeToString(secret)}
	set, err := jsonMarshal(map[string]any{"keys": []any{oidctest.JWK(k), encJWK, encNoAlg, octJWK}})
	if err != nil {
		t.Fatal(err)
	}
	e.idp.SetFault(oidctest.JWKS, oidctest.Fault{Body: set}) // served with status 200
	valid := e.idp.Sign(e.claims(nil))
	if _, err := e.v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("signing key of the same set: %v", err)
	}
	cases := []struct {
		name  string
		token string
	}{
		{"HS256 under the oct kid", e.idp.SignHMAC("HS256", secret, map[string]any{"kid": "k-oct", "typ": "JWT"}, e.claims(nil))},
		{"RS256 under the oct kid", e.idp.SignWith(k, map[string]any{"kid": "k-oct", "typ": "JWT"}, e.claims(nil))},
		{"RS256 by the use=enc key under its kid", e.idp.SignWith(encKey, map[string]any{"kid": "k-enc", "typ": "JWT"}, e.claims(nil))},
		{"RS256 by the use=enc key without alg", e.idp.SignWith(encKey, map[string]any{"kid": "k-enc-noalg", "typ": "JWT"}, e.claims(nil))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := e.v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted: %+v", tok)
			}
			if classOf(t, err) != awsspec.ErrInvalidToken {
				t.Errorf("want ErrInvalid, got %v", err)
			}
			assertNoSecret(t, tc.token, err, e.logs)
		})
	}
}

// TestVerifyJWKSUnreachable: OIDC-20 faults below HTTP: a jwks_uri whose
// port refuses connections, and a JWKS over https that redirects to
// http:// (where the right keys are served: following would verify). Both
// are ErrKeyUnavailable, at once.
func TestVerifyJWKSUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/jwks"
	ln.Close()

	var idp *oidctest.Server
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		plainHits.Add(1)
		b, _ := jsonMarshal(map[string]any{"keys": []any{oidctest.JWK(idp.CurrentKey())}})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(plain.Close)
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/jwks", http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	cases := []struct {
		name    string
		jwksURI string
		tls     bool
	}{
		{"connection refused", closedURL, false},
		{"https redirect to http", redirector.URL + "/jwks", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := []oidctest.Option{oidctest.WithDiscovery(func(doc map[string]any) { doc["jwks_uri"] = tc.jwksURI })}
			if tc.tls {
				opts = append(opts, oidctest.WithTLS())
			}
			e := newEnv(t, oidc.VerifierConfig{Timeout: time.Second}, opts...)
			idp = e.idp
			raw := e.idp.Sign(e.claims(nil))
			start := time.Now()
			_, err := e.v.Verify(context.Background(), raw)
			if classOf(t, err) != awsspec.ErrKeyUnavailable {
				t.Fatalf("want ErrKeyUnavailable, got %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
			if n := plainHits.Load(); n != 0 {
				t.Errorf("followed the redirect to http:// (%d requests)", n)
			}
			assertNoSecret(t, raw, err, e.logs)
		})
	}
}
