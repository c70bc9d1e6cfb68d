package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/idbroker/idbroker/internal/store/redistest"
	"github.com/idbroker/idbroker/ldapauth"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
	"github.com/idbroker/idbroker/mapping"
)

// Role ARNs of the LDAP test configuration.
const (
	ldapDeveloperARN = "arn:aws:iam::123456789012:role/Developer"
	ldapBuilderARN   = "arn:aws:iam::123456789012:role/Builder"
)

// ldapProviderBlock is the corp provider against a seeded slapd over
// ldaps:// (or any url with extra keys, for the fault tests).
func ldapProviderBlock(u, caFile, extra string) string {
	ca := ""
	if caFile != "" {
		ca = "\n    ca_file: " + caFile
	}
	return fmt.Sprintf(`
  - name: corp
    type: ldap
    display_name: Corp directory
    url: %s%s
    bind_dn: "%s"
    bind_password: "%s"
    user_search: {base_dn: "%s", filter: "(&(objectClass=inetOrgPerson)(uid={username}))"}
    group_search: {base_dn: "%s", nested: true}
    dial_timeout: 1s
    request_timeout: 2s
    login_timeout: 3s%s
`, u, ca, ldaptest.BindDN, ldaptest.BindPassword, ldaptest.PeopleDN, ldaptest.GroupsDN, extra)
}

// ldapConfig: the demo static provider (alice/alice) next to the corp
// directory. alice (developers, posixdev) gets Developer and Builder (a
// choice); bob (team-a ⊂ dept-x ⊂ org-all, nested) gets Developer; carol
// (auditors) gets Auditor.
func ldapConfig(providerBlock, extra string) []byte {
	return []byte(`
account_id: "123456789012"
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
` + providerBlock + `
rules:
  - {name: demo-devs, when: {provider: demo, groups_any: [developers]}, roles: [Developer]}
  - {name: corp-devs, when: {provider: corp, groups_any: [developers]}, roles: [Developer], continue: true}
  - {name: corp-builders, when: {provider: corp, groups_any: [posixdev]}, roles: [Builder]}
  - {name: corp-org, when: {provider: corp, groups_any: [org-all]}, roles: [Developer]}
  - {name: corp-auditors, when: {provider: corp, groups_any: [auditors]}, roles: [Auditor]}
on_ambiguous: choose
roles:
  - name: Developer
  - name: Builder
  - name: Auditor
` + extra)
}

// ldapServer starts slapd and the broker with the corp directory.
func ldapServer(t *testing.T, extra string) (*ldaptest.Server, *testServer) {
	t.Helper()
	srv := ldaptest.Start(t)
	return srv, startServer(t, ldapConfig(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, ""), extra))
}

// allPasswords are the secrets that must never reach the broker's logs.
func allPasswords() []string {
	out := []string{ldaptest.BindPassword, ldaptest.RootPassword}
	for _, u := range ldaptest.Users {
		out = append(out, u.Password)
	}
	return out
}

// ldapIdentity posts AssumeRoleWithLDAPIdentity and decodes the answer.
type ldapSTSAnswer struct {
	status        int
	code, message string
	body          string
	creds         struct{ id, secret, token string }
	arn           string
	took          time.Duration
}

func callLDAPIdentity(t *testing.T, base string, params url.Values) ldapSTSAnswer {
	t.Helper()
	return callLDAPIdentityWith(t, http.DefaultClient, base, params)
}

