package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestReplicasRedisOutage: two replicas on one Redis. When Redis stops (or
// hangs), every login that needs it fails closed with a clear answer on
// each surface — no replay check, lock-out check or session read is
// skipped — and /readyz takes the replicas out; when Redis is back on the
// same address (empty, as after a crash without persistence), logins
// succeed again without a restart of the brokers.
func TestReplicasRedisOutage(t *testing.T) {
	rs := startReplicas(t, 2)
	b := rs.bases
	token, _ := newSession(t, b[0], "demo", "alice", "alice")
	before := oneShot(t, b[1], "alice", "alice", "Developer")
	// A device login (idbroker login --device) waiting for its approval.
	resp, err := http.PostForm(b[0]+"/oauth2/device_authorization", url.Values{"client_id": {"idbroker-cli"}, "device_name": {"ops-box"}})
	if err != nil {
		t.Fatal(err)
	}
	var da map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&da); err != nil || resp.StatusCode != 200 {
		t.Fatalf("device authorization: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	deviceCode, _ := da["device_code"].(string)

	refusedEverywhere := func(t *testing.T, how string) {
		t.Helper()
		for i, base := range b {
			at := fmt.Sprintf("%s, replica %d", how, i)
			// The JSON API: a one-shot login, a wrong password (the lock-out
			// check cannot be made: refused, not judged), a new session,
			// the keys of an existing session.
			for _, login := range []map[string]any{
				{"provider": "demo", "username": "alice", "password": "alice"},
				{"provider": "demo", "username": "alice", "password": "wrong"},
			} {
				status, out := apiLogin(t, base, login)
				if status != 503 || errCode(out) != "ServiceUnavailable" || !strings.Contains(fmt.Sprint(out), "state store cannot be reached") {
					t.Errorf("%s: POST /api/v1/credentials (%s): %d %v", at, login["password"], status, out)
				}
			}
			status, out, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/sessions", "", "application/json", `{"provider":"demo","username":"bob","password":"bob"}`)
			if status != 503 || errCode(out) != "ServiceUnavailable" {
				t.Errorf("%s: POST /api/v1/sessions: %d %v", at, status, out)
			}
			status, out, _ = sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{}`)
			if status != 503 || errCode(out) != "ServiceUnavailable" {
				t.Errorf("%s: keys of a session: %d %v", at, status, out)
			}
			// The OAuth token endpoint: the device login's poll.
			if status, out := pollDevice(t, base, deviceCode); status != 503 || out["error"] != "temporarily_unavailable" {
				t.Errorf("%s: device code poll: %d %v", at, status, out)
			}
			// The browser's sign-in form.
			br := newBrowser(t, base)
			status, page, _ := br.signIn("demo", "alice", "alice")
			if status != 503 || !strings.Contains(page, "Sign-in is unavailable right now") {
				t.Errorf("%s: browser sign-in: %d\n%s", at, status, page)
			}
			// The STS: a fresh SAML assertion cannot be claimed, so it is
			// not redeemed.
			if code := redeem(t, base, rs.assertion(t, "erin@corp.example")); code != "ServiceUnavailable" {
				t.Errorf("%s: AssumeRoleWithSAML: %q, want ServiceUnavailable", at, code)
			}
			// Keys issued before still verify (against the revocation set
			// each replica holds in memory).
			wantAlive(t, base, at+": keys issued before", before)
		}
	}
	notReady := func(t *testing.T, how string) {
		t.Helper()
		for i, base := range b {
			pollUntil(t, 20*time.Second, fmt.Sprintf("%s: replica %d's /readyz", how, i), func() string {
				status, body := getBody(t, base+"/readyz")
				if status == 503 && strings.HasPrefix(body, "not ready: store") {
					return ""
				}
				return fmt.Sprintf("%d %s", status, body)
			})
		}
	}
	recovered := func(t *testing.T, how string) {
		t.Helper()
		for i, base := range b {
			pollUntil(t, 30*time.Second, fmt.Sprintf("%s: a login at replica %d", how, i), func() string {
				if status, out := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"}); status != 200 {
					return fmt.Sprintf("%d %v", status, out)
				}
				return ""
			})
			rs.waitReady(t, i, base)
		}
		// What the store now holds is shared again: a session made on one
		// replica works on the other.
		tok, sid := newSession(t, b[1], "demo", "bob", "bob")
		if status, cur, _ := sessionAPI(t, http.MethodGet, b[0]+"/api/v1/sessions/current", tok, "", ""); status != 200 || cur["session_id"] != sid {
			t.Errorf("%s: a new session across replicas: %d %v", how, status, cur)
		}
	}

	rs.redis.Stop()
	notReady(t, "redis stopped")
	refusedEverywhere(t, "redis stopped")
	rs.redis.Restart(t)
	recovered(t, "redis restarted")

	rs.redis.Pause(t)
	refusedEverywhere(t, "redis hung")
	notReady(t, "redis hung")
	rs.redis.Resume(t)
	recovered(t, "redis resumed")

	for i, p := range rs.procs {
		if strings.Contains(p.log.String(), before.secret) || strings.Contains(p.log.String(), strings.SplitN(token, ".", 2)[1]) {
			t.Errorf("a secret appears in replica %d's log", i)
		}
	}
}

// getBody GETs u: the status and the body.
func getBody(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}
