package broker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
	"github.com/idbroker/idbroker/sts"
)

// samlBroker is a broker with real providers/saml upstreams: "corp" and
// "other" (SP-initiated only) and "open" (IdP-initiated allowed), each
// with its own in-process IdP. The broker, the verifiers and the replay
// cache share one settable clock; the broker's own STS calls are recorded.
type samlBroker struct {
	s     *Server
	pub   string
	clk   *clock
	sts   *recordingSTS
	idps  map[string]*samltest.IdP
	sps   map[string]*saml.Provider
	store *store.Memory
}

const samlTestRules = `
rules:
  - name: developers
    when: {groups_any: [developers]}
    roles: [Developer]
`

func newSAMLBroker(t *testing.T, pub string) *samlBroker {
	t.Helper()
	clk := &clock{t: time.Now()}
	// crewjam's gate reads crewjam's package clock: keep it on the broker's
	// fake clock for this (non-parallel) test.
	savedNow := crewjam.TimeNow
	t.Cleanup(func() { crewjam.TimeNow = savedNow })
	crewjam.TimeNow = clk.now
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
	svc, err := sts.New(sts.Config{AccountID: moAccount, Partition: "aws", Region: "us-east-1", PublicURL: pub, Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	mc, err := mapping.ParseConfig([]byte(samlTestRules))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(mc, mapping.Env{AccountID: moAccount, Partition: "aws", Roles: map[string]mapping.RoleInfo{"Developer": {MaxDuration: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	b := &samlBroker{pub: pub, clk: clk, sts: &recordingSTS{STS: svc, now: clk.now}, idps: map[string]*samltest.IdP{}, sps: map[string]*saml.Provider{}}
	replay := saml.NewMemoryReplayCache(clk.now)
	var provs []Provider
	for _, name := range []string{"corp", "other", "open"} {
		idp := samltest.NewIdP(t)
		sp, err := saml.New(saml.Config{IdPMetadataXML: string(idp.Metadata()), GroupsAttribute: "groups", AllowIdPInitiated: name == "open"},
			saml.Options{Name: name, PublicURL: pub, Key: keys.SAMLKey, Certificate: keys.SAMLCert, ReplayCache: replay, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		b.idps[name], b.sps[name] = idp, sp
		provs = append(provs, Provider{Name: name, Type: "saml", Impl: &SAMLProvider{Provider: sp}})
	}
	b.store = store.NewMemory(clk.now)
	b.s, err = New(Config{PublicURL: pub, Providers: provs, Mapper: m, STS: b.sts, Issuer: iss, CookieKey: keys.Cookie, Now: clk.now, Store: b.store})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// start begins an SP-initiated login at provider and returns the tracker
// cookie and the AuthnRequest ID it holds.
func (b *samlBroker) start(t *testing.T, provider string) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, b.pub+"/login/"+provider, nil))
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), b.idps[provider].SSOURL+"?") {
		t.Fatalf("login start: %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	var tracker *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == samlCookiePrefix+provider {
			tracker = c
		}
	}
	if tracker == nil {
		t.Fatalf("no tracker cookie in %v", rec.Result().Cookies())
	}
	var tr samlTracker
	if err := b.s.sealer.open(samlPurpose(provider), tracker.Value, &tr); err != nil || len(tr.IDs) != 1 {
		t.Fatalf("tracker %+v: %v", tr, err)
	}
	return tracker, tr.IDs[0]
}

// response is a valid signed Response from provider's IdP, issued now,
// answering inResponseTo ("" for an unsolicited one).
func (b *samlBroker) response(t *testing.T, provider, inResponseTo string) string {
	t.Helper()
	sp := b.sps[provider]
	doc := b.idps[provider].BuildResponse(t, samltest.ResponseSpec{
		Now: b.clk.now(), InResponseTo: inResponseTo, Destination: sp.ACSURL(), Recipient: sp.ACSURL(),
		Audiences: []string{sp.EntityID()}, NameID: "alice@corp.example",
		Attributes: []samltest.Attribute{{Name: "groups", Values: []string{"developers"}}},
	})
	return samltest.Encode(samltest.XML(t, doc))
}

// acs posts a SAMLResponse to provider's ACS with the given cookies.
func (b *samlBroker) acs(t *testing.T, provider, samlResponse string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, b.pub+samlACSPath(provider), strings.NewReader(url.Values{"SAMLResponse": {samlResponse}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	return rec
}

// signedIn reports whether an ACS answer carried credentials or a session
// (a session cookie, or a redirect to the role page).
func signedIn(rec *httptest.ResponseRecorder) bool {
	for _, c := range rec.Result().Cookies() {
		if (c.Name == sessionCookieSecure || c.Name == sessionCookiePlain) && c.MaxAge >= 0 {
			return true
		}
	}
	return rec.Code == http.StatusOK || rec.Code == http.StatusSeeOther ||
		strings.Contains(rec.Body.String(), "ASIAMO") || strings.Contains(rec.Body.String(), "secret-mo-")
}

// sessions counts the sessions the broker has created.
func (b *samlBroker) sessions(t *testing.T) int {
	t.Helper()
	recs, err := b.store.ListSessions(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// TestSAMLTrackerCookieFlags: the cookie naming the outstanding AuthnRequest
// is HttpOnly, scoped to the provider's ACS, lives at most 10 minutes, and
// is SameSite=None; Secure on an https broker, because the IdP's
// HTTP-POST binding posts the Response from the IdP's site and a
// SameSite=Lax cookie is not sent on a cross-site POST. On a plain-http
// (loopback demo) broker, where browsers drop SameSite=None without
// Secure, it is Lax and not Secure.
func TestSAMLTrackerCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		pub      string
		secure   bool
		sameSite http.SameSite
	}{
		{"https://broker.example.com", true, http.SameSiteNoneMode},
		{"http://127.0.0.1:8080", false, http.SameSiteLaxMode},
	} {
		t.Run(tc.pub, func(t *testing.T) {
			b := newSAMLBroker(t, tc.pub)
			c, id := b.start(t, "corp")
			if !c.HttpOnly || c.Secure != tc.secure || c.SameSite != tc.sameSite {
				t.Errorf("HttpOnly %v Secure %v SameSite %v, want true %v %v", c.HttpOnly, c.Secure, c.SameSite, tc.secure, tc.sameSite)
			}
			if c.Path != "/saml/corp/acs" || c.Domain != "" {
				t.Errorf("Path %q Domain %q, want /saml/corp/acs and host-only", c.Path, c.Domain)
			}
			if c.MaxAge <= 0 || c.MaxAge > 600 {
				t.Errorf("Max-Age %d, want 1..600", c.MaxAge)
			}
			if id == "" {
				t.Fatal("no request ID tracked")
			}
			// The cookie works: the Response answering it signs the user in,
			// and the tracker is cleared with the same attributes.
			rec := b.acs(t, "corp", b.response(t, "corp", id), c)
			tb := newTestBrowser(b.s, b.pub)
			tb.absorb(rec)
			sc := tb.cookies[sessionCookiePlain]
			if tc.secure {
				sc = tb.cookies[sessionCookieSecure]
			}
			if sc == nil || !sc.HttpOnly || sc.Secure != tc.secure || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Domain != "" {
				t.Fatalf("session cookie %+v", sc)
			}
			if creds := tb.credentialsAfterSignIn(t, rec, moRoleARN("Developer")); creds.Code != http.StatusOK || !strings.Contains(creds.Body.String(), "ASIAMO") || len(b.sts.calls()) != 1 {
				t.Fatalf("valid login: %d, %d STS calls", creds.Code, len(b.sts.calls()))
			}
			cleared := false
			for _, rc := range rec.Result().Cookies() {
				cleared = cleared || (rc.Name == c.Name && rc.MaxAge < 0 && rc.Path == c.Path && rc.Secure == tc.secure && rc.SameSite == tc.sameSite)
			}
			if !cleared {
				t.Errorf("tracker not cleared: %v", rec.Result().Cookies())
			}
		})
	}
}

// TestSAMLTrackerCookieRefused: a Response answering the request a cookie
// names is refused at the ACS when the cookie was tampered with, has
// expired, or was issued for another provider; no session cookie and no
// credentials come out, no session is created and the STS is never called.
func TestSAMLTrackerCookieRefused(t *testing.T) {
	flip := func(s string) string {
		b := []byte(s)
		i := len(b) / 2
		// Stay in the base64url alphabet: swap between two of its letters.
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name string
		// cookie returns the cookie to present at corp's ACS and the
		// request ID the Response answers.
		cookie func(t *testing.T, b *samlBroker) (*http.Cookie, string)
	}{
		{"no cookie", func(t *testing.T, b *samlBroker) (*http.Cookie, string) {
			_, id := b.start(t, "corp")
			return &http.Cookie{Name: samlCookiePrefix + "corp", Value: ""}, id
		}},
		{"bit flipped", func(t *testing.T, b *samlBroker) (*http.Cookie, string) {
			c, id := b.start(t, "corp")
			c.Value = flip(c.Value)
			return c, id
		}},
		{"truncated", func(t *testing.T, b *samlBroker) (*http.Cookie, string) {
			c, id := b.start(t, "corp")
			c.Value = c.Value[:len(c.Value)-4]
			return c, id
		}},
		{"expired", func(t *testing.T, b *samlBroker) (*http.Cookie, string) {
			c, id := b.start(t, "corp")
			// The IdP answers late; the Response itself is fresh.
			b.clk.add(samlRequestTTL + time.Second)
			return c, id
		}},
		{"issued for another provider", func(t *testing.T, b *samlBroker) (*http.Cookie, string) {
			c, id := b.start(t, "other")
			c.Name = samlCookiePrefix + "corp"
			return c, id
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newSAMLBroker(t, "https://broker.example.com")
			c, id := tc.cookie(t, b)
			rec := b.acs(t, "corp", b.response(t, "corp", id), c)
			if rec.Code != http.StatusForbidden || signedIn(rec) || b.sessions(t) != 0 || len(b.sts.calls()) != 0 {
				t.Fatalf("status %d, signed in %v, %d sessions, %d STS calls", rec.Code, signedIn(rec), b.sessions(t), len(b.sts.calls()))
			}
			if !strings.Contains(rec.Body.String(), "Your sign-in has expired.") {
				t.Errorf("page does not say the sign-in expired: %s", rec.Body)
			}
		})
	}

	// Control: the same Response with the untouched cookie signs in, so
	// the refusals above come from the cookie alone.
	b := newSAMLBroker(t, "https://broker.example.com")
	c, id := b.start(t, "corp")
	b.clk.add(samlRequestTTL - time.Minute)
	if rec := b.acs(t, "corp", b.response(t, "corp", id), c); !signedIn(rec) {
		t.Fatalf("control login refused: %d %s", rec.Code, rec.Body)
	}
}

// TestSAMLUnsolicitedAndReplay (THREATS SAML-38, SAML-39): an unsolicited
// Response is refused by an IdP that does not allow IdP-initiated login;
// where it is allowed, it signs in once and its replay is refused; and an
// assertion already redeemed in an SP-initiated login is refused when
// replayed with or without a tracker cookie.
func TestSAMLUnsolicitedAndReplay(t *testing.T) {
	b := newSAMLBroker(t, "https://broker.example.com")
	refused := func(t *testing.T, rec *httptest.ResponseRecorder, calls int) {
		t.Helper()
		if rec.Code != http.StatusForbidden || signedIn(rec) || b.sessions(t) != calls {
			t.Fatalf("status %d, signed in %v, %d sessions (want %d)", rec.Code, signedIn(rec), b.sessions(t), calls)
		}
	}

	t.Run("unsolicited, IdP-initiated off", func(t *testing.T) {
		refused(t, b.acs(t, "corp", b.response(t, "corp", "")), 0)
	})

	t.Run("unsolicited replay, IdP-initiated on", func(t *testing.T) {
		resp := b.response(t, "open", "")
		if rec := b.acs(t, "open", resp); !signedIn(rec) || b.sessions(t) != 1 {
			t.Fatalf("first unsolicited login: %d %s", rec.Code, rec.Body)
		}
		refused(t, b.acs(t, "open", resp), 1)
		// Another browser, with an outstanding request of its own.
		c, _ := b.start(t, "open")
		refused(t, b.acs(t, "open", resp, c), 1)
	})

	t.Run("SP-initiated assertion replayed", func(t *testing.T) {
		c, id := b.start(t, "corp")
		resp := b.response(t, "corp", id)
		before := b.sessions(t)
		if rec := b.acs(t, "corp", resp, c); !signedIn(rec) || b.sessions(t) != before+1 {
			t.Fatalf("first login: %d %s", rec.Code, rec.Body)
		}
		// The browser kept the (cleared) cookie: same request ID.
		refused(t, b.acs(t, "corp", resp, c), before+1)
		// Without it, as if IdP-initiated.
		refused(t, b.acs(t, "corp", resp), before+1)
		// Posted to the IdP-initiated provider's ACS instead.
		refused(t, b.acs(t, "open", resp), before+1)
	})
}
