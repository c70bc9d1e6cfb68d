package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestGetter: keys come from the cache while fresh and from the profile's
// current session; else from the broker, once; a session expired here is
// not sent; a session the broker ended is forgotten.
func TestGetter(t *testing.T) {
	var calls atomic.Int32
	ended := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if ended.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"InvalidSession","message":"the session token is invalid, expired or ended: create a new session"}}`))
			return
		}
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		_ = json.NewEncoder(w).Encode(map[string]any{"Version": 1, "AccessKeyId": "ASIA" + string(rune('A'+calls.Load())),
			"SecretAccessKey": "s", "SessionToken": "t", "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "RoleArn": body["role"]})
	}))
	defer srv.Close()
	cache, err := OpenCache(filepath.Join(t.TempDir(), "idbroker"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	g := &Getter{Cache: cache, Client: func(base string) *Client { return NewClient(base, "test") }, Now: func() time.Time { return now }}
	ctx := context.Background()
	role := "arn:aws:iam::1:role/Dev"

	var nl *NoLoginError
	if _, _, err := g.Get(ctx, "dev"); !errors.As(err, &nl) || nl.Why != "no-profile" {
		t.Fatalf("no profile: %v", err)
	}
	_ = cache.SaveProfile(&ProfileBinding{Profile: "dev", BrokerURL: srv.URL, User: "alice", RoleARN: role})
	if _, _, err := g.Get(ctx, "dev"); !errors.As(err, &nl) || nl.Why != "no-session" || !strings.Contains(err.Error(), "run `idbroker login --profile dev`") {
		t.Fatalf("no session: %v", err)
	}
	se := &CachedSession{BrokerURL: srv.URL, User: "alice", SessionID: "S1", Token: "S1.x", ExpiresAt: now.Add(time.Hour)}
	_ = cache.SaveSession(se)

	c1, _, err := g.Get(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if c2, _, _ := g.Get(ctx, "dev"); c2.AccessKeyID != c1.AccessKeyID || calls.Load() != 1 {
		t.Errorf("the second Get reached the broker (%d calls)", calls.Load())
	}
	// A new session (another login) does not use the old session's keys.
	se.SessionID, se.Token = "S2", "S2.x"
	_ = cache.SaveSession(se)
	if c3, _, _ := g.Get(ctx, "dev"); c3.AccessKeyID == c1.AccessKeyID || calls.Load() != 2 {
		t.Errorf("keys of the old session were used (%d calls)", calls.Load())
	}
	// A damaged keys file is replaced by new keys.
	_ = os.WriteFile(filepath.Join(cache.Dir, keysFile("dev")), []byte("{not json"), 0o600)
	if _, _, err := g.Get(ctx, "dev"); err != nil || calls.Load() != 3 {
		t.Errorf("damaged keys: %v (%d calls)", err, calls.Load())
	}
	// Within 5 minutes of expiry: new keys.
	now = now.Add(56 * time.Minute)
	if _, _, err := g.Get(ctx, "dev"); err != nil || calls.Load() != 4 {
		t.Errorf("near expiry: %v (%d calls)", err, calls.Load())
	}
	// A session past its expiry here is not sent.
	now = now.Add(time.Hour)
	if _, _, err := g.Get(ctx, "dev"); !errors.As(err, &nl) || nl.Why != "expired" || calls.Load() != 4 ||
		!strings.Contains(err.Error(), "the idbroker session of alice at "+srv.URL+" has expired: run `idbroker login --profile dev`") {
		t.Errorf("expired: %v (%d calls)", err, calls.Load())
	}
	// The broker ended it: forgotten here.
	now = time.Now()
	se.ExpiresAt = now.Add(time.Hour)
	_ = cache.SaveSession(se)
	_ = cache.RemoveKeys("dev")
	ended.Store(true)
	if _, _, err := g.Get(ctx, "dev"); !errors.As(err, &nl) || nl.Why != "ended" {
		t.Errorf("ended: %v", err)
	}
	if _, err := cache.Session(srv.URL, "alice"); err == nil {
		t.Error("the ended session is still cached")
	}
}
