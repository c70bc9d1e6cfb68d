package broker

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
	"github.com/idbroker/idbroker/sts"
)

// clock is a settable time source for the broker under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newOIDCBroker builds a broker at an https public URL with one real
// providers/oidc upstream (an oidctest issuer).
func newOIDCBroker(t *testing.T) (*Server, *oidctest.Server, *clock) {
	t.Helper()
	const pub = "https://broker.example.com"
	idp := oidctest.New(t)
	p, err := oidc.New(oidc.Config{Name: "corp", Issuer: idp.Issuer(), ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
		RedirectURL: pub + "/oidc/corp/callback", GroupsClaim: "groups"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(pub, keys.Signing, nil)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := sts.GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sts.New(sts.Config{AccountID: "123456789012", Partition: "aws", Region: "us-east-1", PublicURL: pub, Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(mapping.Config{}, mapping.Env{AccountID: "123456789012", Partition: "aws"})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	s, err := New(Config{PublicURL: pub, Providers: []Provider{{Name: "corp", Type: "oidc", Impl: p}},
		Mapper: m, STS: svc, Issuer: iss, CookieKey: keys.Cookie, Now: clk.now, Store: store.NewMemory(clk.now)})
	if err != nil {
		t.Fatal(err)
	}
	return s, idp, clk
}

func TestOIDCLoginCookie(t *testing.T) {
	s, idp, clk := newOIDCBroker(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://broker.example.com/login/corp", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if loc.Query().Get("redirect_uri") != "https://broker.example.com/oidc/corp/callback" {
		t.Errorf("redirect_uri %q", loc.Query().Get("redirect_uri"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != oidcCookie || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/oidc/corp/" || c.MaxAge != 600 {
		t.Errorf("cookie %+v", c)
	}
	var login oidcLogin
	if err := s.sealer.open(oidcPurpose("corp"), c.Value, &login); err != nil || login.State != loc.Query().Get("state") || login.Nonce != loc.Query().Get("nonce") {
		t.Fatalf("sealed login %+v: %v", login, err)
	}
	if err := s.sealer.open(oidcPurpose("other"), c.Value, &login); err == nil {
		t.Error("cookie opens for another provider")
	}

	// Eleven minutes later the cookie is refused before any code exchange.
	clk.add(11 * time.Minute)
	cb, err := idp.Authorize(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "https://broker.example.com/oidc/corp/callback?"+cb.RawQuery, nil)
	req.AddCookie(c)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || idp.Hits(oidctest.Token) != 0 {
		t.Fatalf("expired cookie: %d, token hits %d", rec.Code, idp.Hits(oidctest.Token))
	}
	cleared := false
	for _, c := range rec.Result().Cookies() {
		cleared = cleared || (c.Name == oidcCookie && c.MaxAge < 0 && c.Path == "/oidc/corp/" && c.Secure)
	}
	if !cleared {
		t.Error("callback did not clear the login cookie")
	}
}

func TestSanitizeParam(t *testing.T) {
	cases := []struct{ in, want string }{
		{"access_denied", "access_denied"},
		{"login_required", "login_required"},
		{"a b\n<script>", "a?b??script?"},
		{"\x1b[31mred", "??31mred"},
		{strings.Repeat("x", 100), strings.Repeat("x", 64) + "…"},
	}
	for _, tc := range cases {
		if got := sanitizeParam(tc.in); got != tc.want {
			t.Errorf("sanitizeParam(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPeekIssuer(t *testing.T) {
	idp := oidctest.New(t)
	good := idp.Sign(idp.Claims("a"))
	cases := []struct{ name, in, want string }{
		{"signed token", good, idp.Issuer()},
		{"unsigned token still peeks (verification decides)", oidctest.Unsigned(map[string]any{"alg": "none"}, map[string]any{"iss": "https://x"}), "https://x"},
		{"iss in another case", oidctest.Unsigned(map[string]any{"alg": "none"}, map[string]any{"ISS": "https://x"}), ""},
		{"iss not a string", oidctest.Unsigned(map[string]any{"alg": "none"}, map[string]any{"iss": 1}), ""},
		{"two segments", "a.b", ""},
		{"bad base64", "a.!!!.c", ""},
		{"huge", strings.Repeat("a", 70<<10), ""},
		{"dots", "a" + strings.Repeat(".", 1<<20), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := peekIssuer(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
