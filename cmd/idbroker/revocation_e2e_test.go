package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
)

// Revocation as an administrator meets it, against the real server: each
// selector, checked with the AWS SDK's GetCallerIdentity before and after,
// and credentials chained with AssumeRole dying with their parent.

// revocationConfig: static users (password = the demo's "alice" hash for
// all but bob), developers get Developer, admins IdentityAdmin — an
// administrator role allowed only idbroker:Revoke and idbroker:ListSessions,
// as the README sets one up —, and a role Developer sessions may chain
// into.
const revocationConfig = `
account_id: "123456789012"
region: us-east-1
keys: {dir: ""}
store: {type: memory}
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
      - {username: carol, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
      - {username: dave, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
      - {username: erin, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers, Contractors]}
      - {username: bob, password_hash: "$2a$10$ZYkh3xcRWKVhyMZNErTSr.KpqR4duZOuHdI3ODMpQzNt4qzkbK/UK", groups: [admins]}
rules:
  - {name: developers, when: {groups_any: [developers]}, roles: [Developer]}
  - {name: admins, when: {groups_any: [admins]}, roles: [IdentityAdmin]}
roles:
  - name: Developer
    policies:
      - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["s3:GetObject", "sts:AssumeRole"], Resource: "*"}]}
  - name: Chained
    trust_broker: false
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - {Effect: Allow, Principal: {AWS: "arn:aws:iam::123456789012:role/Developer"}, Action: sts:AssumeRole}
    policies:
      - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}
  - name: IdentityAdmin
    policies:
      - Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: ["idbroker:Revoke", "idbroker:ListSessions"], Resource: "*"}
admin:
  roles: [IdentityAdmin]
`

// alicePassword is every revocationConfig user's password but bob's.
const alicePassword = "alice"

// oneShot gets credentials with a password (a one-shot login).
func oneShot(t *testing.T, base, user, password, role string) minted {
	t.Helper()
	status, out := apiLogin(t, base, map[string]any{"provider": "demo", "username": user, "password": password, "role": role})
	if status != 200 {
		t.Fatalf("%s as %s: %d %v", user, role, status, out)
	}
	return minted{out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)}
}

// fromSession gets credentials from a session token.
func fromSession(t *testing.T, base, token, role string) minted {
	t.Helper()
	status, out, _ := sessionAPI(t, http.MethodPost, base+"/api/v1/credentials", token, "application/json", `{"role":"`+role+`"}`)
	if status != 200 {
		t.Fatalf("credentials from a session: %d %v", status, out)
	}
	return minted{out["AccessKeyId"].(string), out["SecretAccessKey"].(string), out["SessionToken"].(string)}
}

