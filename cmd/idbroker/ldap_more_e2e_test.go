package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// ldapMovedDN is a referral entry added to a private slapd: searches based
// at or under it are answered with a referral (never followed).
const ldapMovedDN = "ou=moved," + ldaptest.BaseDN

// addReferralEntry adds ldapMovedDN (objectClass referral) as the rootDN.
func addReferralEntry(t *testing.T, srv *ldaptest.Server) {
	t.Helper()
	l, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Bind(ldaptest.RootDN, ldaptest.RootPassword); err != nil {
		t.Fatal(err)
	}
	add := ldap.NewAddRequest(ldapMovedDN, nil)
	add.Attribute("objectClass", []string{"referral", "extensibleObject"})
	add.Attribute("ou", []string{"moved"})
	add.Attribute("ref", []string{"ldap://127.0.0.1:1/" + ldapMovedDN})
	if err := l.Add(add); err != nil {
		t.Fatal(err)
	}
}

// TestLDAPMisconfigurationIsNotAWrongPassword: a user search matching two
// entries (the seeded "twin", with the user base at the directory root) and
// a user base that answers with a referral are the operator's problem: the
// STS action answers 500 InternalFailure, the JSON API 500
// ProviderMisconfigured, the browser a plain error page; the broker logs an
// ERROR with the reason; nothing is issued and no password is logged.
func TestLDAPMisconfigurationIsNotAWrongPassword(t *testing.T) {
	// Each case has its own slapd: the referral entry would also answer a
	// search at the directory root with a reference.
	userBase := func(base string, referral bool) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := ldaptest.Start(t)
			if referral {
				addReferralEntry(t, srv)
			}
			good := ldapProviderBlock(srv.LDAPSURL, srv.CAFile, "")
			block := strings.Replace(good, `base_dn: "`+ldaptest.PeopleDN+`"`, `base_dn: "`+base+`"`, 1)
			if block == good {
				t.Fatal("the provider block was not changed")
			}
			return block
		}
	}
	tests := []struct {
		name       string
		block      func(t *testing.T) string
		user, pass string
		reason     string
	}{
		{"two entries for one user", userBase(ldaptest.BaseDN, false), ldaptest.Twin.UID, ldaptest.Twin.Password, "matched 2 entries"},
		{"referral", userBase(ldapMovedDN, true), ldaptest.Bob.UID, ldaptest.Bob.Password, "referral"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, ldapConfig(tc.block(t), "login_protection: {user_threshold: 2}\n"))
			before := ldapIssued(t, ts)

			// Repeated: a misconfiguration must not lock the account either.
			for range 3 {
				a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {tc.user}, "LDAPPassword": {tc.pass}})
				if a.status != 500 || a.code != "InternalFailure" || !strings.Contains(a.message, "misconfigured") || a.creds.secret != "" {
					t.Fatalf("STS: %d %s", a.status, a.body)
				}
			}
			status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": tc.user, "password": tc.pass})
			if e, _ := out["error"].(map[string]any); status != 500 || e["code"] != "ProviderMisconfigured" || e["request_id"] == "" {
				t.Fatalf("API: %d %v", status, out)
			}
			b := newBrowser(t, ts.URL)
			_, form := b.get("/login/corp")
			status, page, _ := b.post("/login/corp", url.Values{"csrf_token": {b.csrf(form)}, "username": {tc.user}, "password": {tc.pass}}, nil)
			if status != 500 || !strings.Contains(page, "misconfigured") || strings.Contains(page, "Invalid username or password") || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
				t.Fatalf("browser: %d\n%s", status, page)
			}

			if n := ldapIssued(t, ts); n != before {
				t.Errorf("%d credentials issued", n-before)
			}
			errorLines := 0
			for _, l := range strings.Split(ts.Logs.String(), "\n") {
				var e map[string]any
				if json.Unmarshal([]byte(l), &e) != nil || e["level"] != "ERROR" {
					continue
				}
				if strings.Contains(l, "misconfigured") && strings.Contains(l, tc.reason) {
					errorLines++
				}
			}
			if errorLines != 5 {
				t.Errorf("%d ERROR lines naming %q, want 5 (one per request):\n%s", errorLines, tc.reason, ts.Logs)
			}
			if strings.Contains(ts.Logs.String(), `"event":"login.locked"`) {
				t.Error("a misconfiguration locked the account")
			}
			ts.assertNoSecrets(t, allPasswords()...)
		})
	}
}

