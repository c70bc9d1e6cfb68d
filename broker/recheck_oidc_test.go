package broker

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers/oidc"
	"github.com/idbroker/idbroker/providers/oidc/oidctest"
	"github.com/idbroker/idbroker/sts"
)

// Re-checks of OIDC sessions against a real upstream that rotates refresh
// tokens (oidctest): each refresh redeems the token the session holds and
// hands back a new one; the old one is dead from then on (invalid_grant,
// which ends the login). So the broker must keep every new token it is
// given, and must never let two requests redeem the same token.

// oidcSessionBroker is a broker whose provider "corp" is a real
// providers/oidc upstream (oidctest, refresh tokens rotating), mapping its
// dev group to Developer, on a memory store and a recording STS.
type oidcSessionBroker struct {
	*sessionBroker
	idp *oidctest.Server
	p   *oidc.Provider
}

func newOIDCSessionBroker(t *testing.T, useUserinfo bool) *oidcSessionBroker {
	t.Helper()
	const pub = "https://broker.example.com"
	idp := oidctest.New(t, oidctest.WithRefreshTokens())
	p, err := oidc.New(oidc.Config{Name: "corp", Issuer: idp.Issuer(), ClientID: idp.ClientID(), ClientSecret: idp.ClientSecret(),
		RedirectURL: pub + "/oidc/corp/callback", GroupsClaim: "groups", UseUserinfo: useUserinfo})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	iss, err := NewIssuer(pub, keys.Signing, clk.now)
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
	b := &sessionBroker{pub: pub, clk: clk, mapper: &swapMapper{}, sts: &recordingSTS{STS: svc, now: clk.now},
		store: store.NewMemory(clk.now), revoker: &recordingRevoker{}, logs: &lockedBuf{}}
	b.mapper.set(t, "rules:\n  - {name: devs, when: {groups_any: [dev]}, roles: [Developer]}\n")
	b.s, err = New(Config{PublicURL: pub, Providers: []Provider{{Name: "corp", Type: "oidc", Impl: p}},
		Mapper: b.mapper, STS: b.sts, Issuer: iss, CookieKey: keys.Cookie, Now: clk.now, Store: b.store,
		Sessions: Sessions{RecheckInterval: time.Minute}, Revoker: b.revoker,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return &oidcSessionBroker{sessionBroker: b, idp: idp, p: p}
}

// bearerSession signs in at the upstream with the code flow (a real token
// endpoint answer with a refresh token) and gives the login a bearer
// session.
func (b *oidcSessionBroker) bearerSession(t *testing.T) (token, id string) {
	t.Helper()
	ctx := context.Background()
	authURL, err := b.p.AuthURL(ctx, "state-1", "nonce-1", strings.Repeat("v", 43))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.idp.Authorize(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.ParseQuery(cb.RawQuery)
	ident, err := b.p.Exchange(ctx, q.Get("code"), strings.Repeat("v", 43), "nonce-1", q.Get("iss"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ident.Upstream) == 0 {
		t.Fatal("the login carries no refresh token")
	}
	se, token, err := b.s.startSession(ctx, ident, methodOIDC, carrierBearer)
	if err != nil {
		t.Fatal(err)
	}
	return token, se.ID
}

// TestRecheckConcurrentRotatingUpstream: two requests of one OIDC session
// due for a re-check at the same time (the refresh answers slowly) redeem
// its refresh token once: the second waits for the first's re-check and
// uses it. Both get credentials and the session lives on; had both
// redeemed, the second would have presented the rotated-away token and the
// upstream would have ended the login.
func TestRecheckConcurrentRotatingUpstream(t *testing.T) {
	b := newOIDCSessionBroker(t, false)
	token, sid := b.bearerSession(t)
	b.clk.add(2 * time.Minute)
	b.idp.SetFault(oidctest.Refresh, oidctest.Fault{Delay: 300 * time.Millisecond})
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Go(func() {
			rec, _ := b.credentials(t, token, `{"role":"Developer"}`)
			codes[i] = rec.Code
		})
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: %d", i, c)
		}
	}
	if n := b.idp.Hits(oidctest.Refresh); n != 1 {
		t.Errorf("the refresh token was redeemed %d times, want 1", n)
	}
	if got := b.revoker.revoked(); len(got) != 0 {
		t.Errorf("the session was ended and revoked: %v", got)
	}
	// The session holds the rotated token: the next re-check succeeds.
	b.idp.ClearFault(oidctest.Refresh)
	b.clk.add(2 * time.Minute)
	if rec, out := b.credentials(t, token, `{"role":"Developer"}`); rec.Code != http.StatusOK {
		t.Fatalf("next re-check: %d %v", rec.Code, out)
	}
	if n := b.idp.Hits(oidctest.Refresh); n != 2 {
		t.Errorf("%d refreshes, want 2", n)
	}
	if se, err := b.s.loadSession(context.Background(), sid); err != nil || !se.live(b.clk.now()) {
		t.Fatalf("session after the re-checks: %v", err)
	}
}

// TestRecheckKeepsRotatedTokenOnFailure: the upstream redeems the refresh
// token, rotates it, and then fails (userinfo down): this issuance is
// refused (503) and the session kept with the new token, so that the next
// re-check, once userinfo is back, succeeds instead of presenting the dead
// token (which would end the login).
func TestRecheckKeepsRotatedTokenOnFailure(t *testing.T) {
	b := newOIDCSessionBroker(t, true)
	token, sid := b.bearerSession(t)
	before, err := b.s.loadSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	b.clk.add(2 * time.Minute)
	b.idp.SetFault(oidctest.Userinfo, oidctest.Fault{Status: http.StatusInternalServerError})
	rec, out := b.credentials(t, token, `{"role":"Developer"}`)
	if e, _ := out["error"].(map[string]any); rec.Code != http.StatusServiceUnavailable || e["code"] != "ProviderUnavailable" {
		t.Fatalf("userinfo down: %d %v", rec.Code, out)
	}
	if b.idp.Hits(oidctest.Refresh) != 1 {
		t.Fatalf("refreshes %d", b.idp.Hits(oidctest.Refresh))
	}
	after, err := b.s.loadSession(context.Background(), sid)
	if err != nil || string(after.Upstream) == string(before.Upstream) || !after.live(b.clk.now()) {
		t.Fatalf("the rotated token was not kept: %v", err)
	}
	b.idp.ClearFault(oidctest.Userinfo)
	if rec, out := b.credentials(t, token, `{"role":"Developer"}`); rec.Code != http.StatusOK {
		t.Fatalf("userinfo back: %d %v", rec.Code, out)
	}
	if got := b.revoker.revoked(); len(got) != 0 {
		t.Errorf("the session was ended: %v", got)
	}
	if strings.Contains(b.logs.String(), "rt-") {
		t.Error("a refresh token reached the log")
	}
}

// TestRecheckMisconfiguredKeepsSession: an upstream refusing the broker's
// client (invalid_client: the configuration is at fault, not the person)
// refuses the issuance as misconfigured, logged at ERROR, and keeps the
// session.
func TestRecheckMisconfiguredKeepsSession(t *testing.T) {
	b := newOIDCSessionBroker(t, false)
	token, sid := b.bearerSession(t)
	b.clk.add(2 * time.Minute)
	b.idp.SetFault(oidctest.Refresh, oidctest.Fault{Status: http.StatusUnauthorized, Body: []byte(`{"error":"invalid_client"}`)})
	rec, out := b.credentials(t, token, `{"role":"Developer"}`)
	if e, _ := out["error"].(map[string]any); rec.Code != http.StatusInternalServerError || e["code"] != "ProviderMisconfigured" {
		t.Fatalf("invalid_client: %d %v", rec.Code, out)
	}
	if !strings.Contains(b.logs.String(), `"level":"ERROR","msg":"session re-check failed: the provider is misconfigured`) {
		t.Errorf("not logged at ERROR:\n%s", b.logs.String())
	}
	if se, err := b.s.loadSession(context.Background(), sid); err != nil || !se.live(b.clk.now()) {
		t.Fatalf("session after a misconfigured re-check: %v", err)
	}
}