// callLDAPIdentityWith is callLDAPIdentity through client.
func callLDAPIdentityWith(t *testing.T, client *http.Client, base string, params url.Values) ldapSTSAnswer {
	t.Helper()
	v := url.Values{"Action": {"AssumeRoleWithLDAPIdentity"}, "Version": {"2011-06-15"}}
	for k, vs := range params {
		v[k] = vs
	}
	start := time.Now()
	resp, err := client.PostForm(base+"/", v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := ldapSTSAnswer{status: resp.StatusCode, body: string(b), took: time.Since(start)}
	var x struct {
		Result struct {
			Credentials     struct{ AccessKeyId, SecretAccessKey, SessionToken string }
			AssumedRoleUser struct{ Arn string }
		} `xml:"AssumeRoleWithLDAPIdentityResult"`
		Error struct{ Code, Message string }
	}
	if err := xml.Unmarshal(b, &x); err != nil {
		t.Fatalf("answer is not XML (%v): %s", err, b)
	}
	a.code, a.message = x.Error.Code, x.Error.Message
	a.creds.id, a.creds.secret, a.creds.token = x.Result.Credentials.AccessKeyId, x.Result.Credentials.SecretAccessKey, x.Result.Credentials.SessionToken
	a.arn = x.Result.AssumedRoleUser.Arn
	return a
}

// ldapIssued reads the minted-credential counter from the metrics listener.
func ldapIssued(t *testing.T, ts *testServer) int {
	t.Helper()
	return ts.issued(t)
}

// ldapCallerARN signs GetCallerIdentity with the keys (aws-sdk-go-v2).
func ldapCallerARN(t *testing.T, base, id, secret, token string) string {
	t.Helper()
	out, err := stsClient(base, staticCreds(id, secret, token)).GetCallerIdentity(context.Background(), nil)
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return *out.Arn
}

// TestLDAPBrowserSignIn: a directory account signs in with the form.
func TestLDAPBrowserSignIn(t *testing.T) {
	_, ts := ldapServer(t, "")

	t.Run("bob gets Developer through nested groups", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		status, page := b.get("/")
		if status != 200 || !strings.Contains(page, `href="/login/corp"`) || !strings.Contains(page, "Corp directory") {
			t.Fatalf("sign-in page %d:\n%s", status, page)
		}
		_, page, _ = b.signIn("corp", ldaptest.Bob.UID, ldaptest.Bob.Password)
		status, page, _ = b.choose(page, ldapDeveloperARN)
		if status != 200 || !strings.Contains(page, "arn:aws:sts::123456789012:assumed-role/Developer/bob") || !strings.Contains(page, "export AWS_ACCESS_KEY_ID=ASIA") {
			t.Fatalf("login %d:\n%s", status, page)
		}
	})

	t.Run("alice chooses Builder", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		_, form := b.get("/login/corp")
		status, page, resp := b.post("/login/corp", url.Values{"csrf_token": {b.csrf(form)}, "username": {"ALICE"}, "password": {ldaptest.Alice.Password}}, nil)
		if status != 200 || resp.Request.URL.Path != "/portal" || !strings.Contains(page, "role/Builder") || !strings.Contains(page, "role/Developer") {
			t.Fatalf("login %d at %s:\n%s", status, resp.Request.URL.Path, page)
		}
		status, page, _ = b.choose(page, ldapBuilderARN)
		// The directory's canonical uid names the session, not what was typed.
		if status != 200 || !strings.Contains(page, "assumed-role/Builder/alice") {
			t.Fatalf("credentials %d:\n%s", status, page)
		}
	})

	t.Run("wrong password shows the form again", func(t *testing.T) {
		b := newBrowser(t, ts.URL)
		_, form := b.get("/login/corp")
		status, page, _ := b.post("/login/corp", url.Values{"csrf_token": {b.csrf(form)}, "username": {"carol"}, "password": {"CANARY-ldap-browser"}}, nil)
		if status != 401 || !strings.Contains(page, "Invalid username or password.") || strings.Contains(page, "AWS_SECRET_ACCESS_KEY") {
			t.Fatalf("%d:\n%s", status, page)
		}
	})
	ts.assertNoSecrets(t, append(allPasswords(), "CANARY-ldap-browser")...)
}

