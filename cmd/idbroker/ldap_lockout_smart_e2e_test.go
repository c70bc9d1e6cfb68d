package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// clientFrom is an HTTP client whose connections leave from the loopback
// address ip (any of 127.0.0.0/8 on Linux): the broker sees each as
// another client address, as it would see people on other networks.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// apiLoginFrom is apiLogin (POST /api/v1/credentials) through client.
func apiLoginFrom(t *testing.T, client *http.Client, base string, body any) (int, map[string]any) {
	t.Helper()
	j, _ := json.Marshal(body)
	resp, err := client.Post(base+"/api/v1/credentials", "application/json", bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d, body not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// TestLDAPLockoutStrangerCannotLockOwner: with slapd behind the broker, a
// stranger who knows carol's username and fails from one address locks
// carol for that address only: carol, from her own address, still gets
// credentials (STS action and JSON API). Failures from many addresses
// together reach the higher account_threshold, which then holds carol
// everywhere, with the wrong-password answer, until the lock ends.
func TestLDAPLockoutStrangerCannotLockOwner(t *testing.T) {
	const lock = 3 * time.Second
	_, ts := ldapServer(t, "login_protection: {user_threshold: 3, account_threshold: 6, ip_threshold: 1000, lock_duration: 3s, max_lock_duration: 3s}\n")
	const canary = "CANARY-smart-lockout-41b9"
	stranger, carolHome, carolAway := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3"), clientFrom(t, "127.0.0.4")
	sts := func(c *http.Client, pass string) ldapSTSAnswer {
		return callLDAPIdentityWith(t, c, ts.URL, url.Values{"LDAPUsername": {ldaptest.Carol.UID}, "LDAPPassword": {pass}})
	}
	api := func(c *http.Client, pass string) (int, string) {
		status, out := apiLoginFrom(t, c, ts.URL, map[string]any{"provider": "corp", "username": ldaptest.Carol.UID, "password": pass})
		b, _ := json.Marshal(out["error"])
		return status, string(b)
	}

	wrong := sts(stranger, canary)
	if wrong.status != 403 || wrong.code != "AccessDenied" {
		t.Fatalf("wrong password: %d %s", wrong.status, wrong.body)
	}
	for i := range 2 {
		if a := sts(stranger, canary); a.status != 403 || a.message != wrong.message {
			t.Fatalf("stranger failure %d: %d %s", i+2, a.status, a.body)
		}
	}
	// The stranger's address is locked for carol: the right password
	// gets the wrong-password answer there.
	if a := sts(stranger, ldaptest.Carol.Password); a.status != 403 || a.message != wrong.message || a.creds.secret != "" {
		t.Fatalf("the stranger's address is not locked: %d %s", a.status, a.body)
	}
	// Carol, from her own address, is not held.
	if a := sts(carolHome, ldaptest.Carol.Password); a.status != 200 || a.creds.secret == "" {
		t.Fatalf("carol from her address after a stranger's failures: %d %s", a.status, a.body)
	}
	// The API's wrong-password answer, then carol's own success there.
	wrongStatus, wrongAPI := api(carolAway, canary)
	if wrongStatus != 401 || !strings.Contains(wrongAPI, "InvalidCredentials") {
		t.Fatalf("API wrong password: %d %s", wrongStatus, wrongAPI)
	}
	if status, e := api(carolAway, ldaptest.Carol.Password); status != 200 {
		t.Fatalf("carol by the API from another address: %d %s", status, e)
	}

	// Failures from six addresses, one each (carol's successes reset the
	// account-wide count): the account is locked everywhere.
	for i := range 6 {
		if a := sts(clientFrom(t, fmt.Sprintf("127.0.0.%d", 10+i)), canary); a.status != 403 || a.message != wrong.message {
			t.Fatalf("spray failure %d: %d %s", i, a.status, a.body)
		}
	}
	lockedAt := time.Now()
	for _, c := range []*http.Client{carolHome, carolAway, clientFrom(t, "127.0.0.31")} {
		if a := sts(c, ldaptest.Carol.Password); a.status != 403 || a.message != wrong.message || a.creds.secret != "" {
			t.Fatalf("account-wide lock, right password: %d %s", a.status, a.body)
		}
		if status, e := api(c, ldaptest.Carol.Password); status != wrongStatus || e != wrongAPI {
			t.Fatalf("account-wide lock, API: %d %s (wrong password: %s)", status, e, wrongAPI)
		}
	}
	if time.Since(lockedAt) >= lock {
		t.Fatalf("the checks took longer than the lock (%v); the test proves nothing", lock)
	}
	// Other accounts are not held.
	if a := callLDAPIdentityWith(t, carolHome, ts.URL, url.Values{"LDAPUsername": {ldaptest.Bob.UID}, "LDAPPassword": {ldaptest.Bob.Password}}); a.status != 200 {
		t.Fatalf("bob: %d %s", a.status, a.body)
	}
	// The lock ends (asking while locked counts nothing).
	for deadline := lockedAt.Add(lock + 10*time.Second); ; {
		a := sts(carolHome, ldaptest.Carol.Password)
		if a.status == 200 && a.creds.secret != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the lock: %d %s", a.status, a.body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	logs := ts.Logs.String()
	for _, want := range []string{`"bucket":"user-ip"`, `"bucket":"user"`, `"client":"127.0.0.2"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no login.locked audit event with %s", want)
		}
	}
	ts.assertNoSecrets(t, append(allPasswords(), canary)...)
}

// TestLDAPLockoutTOTPPassesAccountWideLock: carol has enrolled a TOTP
// device; failures from many addresses lock her account everywhere. Her
// password alone is then refused, but her password with a right code gets
// her in (JSON API); with a wrong code the answer is exactly the
// wrong-password one, so a stranger learns nothing from attaching codes;
// and her success does not lift the lock for passwords alone.
func TestLDAPLockoutTOTPPassesAccountWideLock(t *testing.T) {
	_, ts := ldapServer(t, "login_protection: {user_threshold: 3, account_threshold: 6, ip_threshold: 1000, lock_duration: 1m}\n")
	const canary = "CANARY-totp-lockout-9d3e"
	home, away := clientFrom(t, "127.0.0.3"), clientFrom(t, "127.0.0.4")
	login := func(c *http.Client, pass, code string) (int, string) {
		body := map[string]any{"provider": "corp", "username": ldaptest.Carol.UID, "password": pass}
		if code != "" {
			body["totp_code"] = code
		}
		status, out := apiLoginFrom(t, c, ts.URL, body)
		b, _ := json.Marshal(out["error"])
		return status, string(b)
	}
	// The wrong-password answer, from an address of its own.
	wrongStatus, wrongAPI := login(clientFrom(t, "127.0.0.20"), canary, "")
	if wrongStatus != 401 || !strings.Contains(wrongAPI, "InvalidCredentials") {
		t.Fatalf("wrong password: %d %s", wrongStatus, wrongAPI)
	}
	// Carol enrols (a bearer session from her sign-in).
	status, out := mfaPost(t, ts.URL+"/api/v1/sessions", "", map[string]any{"provider": "corp", "username": ldaptest.Carol.UID, "password": ldaptest.Carol.Password})
	bearer, _ := out["session_token"].(string)
	if status != 201 || bearer == "" {
		t.Fatalf("sign-in: %d %v", status, out)
	}
	status, out = mfaPost(t, ts.URL+"/api/v1/mfa/totp", bearer, map[string]any{})
	secret, _ := out["secret"].(string)
	if status != 200 || secret == "" {
		t.Fatalf("enrol: %d %v", status, out)
	}
	_, cur, next := totpSteps(t, secret)
	if status, out = mfaPost(t, ts.URL+"/api/v1/mfa/totp/confirm", bearer, map[string]any{"code": cur}); status != 200 {
		t.Fatalf("confirm: %d %v", status, out)
	}

	// Six failures from six addresses: locked everywhere.
	for i := range 6 {
		if status, e := login(clientFrom(t, fmt.Sprintf("127.0.0.%d", 10+i)), canary, ""); status != wrongStatus || e != wrongAPI {
			t.Fatalf("spray failure %d: %d %s", i, status, e)
		}
	}
	if status, e := login(home, ldaptest.Carol.Password, ""); status != wrongStatus || e != wrongAPI {
		t.Fatalf("password alone during the account-wide lock: %d %s", status, e)
	}
	// A wrong code with the right password: the wrong-password answer.
	wrongCode := "000000"
	if wrongCode == next || wrongCode == cur {
		wrongCode = "999999"
	}
	if status, e := login(away, ldaptest.Carol.Password, wrongCode); status != wrongStatus || e != wrongAPI {
		t.Fatalf("right password, wrong code past the lock: %d %s (wrong password: %d %s)", status, e, wrongStatus, wrongAPI)
	}
	// The right password and the right code: credentials.
	status, out = apiLoginFrom(t, away, ts.URL, map[string]any{"provider": "corp", "username": ldaptest.Carol.UID, "password": ldaptest.Carol.Password, "totp_code": next})
	if status != 200 || out["SecretAccessKey"] == nil {
		t.Fatalf("password and TOTP right during the account-wide lock: %d %v", status, out)
	}
	// The lock stays for passwords alone.
	if status, e := login(home, ldaptest.Carol.Password, ""); status != wrongStatus || e != wrongAPI {
		t.Fatalf("password alone after carol's TOTP sign-in: %d %s", status, e)
	}
	logs := ts.Logs.String()
	if !strings.Contains(logs, `"event":"mfa.verified"`) || !strings.Contains(logs, `"bucket":"user"`) {
		t.Error("no mfa.verified event or account-wide lock in the audit log")
	}
	ts.assertNoSecrets(t, append(allPasswords(), canary, secret, bearer)...)
}
