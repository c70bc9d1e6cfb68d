package main

import (
	"net/http"
	"testing"
)

// TestFileStoreKeepsRevocations: with store type file, a revocation made
// before a restart of the server process still refuses the credentials it
// covers after it (and the session it ended stays ended), while other
// credentials work at once: the revocation set is read from the file before
// the restarted server serves.
func TestFileStoreKeepsRevocations(t *testing.T) {
	t.Parallel()
	path, _ := fileStoreConfig(t)
	addr := freeAddr(t)
	base := "http://" + addr
	first := startBrokerProcess(t, "serve", "--config", path, "--listen", addr)
	waitReady(t, base)
	token, _ := newSession(t, base, "demo", "alice", "alice")
	alice := fromSession(t, base, token, "Developer")
	bobDev := oneShot(t, base, "bob", "bob", "Developer")
	bobAdmin := oneShot(t, base, "bob", "bob", "Admin")
	admin := adminAPI(t, base, bobAdmin)
	revokeVia(t, admin, map[string]string{"user": "alice"})
	revokeVia(t, admin, map[string]string{"access_key_id": bobDev.id})
	wantRevoked(t, base, "before the restart", alice, bobDev)

	first.stop(t)
	startBrokerProcess(t, "serve", "--config", path, "--listen", addr)
	waitHealthy(t, base)
	wantAlive(t, base, "the administrator's keys right after the restart", bobAdmin)
	wantRevoked(t, base, "after the restart", alice, bobDev)
	if status, _, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{}`); status != 401 {
		t.Errorf("the revoked session issues after the restart: %d", status)
	}
	var list struct{ Sessions []adminSession }
	if err := admin.call(t.Context(), "GET", "/api/v1/admin/sessions", map[string][]string{"user": {"alice"}}, nil, 200, &list, "list", "idbroker:ListSessions"); err != nil {
		t.Fatal(err)
	}
	if len(list.Sessions) == 0 || !list.Sessions[0].Ended {
		t.Errorf("alice's sessions after the restart: %+v", list.Sessions)
	}
}
