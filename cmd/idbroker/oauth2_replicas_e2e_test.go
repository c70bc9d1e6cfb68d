package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/store/redistest"
)

// TestOAuthAcrossReplicas: two servers sharing a Redis store and a key
// directory are one OAuth server: a device code asked for on one is
// approved on the other and delivered once, whichever is polled; an
// authorization code allowed on one is redeemed on the other, and its
// second use on the first ends the session it made.
func TestOAuthAcrossReplicas(t *testing.T) {
	rs := redistest.Start(t)
	dir := filepath.Join(t.TempDir(), "keys")
	if code := runKeysInit([]string{dir}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("keys init: %d", code)
	}
	cfg := strings.Replace(string(configs.Demo), `keys: {dir: ""}`, `keys: {dir: "`+dir+`"}`, 1)
	cfg = strings.Replace(cfg, "store: {type: memory}", `store: {type: redis, url: "`+rs.URL+`"}`, 1)
	a, b := startServer(t, []byte(cfg)), startServer(t, []byte(cfg))
	ctx := context.Background()

	da, err := cliConfig(a.URL, "").DeviceAuth(ctx, oauth2.SetAuthURLParam("device_name", "replica-test"))
	if err != nil {
		t.Fatal(err)
	}
	br := newBrowser(t, b.URL)
	if status, _, _ := br.signIn("demo", "bob", "bob"); status != http.StatusOK {
		t.Fatal("sign-in on b")
	}
	_, entry := br.get("/device")
	status, confirm := br.enterCode(entry, da.UserCode)
	if status != http.StatusOK || !strings.Contains(confirm, "replica-test") {
		t.Fatalf("code on b: %d\n%s", status, confirm)
	}
	if status, _ := br.decide(confirm, "approve"); status != http.StatusOK {
		t.Fatalf("approve on b: %d", status)
	}
	status, out := pollDevice(t, a.URL, da.DeviceCode)
	if status != http.StatusOK {
		t.Fatalf("poll on a: %d %v", status, out)
	}
	token := out["access_token"].(string)
	if status, out := pollDevice(t, b.URL, da.DeviceCode); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Errorf("poll on b after a delivered: %d %v", status, out)
	}
	if status, creds, _ := sessionAPI(t, http.MethodPost, b.URL+"/api/v1/credentials", token, "application/json", `{"role":"Developer"}`); status != http.StatusOK {
		t.Errorf("the device's token on b: %d %v", status, creds)
	}

	cli := newCLIListener(t)
	confA, confB := cliConfig(a.URL, cli.url), cliConfig(b.URL, cli.url)
	ba := newBrowser(t, a.URL)
	if status, _, _ := ba.signIn("demo", "alice", "alice"); status != http.StatusOK {
		t.Fatal("sign-in on a")
	}
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, ba, cli, confA, verifier, "replicas")
	tok, err := confB.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("the code of a redeemed on b: %v", err)
	}
	if _, err := confA.Exchange(ctx, code, oauth2.VerifierOption(verifier)); oauthCode(err) != "invalid_grant" {
		t.Errorf("the code again on a: %v", err)
	}
	if status, out, _ := sessionAPI(t, http.MethodGet, b.URL+"/api/v1/sessions/current", tok.AccessToken, "", ""); status != http.StatusUnauthorized {
		t.Errorf("the session of a code used twice, on b: %d %v", status, out)
	}
}
