package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/ldap"
)

// ldapChange applies an LDIF change to slapd with ldapmodify as the
// directory's administrator.
func ldapChange(t *testing.T, srv *ldaptest.Server, ldif string) {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(ldaptest.RootPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ldapmodify", "-x", "-H", srv.URL, "-D", ldaptest.RootDN, "-y", pw)
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ldapmodify: %v\n%s", err, out)
	}
}

// TestLDAPSessionRecheck: sessions of directory users are re-checked at
// slapd (the service account reads the user and the groups again, no
// password) once sessions.recheck_interval has passed: alice, taken out of
// posixdev with ldapmodify, loses Builder at the next issuance after the
// interval and keeps Developer; carol, deleted, has her session ended and
// the credentials it issued revoked.
func TestLDAPSessionRecheck(t *testing.T) {
	if _, ok := any((*ldap.Provider)(nil)).(providers.Refresher); !ok {
		t.Fatal("providers/ldap does not implement providers.Refresher")
	}
	// It waits out the shortest re-check interval (30 s): alongside the
	// other tests that wait.
	t.Parallel()
	srv := ldaptest.Start(t)
	ts := startServer(t, ldapConfig(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, ""), "sessions: {recheck_interval: 30s}\n"))
	alice, _ := newSession(t, ts.URL, "corp", ldaptest.Alice.UID, ldaptest.Alice.Password)
	carol, _ := newSession(t, ts.URL, "corp", ldaptest.Carol.UID, ldaptest.Carol.Password)
	ask := func(token, role string) (int, map[string]any) {
		t.Helper()
		status, out, _ := sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/credentials", token, "application/json", `{"role":"`+role+`"}`)
		return status, out
	}
	var carolKeys map[string]any
	for _, tc := range []struct{ token, role string }{{alice, "Builder"}, {alice, "Developer"}, {carol, "Auditor"}} {
		status, out := ask(tc.token, tc.role)
		if status != 200 {
			t.Fatalf("%s before the change: %d %v", tc.role, status, out)
		}
		if tc.token == carol {
			carolKeys = out
		}
	}
	if code := callerCode(t, ts.URL, carolKeys); code != "" {
		t.Fatalf("carol's keys before the change: %s", code)
	}
	changed := time.Now()
	ldapChange(t, srv, "dn: "+ldaptest.GroupDN(ldaptest.GroupPosixDev)+"\nchangetype: modify\ndelete: memberUid\nmemberUid: "+ldaptest.Alice.UID+"\n\n"+
		"dn: "+ldaptest.Carol.DN()+"\nchangetype: delete\n")

	// Until the interval has passed the sessions issue as they were; then
	// the next issuance is refused by name.
	deadline := changed.Add(90 * time.Second)
	for {
		status, out := ask(alice, "Builder")
		if status == http.StatusForbidden && errCode(out) == "RoleNoLongerGranted" {
			msg, _ := out["error"].(map[string]any)["message"].(string)
			if !strings.HasSuffix(msg, "Builder") {
				t.Errorf("refusal does not name the role: %v", out)
			}
			break
		}
		if status != 200 || time.Now().After(deadline) {
			t.Fatalf("alice's Builder: %d %v", status, out)
		}
		time.Sleep(time.Second)
	}
	if since := time.Since(changed); since < 25*time.Second {
		t.Errorf("re-checked %s after the change, before the 30s interval", since)
	}
	if status, out := ask(alice, "Developer"); status != 200 {
		t.Errorf("alice's Developer after the re-check: %d %v", status, out)
	}
	status, out := ask(carol, "Auditor")
	if status != 401 || errCode(out) != "InvalidSession" {
		t.Fatalf("carol deleted: %d %v", status, out)
	}
	if status, _, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", carol, "", ""); status != 401 {
		t.Errorf("carol's session after the end: %d", status)
	}
	if !strings.Contains(ts.Logs.String(), `"event":"session.ended"`) {
		t.Error("the end of carol's session is not audited")
	}
	// The credentials her session issued before are revoked with it.
	if code := callerCode(t, ts.URL, carolKeys); code != "InvalidClientTokenId" {
		t.Errorf("carol's keys after her session ended: %q, want InvalidClientTokenId", code)
	}
	if !strings.Contains(ts.Logs.String(), `"event":"session.revoked"`) {
		t.Error("the revocation of carol's session is not audited")
	}
	ts.assertNoSecrets(t, allPasswords()...)
}