// chainTo assumes role with c (aws-sdk-go-v2 AssumeRole); code is the AWS
// error code when refused.
func chainTo(t *testing.T, base string, c minted, role string) (minted, string) {
	t.Helper()
	out, err := stsClient(base, c.aws()).AssumeRole(context.Background(), &awssts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/" + role), RoleSessionName: aws.String("chained")})
	if err != nil {
		if apiCode(err) == "" {
			t.Fatalf("AssumeRole: %v", err)
		}
		return minted{}, apiCode(err)
	}
	k := out.Credentials
	return minted{*k.AccessKeyId, *k.SecretAccessKey, *k.SessionToken}, ""
}

// whoCode is "" when c authenticates at base's STS (aws-sdk-go-v2
// GetCallerIdentity), else the AWS error code.
func whoCode(t *testing.T, base string, c minted) string {
	t.Helper()
	_, err := stsClient(base, c.aws()).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	if err != nil && apiCode(err) == "" {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return apiCode(err)
}

// wantAlive and wantRevoked check credentials at base: accepted, or
// refused as AWS refuses an unknown token.
func wantAlive(t *testing.T, base, what string, cs ...minted) {
	t.Helper()
	for i, c := range cs {
		if code := whoCode(t, base, c); code != "" {
			t.Errorf("%s (%d): refused with %s", what, i, code)
		}
	}
}

func wantRevoked(t *testing.T, base, what string, cs ...minted) {
	t.Helper()
	for i, c := range cs {
		if code := whoCode(t, base, c); code != "InvalidClientTokenId" {
			t.Errorf("%s (%d): %q, want InvalidClientTokenId", what, i, code)
		}
	}
}

// adminAPI is the administrators' API client idbroker revoke and idbroker
// sessions use, with c as the environment's credentials.
func adminAPI(t *testing.T, base string, c minted) *adminClient {
	t.Helper()
	env := map[string]string{"AWS_ACCESS_KEY_ID": c.id, "AWS_SECRET_ACCESS_KEY": c.secret, "AWS_SESSION_TOKEN": c.token}
	ac, err := newAdminClient(base, "", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return ac
}

func revokeVia(t *testing.T, ac *adminClient, body map[string]string) revocationAnswer {
	t.Helper()
	var r revocationAnswer
	if err := ac.call(context.Background(), "POST", "/api/v1/admin/revocations", nil, body, 201, &r, "the revocation", "idbroker:Revoke"); err != nil {
		t.Fatalf("revoke %v: %v", body, err)
	}
	return r
}

// waitPast polls the clock until t (a revocation's not_before, a whole
// second: credentials issued from then on are not covered).
func waitPast(t time.Time) {
	for time.Now().Before(t) {
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRevocationSelectors: revocation by each selector refuses exactly the
// credentials it names (GetCallerIdentity with the AWS SDK before and
// after), those chained from them with AssumeRole included, and nothing
// else; a new login after a revocation of a user or a role works again.
func TestRevocationSelectors(t *testing.T) {
	t.Parallel()
	ts := startServer(t, []byte(revocationConfig))
	admin := adminAPI(t, ts.URL, oneShot(t, ts.URL, "bob", "bob", "IdentityAdmin"))

	t.Run("session", func(t *testing.T) {
		tok1, sid1 := newSession(t, ts.URL, "demo", "alice", alicePassword)
		tok2, _ := newSession(t, ts.URL, "demo", "alice", alicePassword)
		c1, c2 := fromSession(t, ts.URL, tok1, "Developer"), fromSession(t, ts.URL, tok2, "Developer")
		ch1, code := chainTo(t, ts.URL, c1, "Chained")
		if code != "" {
			t.Fatalf("chaining: %s", code)
		}
		wantAlive(t, ts.URL, "before", c1, ch1, c2)
		r := revokeVia(t, admin, map[string]string{"session": sid1})
		if r.Selector.Kind != "session" || len(r.SessionsEnded) != 1 || r.SessionsEnded[0] != sid1 {
			t.Fatalf("answer %+v", r)
		}
		wantRevoked(t, ts.URL, "the session's credentials and those chained from them", c1, ch1)
		wantAlive(t, ts.URL, "the user's other session", c2)
		if _, code := chainTo(t, ts.URL, c1, "Chained"); code != "InvalidClientTokenId" {
			t.Errorf("chaining from revoked credentials: %q", code)
		}
		if status, out, _ := sessionAPI(t, http.MethodPost, ts.URL+"/api/v1/credentials", tok1, "application/json", `{}`); status != 401 || errCode(out) != "InvalidSession" {
			t.Errorf("the revoked session issues: %d %v", status, out)
		}
	})

	t.Run("user", func(t *testing.T) {
		carol, dave := oneShot(t, ts.URL, "carol", alicePassword, "Developer"), oneShot(t, ts.URL, "dave", alicePassword, "Developer")
		carolCh, _ := chainTo(t, ts.URL, carol, "Chained")
		wantAlive(t, ts.URL, "before", carol, carolCh, dave)
		r := revokeVia(t, admin, map[string]string{"user": "Carol", "provider": "demo"})
		if len(r.Sessions) != 1 {
			t.Fatalf("answer %+v", r)
		}
		wantRevoked(t, ts.URL, "carol's", carol, carolCh)
		wantAlive(t, ts.URL, "dave's", dave)
		// Not a ban: carol signs in again (a new session, which the
		// revocation does not name) and works at once.
		wantAlive(t, ts.URL, "carol's new login", oneShot(t, ts.URL, "carol", alicePassword, "Developer"))
	})

	t.Run("group", func(t *testing.T) {
		erin, dave := oneShot(t, ts.URL, "erin", alicePassword, "Developer"), oneShot(t, ts.URL, "dave", alicePassword, "Developer")
		tok, _ := newSession(t, ts.URL, "demo", "erin", alicePassword)
		wantAlive(t, ts.URL, "before", erin, dave)
		r := revokeVia(t, admin, map[string]string{"group": "contractors"})
		if len(r.Sessions) != 2 || len(r.SessionsEnded) != 2 {
			t.Fatalf("answer %+v", r)
		}
		wantRevoked(t, ts.URL, "erin's", erin)
		wantAlive(t, ts.URL, "dave's", dave)
		if status, _, _ := sessionAPI(t, http.MethodGet, ts.URL+"/api/v1/sessions/current", tok, "", ""); status != 401 {
			t.Errorf("erin's bearer session after the revocation: %d", status)
		}
	})

	t.Run("access key", func(t *testing.T) {
		tok, _ := newSession(t, ts.URL, "demo", "dave", alicePassword)
		k1, k2 := fromSession(t, ts.URL, tok, "Developer"), fromSession(t, ts.URL, tok, "Developer")
		k1ch, _ := chainTo(t, ts.URL, k1, "Chained")
		r := revokeVia(t, admin, map[string]string{"access_key_id": k1.id})
		if r.Selector.Kind != "access_key_id" || len(r.Sessions) != 0 {
			t.Fatalf("answer %+v", r)
		}
		wantRevoked(t, ts.URL, "the key and what was chained from it", k1, k1ch)
		wantAlive(t, ts.URL, "another key of the same session", k2)
		wantAlive(t, ts.URL, "the session", fromSession(t, ts.URL, tok, "Developer"))
	})

	t.Run("role", func(t *testing.T) {
		dev := oneShot(t, ts.URL, "dave", alicePassword, "Developer")
		ch, _ := chainTo(t, ts.URL, dev, "Chained")
		r := revokeVia(t, admin, map[string]string{"role": "chained"})
		if r.RoleARN != "arn:aws:iam::123456789012:role/Chained" {
			t.Fatalf("answer %+v", r)
		}
		wantRevoked(t, ts.URL, "the chained role's", ch)
		wantAlive(t, ts.URL, "the parent's", dev)
		r = revokeVia(t, admin, map[string]string{"role": "arn:aws:iam::123456789012:role/Developer"})
		wantRevoked(t, ts.URL, "every Developer credential", dev)
		if _, code := chainTo(t, ts.URL, dev, "Chained"); code != "InvalidClientTokenId" {
			t.Errorf("chaining from a revoked role: %q", code)
		}
		wantAlive(t, ts.URL, "the administrator's (another role)", minted{admin.creds.AccessKeyID, admin.creds.SecretAccessKey, admin.creds.SessionToken})
		// New credentials of the role work from the next second.
		nb, _ := time.Parse(time.RFC3339, r.NotBefore)
		waitPast(nb)
		wantAlive(t, ts.URL, "a new Developer login", oneShot(t, ts.URL, "dave", alicePassword, "Developer"))
	})

	for _, ev := range auditLines(t, ts, "revocation") {
		if !strings.HasSuffix(ev["principal"].(string), ":assumed-role/IdentityAdmin/bob") {
			t.Errorf("revocation audited without its administrator: %v", ev)
		}
	}
	if n := len(auditLines(t, ts, "revocation")); n != 6 {
		t.Errorf("%d revocation audit events, want 6", n)
	}
	if !strings.Contains(ts.Logs.String(), `"reason":"credentials revoked"`) {
		t.Error("the STS's refusals of revoked credentials are not audited")
	}
}
