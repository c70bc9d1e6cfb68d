package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// TestDemoPlusOneLDAPBlock is the README's "one block in the demo": the
// embedded demo configuration with one provider block of type ldap added
// (pointing at a seeded slapd) signs directory users in through the browser
// and the JSON API with the demo's own rules, and the demo users still work.
func TestDemoPlusOneLDAPBlock(t *testing.T) {
	srv := ldaptest.Start(t)
	block := fmt.Sprintf(`  - name: corp
    type: ldap
    display_name: Corporate directory
    url: %s
    ca_file: %s
    bind_dn: "%s"
    bind_password: "%s"
    user_search: {base_dn: "%s", filter: "(&(objectClass=inetOrgPerson)(uid={username}))"}
    group_search: {base_dn: "%s", nested: true}
`, srv.LDAPSURL, srv.CAFile, ldaptest.BindDN, ldaptest.BindPassword, ldaptest.PeopleDN, ldaptest.GroupsDN)
	demo := string(configs.Demo)
	if !strings.Contains(demo, "\nproviders:\n") {
		t.Fatal("configs/demo.yaml has no providers: section at the top level")
	}
	cfg := strings.Replace(demo, "\nproviders:\n", "\nproviders:\n"+block, 1)
	ts := startServer(t, []byte(cfg))

	t.Run("the directory is on the sign-in page next to the demo", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		status, page := b.get("/")
		if status != 200 || !strings.Contains(page, `href="/login/corp"`) || !strings.Contains(page, "Corporate directory") || !strings.Contains(page, `href="/login/demo"`) {
			t.Fatalf("sign-in page %d:\n%s", status, page)
		}
	})
	t.Run("a directory developer signs in with the browser and gets Developer", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		_, page, _ := b.signIn("corp", ldaptest.Alice.UID, ldaptest.Alice.Password)
		status, page, _ := b.choose(page, "arn:aws:iam::123456789012:role/Developer")
		if status != 200 || !strings.Contains(page, "arn:aws:sts::123456789012:assumed-role/Developer/alice") || !strings.Contains(page, "export AWS_ACCESS_KEY_ID=ASIA") {
			t.Fatalf("login %d:\n%s", status, page)
		}
	})
	t.Run("a directory admin gets Admin through the API, and the keys work", func(t *testing.T) {
		status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": ldaptest.Admin.UID, "password": ldaptest.Admin.Password})
		if status != 200 || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Admin/admin" {
			t.Fatalf("admin: %d %v", status, out)
		}
		id, secret, token := out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)
		if got := ldapCallerARN(t, ts.URL, id, secret, token); got != "arn:aws:sts::123456789012:assumed-role/Admin/admin" {
			t.Errorf("caller %s", got)
		}
	})
	t.Run("a directory user in no mapped group gets nothing", func(t *testing.T) {
		status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": ldaptest.Carol.UID, "password": ldaptest.Carol.Password})
		if status != 403 || out["AccessKeyId"] != nil {
			t.Fatalf("carol: %d %v", status, out)
		}
	})
	t.Run("the demo users still sign in", func(t *testing.T) {
		status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "bob", "password": "bob", "role": "Admin"})
		if status != 200 || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Admin/bob" {
			t.Fatalf("bob: %d %v", status, out)
		}
	})
	ts.assertNoSecrets(t, allPasswords()...)
}
