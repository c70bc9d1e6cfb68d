package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// TestLDAPLockoutPerAccount: with a user filter that accepts uid or mail,
// failures under both names count against one account. Alternating names
// (two failures each, under a threshold of four) lock the account for both
// names; the right password is then refused with the wrong-password answer,
// on the STS action and the JSON API alike, until the lock expires.
func TestLDAPLockoutPerAccount(t *testing.T) {
	srv := ldaptest.Start(t)
	block := ldapProviderBlock(srv.LDAPSURL, srv.CAFile, "")
	uidOrMail := strings.Replace(block, "(&(objectClass=inetOrgPerson)(uid={username}))", "(&(objectClass=inetOrgPerson)(|(uid={username})(mail={username})))", 1)
	if uidOrMail == block {
		t.Fatal("the provider block was not changed")
	}
	const lock = 2 * time.Second
	ts := startServer(t, ldapConfig(uidOrMail, "login_protection: {user_threshold: 4, ip_threshold: 1000, lock_duration: 2s, max_lock_duration: 2s}\n"))
	const canary = "CANARY-ldap-account-lockout-7c2a"
	names := []string{ldaptest.Carol.UID, ldaptest.Carol.Mail}
	sts := func(user, pass string) ldapSTSAnswer {
		return callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {user}, "LDAPPassword": {pass}})
	}
	api := func(user, pass string) (int, string) {
		status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": user, "password": pass})
		b, _ := json.Marshal(out["error"])
		return status, string(b)
	}

	// Both names work, and are one account.
	for _, n := range names {
		if a := sts(n, ldaptest.Carol.Password); a.status != 200 || a.creds.secret == "" {
			t.Fatalf("%s before: %d %s", n, a.status, a.body)
		}
	}
	// The answers a locked account must be indistinguishable from.
	wrong := sts(ldaptest.Carol.UID, canary)
	unknown := sts("nobody@example.org", canary)
	if wrong.status != 403 || wrong.code != "AccessDenied" || unknown.status != wrong.status || unknown.code != wrong.code || unknown.message != wrong.message {
		t.Fatalf("wrong password %d %s / unknown user %d %s", wrong.status, wrong.body, unknown.status, unknown.body)
	}
	wrongAPIStatus, wrongAPI := api("nobody@example.org", canary)
	if wrongAPIStatus != 401 || !strings.Contains(wrongAPI, "InvalidCredentials") {
		t.Fatalf("API wrong password: %d %s", wrongAPIStatus, wrongAPI)
	}

	// Three more failures, alternating names: four on the account, no
	// more than two on either name.
	for i, n := range []string{ldaptest.Carol.Mail, ldaptest.Carol.UID, ldaptest.Carol.Mail} {
		if a := sts(n, canary); a.status != 403 || a.message != wrong.message {
			t.Fatalf("failure %d (%s): %d %s", i+2, n, a.status, a.body)
		}
	}
	lockedAt := time.Now()
	for _, n := range append(names, strings.ToUpper(ldaptest.Carol.Mail)) {
		a := sts(n, ldaptest.Carol.Password)
		if a.status != wrong.status || a.code != wrong.code || a.message != wrong.message || a.creds.secret != "" {
			t.Fatalf("locked account, right password as %q: %d %s %s (keys issued: %v)", n, a.status, a.code, a.message, a.creds.secret != "")
		}
		if status, e := api(n, ldaptest.Carol.Password); status != wrongAPIStatus || e != wrongAPI {
			t.Fatalf("locked account, API as %q: %d %s (wrong password: %d %s)", n, status, e, wrongAPIStatus, wrongAPI)
		}
	}
	if time.Since(lockedAt) >= lock {
		t.Fatalf("the checks took longer than the lock (%v); the test proves nothing", lock)
	}
	// Another account is not locked.
	if a := sts(ldaptest.Bob.Mail, ldaptest.Bob.Password); a.status != 200 {
		t.Fatalf("bob: %d %s", a.status, a.body)
	}
	// The lock expires: the right password works under either name.
	time.Sleep(time.Until(lockedAt.Add(lock + 200*time.Millisecond)))
	if a := sts(ldaptest.Carol.Mail, ldaptest.Carol.Password); a.status != 200 || a.creds.secret == "" {
		t.Fatalf("after the lock: %d %s", a.status, a.body)
	}

	logs := ts.Logs.String()
	if !strings.Contains(logs, `"event":"login.locked"`) || !strings.Contains(logs, `"bucket":"account-ip"`) {
		t.Error("no login.locked audit event for the account from this address")
	}
	ts.assertNoSecrets(t, append(allPasswords(), canary)...)
}