// TestLDAPBrowserRoleChoiceManyGroups: dave is in 1,500 groups and two of
// them grant a role each. The browser sign-in must offer the choice (the
// groups stay in the session's store record, the cookie holds a token),
// and the chosen role's keys must be issued.
func TestLDAPBrowserRoleChoiceManyGroups(t *testing.T) {
	srv := ldaptest.Start(t)
	block := strings.Replace(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, ""), "login_timeout: 3s", "login_timeout: 20s", 1)
	ts := startServer(t, []byte(`
account_id: "123456789012"
providers:`+block+`
rules:
  - {name: many-first, when: {provider: corp, groups_any: [many-0000]}, roles: [Developer], continue: true, session_tags: {team: first}}
  - {name: many-last, when: {provider: corp, groups_any: [many-1499]}, roles: [Builder]}
on_ambiguous: choose
roles:
  - name: Developer
  - name: Builder
`))
	b := newBrowser(t, ts.URL)
	_, form := b.get("/login/corp")
	status, page, resp := b.post("/login/corp", url.Values{"csrf_token": {b.csrf(form)}, "username": {ldaptest.Dave.UID}, "password": {ldaptest.Dave.Password}}, nil)
	if status != 200 || resp.Request.URL.Path != "/portal" || !strings.Contains(page, ldapDeveloperARN) || !strings.Contains(page, ldapBuilderARN) {
		t.Fatalf("login %d at %s:\n%s", status, resp.Request.URL.Path, page)
	}
	// The 1500 groups stay in the store: the browser holds a token only.
	rolesURL, _ := url.Parse(ts.URL + "/portal")
	for _, c := range b.c.Jar.Cookies(rolesURL) {
		if len(c.Name)+1+len(c.Value) > 200 {
			t.Errorf("cookie %s is %d bytes", c.Name, len(c.Value))
		}
	}
	chooser := page
	status, page, _ = b.choose(chooser, ldapBuilderARN)
	if status != 200 || !strings.Contains(page, "assumed-role/Builder/dave") || !strings.Contains(page, "export AWS_ACCESS_KEY_ID=ASIA") {
		t.Fatalf("credentials %d:\n%s", status, page)
	}
	// The choice is used up; the session still offers new credentials.
	if status, page, _ := b.choose(chooser, ldapBuilderARN); status != 409 || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("choice used twice: %d", status)
	}
	if status, page := b.get("/portal"); status != 200 || !strings.Contains(page, ldapBuilderARN) {
		t.Errorf("portal after use: %d", status)
	}
	ts.assertNoSecrets(t, allPasswords()...)
}

// TestLDAPConfigCheckOnlineFilters: `config check --online` runs the group
// search and the nested filter as a login renders them, and a filter naming
// an attribute the schema lacks (which the server would silently match
// against nothing) fails with the key to fix.
func TestLDAPConfigCheckOnlineFilters(t *testing.T) {
	srv := ldaptest.Start(t)
	good := ldapProviderBlock(srv.LDAPSURL, srv.CAFile, "")
	groupSearch := `group_search: {base_dn: "` + ldaptest.GroupsDN + `", nested: true}`
	if !strings.Contains(good, groupSearch) {
		t.Fatalf("provider block changed: %s", good)
	}
	tests := []struct {
		name, from, to string
		want           []string // in the output; "" = exit code 0
		code           int
	}{
		{"good", "", "", []string{"ok   group search filter", "ok   nested group filter"}, 0},
		{"group filter typo", groupSearch, `group_search: {base_dn: "` + ldaptest.GroupsDN + `", nested: true, filter: "(|(memberr={dn})(uniqueMember={dn}))"}`,
			[]string{"FAIL group search filter", "memberr", "try: "}, 1},
		{"nested filter typo", groupSearch, `group_search: {base_dn: "` + ldaptest.GroupsDN + `", nested: true, nested_filter: "(mmber={dn})"}`,
			[]string{"FAIL nested group filter", "mmber"}, 1},
		{"user filter typo", "(uid={username})", "(uidd={username})", []string{"FAIL user search filter", "uidd"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			block := strings.Replace(good, tc.from, tc.to, 1)
			p := filepath.Join(t.TempDir(), "idbroker.yaml")
			if err := os.WriteFile(p, ldapConfig(block, ""), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := runConfigCheck(context.Background(), []string{"--config", p, "--online"}, &out, &errb)
			text := out.String() + errb.String()
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if tc.code == 0 && strings.Contains(text, "FAIL") {
				t.Error("a good configuration fails")
			}
			if t.Failed() {
				t.Logf("output:\n%s", text)
			}
		})
	}
}
