package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestThreeReplicas: three `idbroker serve` processes (the built binary)
// on one Redis and one key directory, seen only through their public
// interfaces. A session made on one works on the others; a SAML assertion
// redeemed on one is refused on the others; the lock-out counts refused
// passwords on every replica together; an administrator's revocation on one
// and a key rotation and retirement in the shared directory reach every
// replica; and the rotation, run while clients mint on one replica and
// verify on another, fails no request.
func TestThreeReplicas(t *testing.T) {
	rs := startReplicas(t, 3)
	b := rs.bases

	t.Run("a session made on one replica works on the others", func(t *testing.T) {
		token, sid := newSession(t, b[0], "demo", "alice", "alice")
		for i := 1; i < 3; i++ {
			if status, cur, _ := sessionAPI(t, http.MethodGet, b[i]+"/api/v1/sessions/current", token, "", ""); status != 200 || cur["session_id"] != sid {
				t.Errorf("the session at replica %d: %d %v", i, status, cur)
			}
		}
		keys := fromSession(t, b[2], token, "Developer")
		for i := range b {
			wantAlive(t, b[i], fmt.Sprintf("keys from replica 2 at replica %d", i), keys)
		}
		// Signed out at replica 1: ended everywhere.
		if status, _, _ := sessionAPI(t, http.MethodDelete, b[1]+"/api/v1/sessions/current", token, "", ""); status != 204 {
			t.Fatalf("sign-out at replica 1: %d", status)
		}
		for i := range b {
			if status, _, _ := sessionAPI(t, http.MethodPost, b[i]+"/api/v1/credentials", token, "application/json", `{}`); status != 401 {
				t.Errorf("the ended session issues at replica %d: %d", i, status)
			}
		}
	})

	t.Run("a SAML assertion redeemed on one replica is refused on the others", func(t *testing.T) {
		a := rs.assertion(t, "dana@corp.example")
		if code := redeem(t, b[1], a); code != "" {
			t.Fatalf("AssumeRoleWithSAML at replica 1: %s\n%s", code, rs.logs())
		}
		for _, i := range []int{0, 2, 1} {
			if code := redeem(t, b[i], a); code != "InvalidIdentityToken" {
				t.Errorf("the assertion again at replica %d: %q, want InvalidIdentityToken", i, code)
			}
		}
		// Another assertion of the same person is not a replay.
		if code := redeem(t, b[2], rs.assertion(t, "dana@corp.example")); code != "" {
			t.Errorf("a new assertion at replica 2: %s", code)
		}
	})

	t.Run("refused passwords on every replica count together", func(t *testing.T) {
		// One refused password per replica: 3, the threshold.
		for i := range b {
			if status, out := apiLogin(t, b[i], map[string]any{"provider": "demo", "username": "carol", "password": "wrong"}); status != 401 {
				t.Fatalf("a wrong password at replica %d: %d %v", i, status, out)
			}
		}
		// Now carol's right password is refused on every replica, as a
		// wrong one is; each replica alone saw one failure only.
		for i := range b {
			if status, out := apiLogin(t, b[i], map[string]any{"provider": "demo", "username": "carol", "password": "alice"}); status != 401 {
				t.Errorf("carol's right password at replica %d while locked: %d %v", i, status, out)
			}
		}
		// alice, who shares the address and the password, is not locked.
		if status, out := apiLogin(t, b[2], map[string]any{"provider": "demo", "username": "alice", "password": "alice"}); status != 200 {
			t.Errorf("alice at replica 2: %d %v", status, out)
		}
	})

	t.Run("a revocation on one replica reaches every replica", func(t *testing.T) {
		token, _ := newSession(t, b[2], "demo", "alice", "alice")
		keys := []minted{fromSession(t, b[0], token, "Developer"), oneShot(t, b[1], "alice", "alice", "Developer")}
		admin := oneShot(t, b[0], "bob", "bob", "Admin")
		code, out, errOut := adminCmd(t, rs.bin, admin, "revoke", "--url", b[0], "--user", "alice", "--provider", "demo")
		if code != 0 || !strings.Contains(out, "Revoked user alice at provider demo") {
			t.Fatalf("idbroker revoke: %d\n%s%s", code, out, errOut)
		}
		for i := range b {
			for j, k := range keys {
				pollUntil(t, 5*time.Second, fmt.Sprintf("alice's keys %d at replica %d", j, i), func() string {
					if c := whoCode(t, b[i], k); c != "InvalidClientTokenId" {
						return "answered " + c
					}
					return ""
				})
			}
			if status, _, _ := sessionAPI(t, http.MethodPost, b[i]+"/api/v1/credentials", token, "application/json", `{}`); status != 401 {
				t.Errorf("the revoked session issues at replica %d: %d", i, status)
			}
		}
		wantAlive(t, b[1], "bob's keys after alice's revocation", admin)
	})

	t.Run("a key rotation under load fails nothing; a retirement reaches every replica", func(t *testing.T) {
		rotationUnderLoad(t, rs)
	})
}