// TestLDAPCredentialsAPI: POST /api/v1/credentials with the ldap provider,
// and the keys work with aws-sdk-go-v2.
func TestLDAPCredentialsAPI(t *testing.T) {
	_, ts := ldapServer(t, "")
	status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": ldaptest.Bob.UID, "password": ldaptest.Bob.Password})
	if status != 200 || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Developer/bob" {
		t.Fatalf("bob: %d %v", status, out)
	}
	id, secret, token := out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)
	if got := ldapCallerARN(t, ts.URL, id, secret, token); got != "arn:aws:sts::123456789012:assumed-role/Developer/bob" {
		t.Errorf("caller %s", got)
	}

	status, out = apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": ldaptest.Alice.UID, "password": ldaptest.Alice.Password})
	e, _ := out["error"].(map[string]any)
	if status != 409 || e["code"] != "RoleChoiceRequired" || fmt.Sprint(e["roles"]) != "["+ldapDeveloperARN+" "+ldapBuilderARN+"]" {
		t.Fatalf("alice without role: %d %v", status, out)
	}
	status, out = apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": ldaptest.Alice.UID, "password": ldaptest.Alice.Password, "role": "Builder"})
	if status != 200 || out["AssumedRoleArn"] != "arn:aws:sts::123456789012:assumed-role/Builder/alice" {
		t.Fatalf("alice as Builder: %d %v", status, out)
	}
	ts.assertNoSecrets(t, append(allPasswords(), secret, token)...)
}

