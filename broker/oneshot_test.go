package broker

import (
	"context"
	"net/http"
	"testing"
)

// TestOneShotSessionsShareOneRecord: a program that signs in with its
// password on every call leaves one session record per person and period,
// not one per call; its credentials all name that session; once it has
// ended, the next one-shot login gets a session of its own; another person
// and the next period get their own.
func TestOneShotSessionsShareOneRecord(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	role := map[string]string{"olga": "Ops", "alice": "Developer"}
	login := func(user string) string {
		t.Helper()
		rec, out := b.request(t, http.MethodPost, "/api/v1/credentials", "", "application/json", `{"provider":"corp","username":"`+user+`","password":"pw","role":"`+role[user]+`"}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %v", user, rec.Code, out)
		}
		calls := b.sts.calls()
		sid, _ := jwtClaims(t, calls[len(calls)-1].WebIdentityToken)["sid"].(string)
		if sid == "" {
			t.Fatal("the credentials name no session")
		}
		return sid
	}
	records := func(user string) int {
		t.Helper()
		recs, err := b.store.ListSessions(context.Background(), userIndex("corp", user))
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}

	first := login("olga")
	for range 20 {
		if sid := login("olga"); sid != first {
			t.Fatalf("one-shot login made session %s, want the person's %s", sid, first)
		}
	}
	if n := records("olga"); n != 1 {
		t.Fatalf("%d session records after 21 one-shot logins, want 1", n)
	}
	if reused := b.auditEvents(t, "session.reused"); len(reused) != 20 {
		t.Errorf("%d session.reused events, want 20", len(reused))
	}

	if other := login("alice"); other == first {
		t.Fatal("two people share a one-shot session")
	}

	// Ended (a revocation, a gone account): the next login has its own.
	se, err := b.s.loadSession(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.s.endSession(context.Background(), se, "revoked"); err != nil {
		t.Fatal(err)
	}
	second := login("olga")
	if second == first {
		t.Fatal("a login after the session ended issued from it")
	}
	if again := login("olga"); again != second {
		t.Errorf("the fresh session is not reused within the period: %s then %s", second, again)
	}

	// The next period starts a new shared session.
	b.clk.add(DefaultSessionDuration)
	if next := login("olga"); next == first || next == second {
		t.Error("the next period reuses an earlier period's session")
	}
	if n := records("olga"); n != 3 {
		t.Errorf("%d session records, want 3 (first, the one after it ended, the next period's)", n)
	}
}

// TestOneShotIDs: the id is the person's and the period's, unpredictable
// without the broker's key, and as long as a random one.
func TestOneShotIDs(t *testing.T) {
	k1, _ := GenerateKeys()
	k2, _ := GenerateKeys()
	s1, err := newSealer(k1.Cookie, nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := newSealer(k2.Cookie, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := s1.oneShotID("corp", "olga", 7, 0)
	if len(id) != sessionIDLen {
		t.Errorf("id %q has %d characters, want %d", id, len(id), sessionIDLen)
	}
	for _, other := range []string{
		s1.oneShotID("corp", "alice", 7, 0), s1.oneShotID("corp", "olga", 8, 0), s1.oneShotID("cor", "polga", 7, 0),
		s1.oneShotID("corp", "olga", 7, 1), s2.oneShotID("corp", "olga", 7, 0),
	} {
		if other == id {
			t.Errorf("oneShotID collides: %q", id)
		}
	}
	if s1.oneShotID("corp", "olga", 7, 0) != id {
		t.Error("oneShotID is not stable")
	}
}