// rotationUnderLoad: clients mint credentials on one replica and verify
// them with GetCallerIdentity on the next while `idbroker keys rotate`
// adds a key to the shared directory; no mint and no verification fails,
// and credentials sealed by the new key are verified on every replica.
// Then `idbroker keys retire` ends the first key: every replica refuses
// what it sealed, and nothing else.
func rotationUnderLoad(t *testing.T, rs *replicaSet) {
	b := rs.bases
	code, out, errOut := idbrokerCmd(t, rs.bin, "keys", "list", "--dir", rs.keys)
	m := regexp.MustCompile(`(?m)^(\S+)\s+\S+Z\s+yes\s+-$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keys list: %d\n%s%s", code, out, errOut)
	}
	first := m[1]
	var (
		calls, failures atomic.Int64
		mu              sync.Mutex
		sealedBy        = map[string]map[int]bool{} // key id -> replicas that verified what it sealed
		byKey           = map[string]minted{}       // one credential per key
		firstFailure    string
	)
	fail := func(what string) {
		if failures.Add(1) == 1 {
			mu.Lock()
			firstFailure = what
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				mintAt, verifyAt := (w+n)%3, (w+n+1)%3
				status, creds := apiLogin(t, b[mintAt], map[string]any{"provider": "demo", "username": "bob", "password": "bob", "role": "Developer"})
				calls.Add(1)
				if status != 200 {
					fail(fmt.Sprintf("mint at replica %d: %d %v", mintAt, status, creds))
					continue
				}
				c := minted{creds["AccessKeyId"].(string), creds["SecretAccessKey"].(string), creds["SessionToken"].(string)}
				if code := whoCode(t, b[verifyAt], c); code != "" {
					fail(fmt.Sprintf("verify at replica %d of keys minted at %d: %s", verifyAt, mintAt, code))
					continue
				}
				k := sealingKeyOf(t, c.token)
				mu.Lock()
				if sealedBy[k] == nil {
					sealedBy[k] = map[int]bool{}
				}
				sealedBy[k][verifyAt] = true
				byKey[k] = c
				mu.Unlock()
			}
		})
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	// Let the load run on the first key, then rotate: the new key seals
	// 6 s from now, by when every replica (polling every 2 s) holds it.
	pollUntil(t, 30*time.Second, "load on the first key", func() string {
		if calls.Load() < 12 {
			return fmt.Sprintf("%d calls", calls.Load())
		}
		return ""
	})
	code, out, errOut = idbrokerCmd(t, rs.bin, "keys", "rotate", "--dir", rs.keys, "--activate-after", "6s")
	m = regexp.MustCompile(`^new key (\S+) seals from \S+Z\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errOut)
	}
	second := m[1]
	// Until what the new key sealed has been verified on every replica,
	// and some more.
	pollUntil(t, 60*time.Second, "credentials sealed by the new key verified on every replica", func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(sealedBy[second]) < 3 {
			return fmt.Sprintf("verified on %d replicas (%d calls, %d failures)", len(sealedBy[second]), calls.Load(), failures.Load())
		}
		return ""
	})
	after := calls.Load()
	pollUntil(t, 30*time.Second, "more load on the new key", func() string {
		if calls.Load() < after+12 {
			return fmt.Sprintf("%d calls", calls.Load()-after)
		}
		return ""
	})
	stopLoad()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed during the rotation; the first: %s\n%s", n, calls.Load(), firstFailure, rs.logs())
	}
	if len(sealedBy[first]) == 0 {
		t.Fatalf("no credentials sealed by the first key %s were verified", first)
	}
	t.Logf("%d mints and verifications across the rotation, none failed", calls.Load())

	// Retire the first key: what it sealed stops on every replica; what the
	// second sealed does not.
	code, out, errOut = idbrokerCmd(t, rs.bin, "keys", "retire", "--dir", rs.keys, "--id", first)
	if code != 0 || !strings.Contains(out, "key "+first+" retired") {
		t.Fatalf("keys retire: exit %d\n%s%s", code, out, errOut)
	}
	for i := range b {
		pollUntil(t, 10*time.Second, fmt.Sprintf("the retired key's credentials at replica %d", i), func() string {
			if c := whoCode(t, b[i], byKey[first]); c != "InvalidClientTokenId" {
				return "answered " + c
			}
			return ""
		})
		wantAlive(t, b[i], "credentials of the new key after the retirement", byKey[second])
	}
}

// Rate limits shared by replicas on one Redis: TestLimitsSharedAcrossReplicas
// (limits_e2e_test.go).