// TestLDAPIdentityMinioClient: minio-go's LDAP identity provider, unchanged,
// gets keys from the broker; aws-sdk-go-v2 signs GetCallerIdentity with them.
func TestLDAPIdentityMinioClient(t *testing.T) {
	_, ts := ldapServer(t, "")
	ctx := &credentials.CredContext{Client: &http.Client{Timeout: 10 * time.Second}}

	t.Run("bob", func(t *testing.T) {
		c, err := credentials.NewLDAPIdentity(ts.URL, ldaptest.Bob.UID, ldaptest.Bob.Password, credentials.LDAPIdentityExpiryOpt(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		v, err := c.GetWithContext(ctx)
		if err != nil {
			t.Fatalf("minio-go: %v", err)
		}
		if !strings.HasPrefix(v.AccessKeyID, "ASIA") || len(v.SecretAccessKey) != 40 || v.SessionToken == "" {
			t.Fatalf("keys %q %d %d", v.AccessKeyID, len(v.SecretAccessKey), len(v.SessionToken))
		}
		// Developer's maximum is 1h: the 2h asked for is shortened.
		if left := time.Until(v.Expiration); left < 50*time.Minute || left > 61*time.Minute {
			t.Errorf("expires in %v", left)
		}
		if got := ldapCallerARN(t, ts.URL, v.AccessKeyID, v.SecretAccessKey, v.SessionToken); got != "arn:aws:sts::123456789012:assumed-role/Developer/bob" {
			t.Errorf("caller %s", got)
		}
	})

	t.Run("session policy is applied", func(t *testing.T) {
		pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}`
		c, _ := credentials.NewLDAPIdentity(ts.URL, ldaptest.Bob.UID, ldaptest.Bob.Password, credentials.LDAPIdentityPolicyOpt(pol))
		if _, err := c.GetWithContext(ctx); err != nil {
			t.Fatalf("with policy: %v", err)
		}
		c, _ = credentials.NewLDAPIdentity(ts.URL, ldaptest.Bob.UID, ldaptest.Bob.Password, credentials.LDAPIdentityPolicyOpt(`{"Version":"2012-10-17","Statement":[`))
		_, err := c.GetWithContext(ctx)
		if code := minioCode(err); code != "MalformedPolicyDocument" {
			t.Fatalf("malformed policy: %v (%s)", err, code)
		}
	})

	t.Run("alice has several roles and no RoleArn", func(t *testing.T) {
		before := ldapIssued(t, ts)
		c, _ := credentials.NewLDAPIdentity(ts.URL, ldaptest.Alice.UID, ldaptest.Alice.Password)
		_, err := c.GetWithContext(ctx)
		if minioCode(err) != "AccessDenied" || !strings.Contains(err.Error(), ldapDeveloperARN) || !strings.Contains(err.Error(), ldapBuilderARN) {
			t.Fatalf("want AccessDenied listing both roles, got %v", err)
		}
		if ldapIssued(t, ts) != before {
			t.Fatal("credentials were issued")
		}
		a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"alice"}, "LDAPPassword": {ldaptest.Alice.Password}, "RoleArn": {ldapBuilderARN}, "DurationSeconds": {"900"}})
		if a.status != 200 || a.arn != "arn:aws:sts::123456789012:assumed-role/Builder/alice" {
			t.Fatalf("with RoleArn: %d %s", a.status, a.body)
		}
		if got := ldapCallerARN(t, ts.URL, a.creds.id, a.creds.secret, a.creds.token); got != a.arn {
			t.Errorf("caller %s", got)
		}
		a = callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"alice"}, "LDAPPassword": {ldaptest.Alice.Password}, "RoleArn": {"arn:aws:iam::123456789012:role/Auditor"}})
		if a.status != 403 || a.code != "AccessDenied" || a.creds.secret != "" {
			t.Fatalf("role not granted: %d %s", a.status, a.body)
		}
	})
	ts.assertNoSecrets(t, allPasswords()...)
}

func minioCode(err error) string {
	if er, ok := err.(credentials.ErrorResponse); ok {
		return er.STSError.Code
	}
	return ""
}

// TestLDAPRefusals: hostile and wrong input is refused the same way on the
// STS action and the JSON API, nothing is issued, no password is logged.
func TestLDAPRefusals(t *testing.T) {
	_, ts := ldapServer(t, "login_protection: {ip_threshold: 1000, user_threshold: 1000}\n")
	const canary = "CANARY-ldap-refusal-91c2"
	before := ldapIssued(t, ts)
	cases := []struct{ name, user, pass string }{
		{"star", "*", canary},
		{"filter close", ")(uid=*", canary},
		{"or injection", "admin)(|(uid=*", canary},
		{"NUL byte", "alice\x00", ldaptest.Alice.Password},
		{"300 bytes", strings.Repeat("a", 300), canary},
		{"empty password", "alice", ""},
		{"wildcard password", "alice", "*"},
		{"wrong password", "alice", canary},
		{"unknown user", "mallory", canary},
	}
	var stsBodies, apiBodies []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {tc.user}, "LDAPPassword": {tc.pass}})
			if a.status != 403 || a.code != "AccessDenied" || a.creds.secret != "" {
				t.Fatalf("STS: %d %s", a.status, a.body)
			}
			stsBodies = append(stsBodies, regexp.MustCompile(`<RequestId>[^<]*</RequestId>`).ReplaceAllString(a.body, ""))
			status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": tc.user, "password": tc.pass})
			if status != 401 || out["SecretAccessKey"] != nil {
				t.Fatalf("API: %d %v", status, out)
			}
			apiBodies = append(apiBodies, fmt.Sprint(out))
		})
	}
	for i := range stsBodies {
		if stsBodies[i] != stsBodies[0] || apiBodies[i] != apiBodies[0] {
			t.Errorf("answers differ: %q / %q vs %q / %q", stsBodies[i], apiBodies[i], stsBodies[0], apiBodies[0])
		}
	}

	for _, tc := range []struct {
		name   string
		params url.Values
		query  string
		status int
		code   string
	}{
		{"no password", url.Values{"LDAPUsername": {"alice"}}, "", 400, "MissingParameter"},
		{"no username", url.Values{"LDAPPassword": {canary}}, "", 400, "MissingParameter"},
		{"password in the URL", url.Values{"LDAPUsername": {"alice"}}, "LDAPPassword=" + canary, 400, "InvalidParameterValue"},
		{"duration too long", url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}, "DurationSeconds": {"99999"}}, "", 400, "ValidationError"},
		{"duration not a number", url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}, "DurationSeconds": {"1h"}}, "", 400, "ValidationError"},
		{"other directory", url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}, "ConfigName": {"other"}}, "", 400, "InvalidParameterValue"},
		{"short RoleArn", url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}, "RoleArn": {"Developer"}}, "", 400, "ValidationError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{"Action": {"AssumeRoleWithLDAPIdentity"}, "Version": {"2011-06-15"}}
			for k, vs := range tc.params {
				v[k] = vs
			}
			u := ts.URL + "/"
			if tc.query != "" {
				u += "?" + tc.query
			}
			resp, err := http.Post(u, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), "<Code>"+tc.code+"</Code>") || strings.Contains(string(b), "SecretAccessKey") {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
	if n := ldapIssued(t, ts); n != before {
		t.Errorf("%d credentials issued", n-before)
	}
	ts.assertNoSecrets(t, append(allPasswords(), canary)...)
}

// TestLDAPLockout: after user_threshold failures the account answers like a
// wrong password, even with the right one, without asking the directory.
func TestLDAPLockout(t *testing.T) {
	for _, storeKind := range []string{"memory", "redis"} {
		t.Run(storeKind, func(t *testing.T) {
			extra := "login_protection: {user_threshold: 3, ip_threshold: 1000, lock_duration: 1m}\n"
			var rs *redistest.Server
			if storeKind == "redis" {
				rs = redistest.Start(t)
				extra += "store: {type: redis, url: \"" + rs.URL + "\"}\n"
			}
			srv, ts := ldapServer(t, extra)
			const canary = "CANARY-ldap-lockout-5e1d"
			wrong := url.Values{"LDAPUsername": {"carol"}, "LDAPPassword": {canary}}
			right := url.Values{"LDAPUsername": {"carol"}, "LDAPPassword": {ldaptest.Carol.Password}}

			if a := callLDAPIdentity(t, ts.URL, right); a.status != 200 {
				t.Fatalf("carol before: %d %s", a.status, a.body)
			}
			var wrongTook []time.Duration
			var wrongBody string
			for range 3 {
				a := callLDAPIdentity(t, ts.URL, wrong)
				if a.status != 403 {
					t.Fatalf("wrong: %d %s", a.status, a.body)
				}
				wrongTook = append(wrongTook, a.took)
				wrongBody = a.message
			}
			// More wrong-password timings, from another account (not locked).
			for range 4 {
				a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"dave"}, "LDAPPassword": {canary}})
				wrongTook = append(wrongTook, a.took)
			}
			// Locked: the right password gets the wrong-password answer.
			a := callLDAPIdentity(t, ts.URL, right)
			if a.status != 403 || a.code != "AccessDenied" || a.message != wrongBody || a.creds.secret != "" {
				t.Fatalf("locked STS: %d %s", a.status, a.body)
			}
			status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": "Carol ", "password": ldaptest.Carol.Password})
			if e, _ := out["error"].(map[string]any); status != 401 || e["code"] != "InvalidCredentials" {
				t.Fatalf("locked API (case and space variant): %d %v", status, out)
			}
			// The directory is not asked while locked: with slapd stopped the
			// answer is still the wrong-password one, not "unavailable".
			srv.Stop()
			var lockedTook []time.Duration
			for range 7 {
				a := callLDAPIdentity(t, ts.URL, right)
				if a.status != 403 || a.message != wrongBody {
					t.Fatalf("locked, slapd down: %d %s", a.status, a.body)
				}
				lockedTook = append(lockedTook, a.took)
			}
			// Others are not locked: bob meets the stopped directory.
			if a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}}); a.status != 503 || a.code != "ServiceUnavailable" {
				t.Fatalf("bob with slapd down: %d %s", a.status, a.body)
			}
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
			// Timing is logged, not asserted (a busy machine makes any bound
			// flaky): that a locked answer waits about as long as the
			// directory's refusals is TestLockoutDelayFollowsUpstream's, on
			// an injected latency.
			slices.Sort(wrongTook)
			slices.Sort(lockedTook)
			t.Logf("wrong password %v, locked %v", wrongTook, lockedTook)
			if storeKind == "redis" {
				// The store down: logins fail closed with "unavailable".
				rs.Stop()
				if a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}}); a.status != 503 || a.creds.secret != "" {
					t.Fatalf("store down: %d %s", a.status, a.body)
				}
				status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
				if e, _ := out["error"].(map[string]any); status != 503 || e["code"] != "ServiceUnavailable" || !strings.Contains(fmt.Sprint(e["message"]), "state store") {
					t.Fatalf("store down, API: %d %v", status, out)
				}
			}
			ts.assertNoSecrets(t, append(allPasswords(), canary)...)
			if !strings.Contains(ts.Logs.String(), `"event":"login.locked"`) {
				t.Error("no login.locked audit event")
			}
		})
	}
}

// TestLDAPLockoutPerAddress: failures spread over many usernames lock the
// client address; a success does not reset it.
func TestLDAPLockoutPerAddress(t *testing.T) {
	_, ts := ldapServer(t, "login_protection: {user_threshold: 100, ip_threshold: 4}\n")
	if a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}}); a.status != 200 {
		t.Fatalf("bob: %d %s", a.status, a.body)
	}
	for i := range 4 {
		if a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {fmt.Sprintf("nobody%d", i)}, "LDAPPassword": {"x"}}); a.status != 403 {
			t.Fatalf("spray %d: %d", i, a.status)
		}
	}
	if a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}}); a.status != 403 || a.code != "AccessDenied" {
		t.Fatalf("bob from a locked address: %d %s", a.status, a.body)
	}
	// The lock covers every password provider at this address.
	if status, _ := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice"}); status != 401 {
		t.Fatalf("demo from a locked address: %d", status)
	}
}

// TestLDAPDirectoryDownOrHanging: a stopped slapd and one that accepts and
// never answers give a clear error within the timeouts, and the static
// demo provider keeps working meanwhile.
func TestLDAPDirectoryDownOrHanging(t *testing.T) {
	t.Run("stopped", func(t *testing.T) {
		srv, ts := ldapServer(t, "")
		srv.Stop()
		start := time.Now()
		status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": "bob", "password": ldaptest.Bob.Password})
		if e, _ := out["error"].(map[string]any); status != 503 || e["code"] != "ProviderUnavailable" || time.Since(start) > 5*time.Second {
			t.Fatalf("%d %v after %v", status, out, time.Since(start))
		}
		a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}})
		if a.status != 503 || a.code != "ServiceUnavailable" || !strings.Contains(a.message, "could not be reached") {
			t.Fatalf("STS: %d %s", a.status, a.body)
		}
		if status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice"}); status != 200 {
			t.Fatalf("demo: %d %v", status, out)
		}
		ts.assertNoSecrets(t, allPasswords()...)
	})

	t.Run("hanging", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var conns []net.Conn
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c) // held open, never answered
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		ts := startServer(t, ldapConfig(ldapProviderBlock("ldap://"+ln.Addr().String(), "", "\n    insecure_no_tls: true"), ""))
		type result struct {
			status int
			out    map[string]any
			took   time.Duration
		}
		hung := make(chan result, 1)
		go func() {
			start := time.Now()
			status, out := apiLogin(t, ts.URL, map[string]any{"provider": "corp", "username": "bob", "password": ldaptest.Bob.Password})
			hung <- result{status, out, time.Since(start)}
		}()
		// While the directory hangs, the demo provider answers at once.
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice"}); status != 200 || time.Since(start) > 2*time.Second {
			t.Fatalf("demo during the hang: %d %v after %v", status, out, time.Since(start))
		}
		select {
		case r := <-hung:
			if e, _ := r.out["error"].(map[string]any); r.status != 503 || e["code"] != "ProviderUnavailable" || r.took > 6*time.Second {
				t.Fatalf("hanging directory: %d %v after %v", r.status, r.out, r.took)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no answer within 15s from a hanging directory")
		}
		a := callLDAPIdentity(t, ts.URL, url.Values{"LDAPUsername": {"bob"}, "LDAPPassword": {ldaptest.Bob.Password}})
		if a.status != 503 || a.took > 6*time.Second {
			t.Fatalf("STS with a hanging directory: %d %s after %v", a.status, a.body, a.took)
		}
		ts.assertNoSecrets(t, allPasswords()...)
	})
}

// TestLDAPConfig: keys are checked with their path; sts.ldap_provider.
func TestLDAPConfig(t *testing.T) {
	block := ldapProviderBlock("ldap://ldap.example.org:389", "", "\n    insecure_no_tls: true\n    max_conns: -1")
	_, err := parseConfig(ldapConfig(block, ""), noEnv)
	for _, want := range []string{"providers[1].insecure_no_tls", "providers[1].max_conns"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error naming %s, got %v", want, err)
		}
	}
	_, err = parseConfig(ldapConfig(ldapProviderBlock("ldaps://ldap.example.org", "", "\n    bogus_key: 1"), ""), noEnv)
	if err == nil || !strings.Contains(err.Error(), "bogus_key") {
		t.Errorf("unknown key: %v", err)
	}
	good := ldapProviderBlock("ldaps://ldap.example.org", "", "")
	two := good + strings.Replace(good, "name: corp", "name: corp2", 1)
	for _, tc := range []struct{ name, block, extra, want string }{
		{"one ldap provider", good, "", ""},
		{"two without sts.ldap_provider", two, "", "sts.ldap_provider: missing"},
		{"two with sts.ldap_provider", two, "sts: {ldap_provider: corp2}\n", ""},
		{"names a non-ldap provider", good, "sts: {ldap_provider: demo}\n", "sts.ldap_provider: \"demo\" is not a provider of type ldap"},
		{"bad login_protection", good, "login_protection: {user_threshold: -1, lock_duration: 2h}\n", "login_protection.user_threshold"},
		{"max below lock", good, "login_protection: {lock_duration: 2h}\n", "login_protection.max_lock_duration"},
		{"account threshold below user", good, "login_protection: {user_threshold: 5, account_threshold: 4}\n", "login_protection.account_threshold: 4 must be at least user_threshold (5)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(ldapConfig(tc.block, tc.extra), noEnv)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want %q, got %v", tc.want, err)
			case tc.want == "" && tc.extra != "" && cfg.stsLDAPProvider() != "corp2":
				t.Fatalf("provider %q", cfg.stsLDAPProvider())
			}
		})
	}
}

// TestLDAPConfigCheckOnline: `config check --online` tests the service bind
// and searches, and says what is wrong and what to try.
func TestLDAPConfigCheckOnline(t *testing.T) {
	srv := ldaptest.Start(t)
	write := func(block string) string {
		p := filepath.Join(t.TempDir(), "idbroker.yaml")
		if err := os.WriteFile(p, ldapConfig(block, ""), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(path string) (int, string) {
		var out, errb bytes.Buffer
		code := runConfigCheck(context.Background(), []string{"--config", path, "--online"}, &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run(write(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, "")))
	if code != 0 || !strings.Contains(out, "ok   service bind") || strings.Contains(out, "FAIL") {
		t.Fatalf("good config: %d\n%s", code, out)
	}
	bad := strings.Replace(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, ""), ldaptest.BindPassword, "CANARY-wrong-bind", 1)
	code, out = run(write(bad))
	if code != 1 || !strings.Contains(out, "FAIL service bind") || !strings.Contains(out, "try: ") || !strings.Contains(out, "1 online check(s) failed") {
		t.Fatalf("wrong bind password: %d\n%s", code, out)
	}
	badBase := strings.Replace(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, ""), "base_dn: \""+ldaptest.PeopleDN, "base_dn: \"ou=nobody,"+ldaptest.BaseDN, 1)
	code, out = run(write(badBase))
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "ou=nobody") {
		t.Fatalf("missing user base: %d\n%s", code, out)
	}
	srv.Stop()
	code, out = run(write(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, "")))
	if code != 1 || !strings.Contains(out, "FAIL connect") || !strings.Contains(out, "try: ") {
		t.Fatalf("slapd down: %d\n%s", code, out)
	}
	if strings.Contains(out, ldaptest.BindPassword) || strings.Contains(out, "CANARY-wrong-bind") {
		t.Error("a bind password is printed")
	}
}

// benchLDAPBroker starts the broker against srv with flat groups (alice:
// developers, posixdev) and a single grant, so that one login is the same
// LDAP work as the raw loop.
func benchLDAPBroker(b *testing.B, srv *ldaptest.Server) string {
	b.Helper()
	block := strings.Replace(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, "\n    max_conns: 16"), "nested: true", "nested: false", 1)
	cfg, err := parseConfig([]byte(`
account_id: "123456789012"
providers:`+block+`
rules:
  - {name: devs, when: {provider: corp, groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
login_protection: {enabled: false}
`), noEnv)
	if err != nil {
		b.Fatalf("config: %v", err)
	}
	cfg.Server.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, nil2discard(), ready) }()
	select {
	case addr := <-ready:
		b.Cleanup(func() { cancel(); <-done })
		return "http://" + addr
	case err := <-done:
		cancel()
		b.Fatalf("serve: %v", err)
	}
	return ""
}

// BenchmarkLDAPIdentity compares, against one slapd in one run:
//
//   - AssumeRoleWithLDAPIdentity: the real server over HTTP (search, user
//     bind, group search, mapping, signed token, in-process STS, XML);
//   - RawLDAP: the same LDAP work with go-ldap directly, one ldaps
//     connection per goroutine (search the user as the service account,
//     bind as the user, bind back, search the groups).
//
// Both run in parallel with 4 goroutines per CPU. Run with
//
//	go test ./cmd/idbroker -run '^$' -bench BenchmarkLDAPIdentity -benchtime 3s
func BenchmarkLDAPIdentity(b *testing.B) {
	srv := ldaptest.Start(b)
	base := benchLDAPBroker(b, srv)
	b.Run("AssumeRoleWithLDAPIdentity", func(b *testing.B) {
		form := url.Values{"Action": {"AssumeRoleWithLDAPIdentity"}, "Version": {"2011-06-15"},
			"LDAPUsername": {ldaptest.Alice.UID}, "LDAPPassword": {ldaptest.Alice.Password}}.Encode()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
		defer client.CloseIdleConnections()
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(base+"/", "application/x-www-form-urlencoded", strings.NewReader(form))
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<SecretAccessKey>")) {
					b.Errorf("%d %s", resp.StatusCode, body)
					return
				}
			}
		})
	})
	b.Run("RawLDAP", func(b *testing.B) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(srv.CAPEM)
		userFilter := "(&(objectClass=inetOrgPerson)(uid=" + ldap.EscapeFilter(ldaptest.Alice.UID) + "))"
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			l, err := ldap.DialURL(srv.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
			if err != nil {
				b.Error(err)
				return
			}
			defer l.Close()
			if err := l.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				res, err := l.Search(ldap.NewSearchRequest(ldaptest.PeopleDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
					userFilter, []string{"uid", "mail", "displayName", "cn", "entryUUID"}, nil))
				if err != nil || len(res.Entries) != 1 {
					b.Error(err)
					return
				}
				dn := res.Entries[0].DN
				if err := l.Bind(dn, ldaptest.Alice.Password); err != nil {
					b.Error(err)
					return
				}
				if err := l.Bind(ldaptest.BindDN, ldaptest.BindPassword); err != nil {
					b.Error(err)
					return
				}
				gres, err := l.Search(ldap.NewSearchRequest(ldaptest.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
					ldapauth.RenderFilter(ldapauth.DefaultGroupFilter, ldaptest.Alice.UID, dn), []string{"cn"}, nil))
				if err != nil || len(gres.Entries) != 2 {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestLDAPExampleConfig: configs/ldap-example.yaml is valid, builds, and
// its rule tests pass.
func TestLDAPExampleConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "ldap-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) { return "example-bind-password", k == "LDAP_BIND_PASSWORD" }
	cfg, err := parseConfig(data, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.stsLDAPProvider() != "corp" || cfg.LoginProtection.broker().UserThreshold != 5 {
		t.Errorf("ldap provider %q, protection %+v", cfg.stsLDAPProvider(), cfg.LoginProtection)
	}
	sec, err := generateSecrets()
	if err != nil {
		t.Fatal(err)
	}
	a, err := assemble(cfg, sec, nil2discard())
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	results := a.mapper.RunTests(cfg.Mapping.Tests)
	if len(results) != 3 {
		t.Fatalf("%d rule tests", len(results))
	}
	if report, ok := mapping.FormatTestResults(results); !ok {
		t.Fatalf("rule tests fail:\n%s", report)
	}
	if _, err := parseConfig(data, noEnv); err == nil || !strings.Contains(err.Error(), "LDAP_BIND_PASSWORD") {
		t.Errorf("unset ${LDAP_BIND_PASSWORD}: %v", err)
	}
}
