package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"gopkg.in/yaml.v3"

	"github.com/idbroker/idbroker/configs"
)

// mappingDemo is the embedded demo configuration changed by edit (the
// decoded YAML document), without its rule tests (an edit may change what
// the rules decide).
func mappingDemo(t *testing.T, base []byte, edit func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(base, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "tests")
	edit(doc)
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// demoRole returns the role of the decoded demo document named name.
func demoRole(t *testing.T, doc map[string]any, name string) map[string]any {
	t.Helper()
	for _, r := range doc["roles"].([]any) {
		if role := r.(map[string]any); role["name"] == name {
			return role
		}
	}
	t.Fatalf("the demo configuration has no %s role", name)
	return nil
}

// auditLines are the server's audit lines of one event, decoded.
func auditLines(t *testing.T, ts *testServer, event string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(ts.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "audit" && m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// TestMappingDurationNoteAPI: the demo's Admin role lasts at most 1h, so
// bob asking for 2h gets 1h and the answer says why; alice's default hour
// is met and carries no note. Expiration agrees with DurationSeconds.
func TestMappingDurationNoteAPI(t *testing.T) {
	ts := startServer(t, configs.Demo)
	cases := []struct {
		name     string
		body     map[string]any
		wantSecs float64
		wantNote string
	}{
		{"role maximum under the request", map[string]any{"username": "bob", "password": "bob", "role": "Admin", "duration_seconds": 7200}, 3600,
			"duration limited to 1h0m0s by the role's maximum session duration of 1h0m0s"},
		{"request met", map[string]any{"username": "bob", "password": "bob", "role": "Developer", "duration_seconds": 7200}, 7200, ""},
		{"default met", map[string]any{"username": "alice", "password": "alice"}, 3600, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["provider"] = "demo"
			before := time.Now()
			status, out := apiLogin(t, ts.URL, tc.body)
			if status != 200 {
				t.Fatalf("%d %v", status, out)
			}
			if out["DurationSeconds"] != tc.wantSecs {
				t.Errorf("DurationSeconds %v, want %v", out["DurationSeconds"], tc.wantSecs)
			}
			note, has := out["DurationNote"].(string)
			if (tc.wantNote == "") == has || !strings.Contains(note, tc.wantNote) {
				t.Errorf("DurationNote %q (present %v), want %q", note, has, tc.wantNote)
			}
			exp, err := time.Parse(time.RFC3339, out["Expiration"].(string))
			want := before.Add(time.Duration(tc.wantSecs) * time.Second)
			if err != nil || exp.Before(want.Add(-2*time.Second)) || exp.After(want.Add(5*time.Second)) {
				t.Errorf("Expiration %v, want about %v", out["Expiration"], want)
			}
			ts.assertNoSecrets(t, out["SecretAccessKey"].(string), out["SessionToken"].(string))
		})
	}
}

// TestMappingDroppedGrantAudited: the demo's admins rule given a session
// tag that renders "aws:<username>" (a reserved prefix): the mapping drops
// bob's Admin grant, so asking for Admin is refused, nothing is issued, and
// the refusal's audit line names the rule, its index and the reason.
func TestMappingDroppedGrantAudited(t *testing.T) {
	cfg := mappingDemo(t, configs.Demo, func(doc map[string]any) {
		for _, r := range doc["rules"].([]any) {
			if rule := r.(map[string]any); rule["name"] == "admins" {
				rule["session_tags"] = map[string]any{"team": "aws:{{ .Username }}"}
			}
		}
	})
	ts := startServer(t, cfg)
	status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "bob", "password": "bob", "role": "Admin"})
	if e, _ := out["error"].(map[string]any); status != 403 || e["code"] != "RoleNotGranted" {
		t.Fatalf("bob as Admin: %d %v", status, out)
	}
	if n := len(auditLines(t, ts, "issue")); n != 0 {
		t.Fatalf("%d credentials issued", n)
	}
	refused := auditLines(t, ts, "issue.refused")
	if len(refused) != 1 {
		t.Fatalf("issue.refused lines: %v", refused)
	}
	dropped, _ := refused[0]["dropped"].([]any)
	found := false
	for _, d := range dropped {
		m, _ := d.(map[string]any)
		why, _ := m["reason"].(string)
		if m["rule"] == "admins" && m["rule_index"] == float64(1) && strings.Contains(why, decAdminARN) &&
			strings.Contains(why, `session_tags.team: tag value "aws:bob" uses the reserved prefix aws:`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("the refusal does not name the dropped rule and why: %v", refused[0])
	}

	// Without a role bob gets Developer; the drop is still audited.
	status, out = apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "bob", "password": "bob"})
	if status != 200 || out["RoleArn"] != decDeveloperARN {
		t.Fatalf("bob: %d %v", status, out)
	}
	if ev := auditLines(t, ts, "grant.dropped"); len(ev) != 1 || !strings.Contains(ts.Logs.String(), `"rule":"admins","rule_index":1`) {
		t.Fatalf("grant.dropped lines: %v", ev)
	}
	ts.assertNoSecrets(t, out["SecretAccessKey"].(string), out["SessionToken"].(string))
}

// TestMappingAPIRolesList: bob asks for both demo roles at once and gets
// two working credentials, in the order asked, each audited with its rule
// and index; with an extra role he is not granted, nothing is issued.
func TestMappingAPIRolesList(t *testing.T) {
	ts := startServer(t, configs.Demo)
	status, out := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "bob", "password": "bob", "roles": []string{"Admin", "Developer"}})
	list, _ := out["credentials"].([]any)
	if status != 200 || len(list) != 2 {
		t.Fatalf("%d %v", status, out)
	}
	wantRoles := []string{decAdminARN, decDeveloperARN}
	wantRules := []string{"admins", "developers"}
	wantIdx := []float64{1, 0}
	issued := auditLines(t, ts, "issue")
	if len(issued) != 2 {
		t.Fatalf("issue lines: %v", issued)
	}
	var secrets []string
	for i, c := range list {
		m := c.(map[string]any)
		if m["RoleArn"] != wantRoles[i] {
			t.Errorf("credentials[%d] is for %v, want %s", i, m["RoleArn"], wantRoles[i])
		}
		who, err := stsClient(ts.URL, staticCreds(m["AccessKeyId"].(string), m["SecretAccessKey"].(string), m["SessionToken"].(string))).
			GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
		if err != nil || aws.ToString(who.Arn) != m["AssumedRoleArn"] {
			t.Errorf("credentials[%d]: GetCallerIdentity %v %v", i, who, err)
		}
		if ev := issued[i]; ev["rule"] != wantRules[i] || ev["rule_index"] != wantIdx[i] || ev["access_key_id"] != m["AccessKeyId"] {
			t.Errorf("issue line %d: %v, want rule %s index %v", i, ev, wantRules[i], wantIdx[i])
		}
		secrets = append(secrets, m["SecretAccessKey"].(string), m["SessionToken"].(string))
	}

	status, out = apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "alice", "password": "alice", "roles": []string{"Developer", "Admin"}})
	if e, _ := out["error"].(map[string]any); status != 403 || e["code"] != "RoleNotGranted" {
		t.Fatalf("alice with Admin in the list: %d %v", status, out)
	}
	if n := len(auditLines(t, ts, "issue")); n != 2 {
		t.Fatalf("%d issue lines, want the 2 of bob only", n)
	}
	ts.assertNoSecrets(t, secrets...)
}

// TestMappingExplainNeedsPolicyAllow: a session of a role in admin.roles
// must also be allowed idbroker:Explain by its policies. The demo's Admin
// (AdministratorAccess) may; the same role narrowed by a session policy
// that does not allow it, or denies it, may not; Developer, listed in
// admin.roles here, has no policy allowing it.
func TestMappingExplainNeedsPolicyAllow(t *testing.T) {
	const adminSelfChain = `{"Version":"2012-10-17","Statement":[{"Sid":"SelfChain","Effect":"Allow",` +
		`"Principal":{"AWS":"arn:aws:iam::123456789012:role/Admin"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	cfg := mappingDemo(t, decisionConfig(t), func(doc map[string]any) {
		var trust any
		if err := json.Unmarshal([]byte(adminSelfChain), &trust); err != nil {
			t.Fatal(err)
		}
		demoRole(t, doc, "Admin")["trust_policy"] = trust
		doc["admin"] = map[string]any{"roles": []any{"Admin", "Developer"}}
	})
	ts := startServer(t, cfg)
	admin := decLogin(t, ts.URL, "bob", "Admin")
	narrowed := func(sessionPolicy string) minted {
		t.Helper()
		out, err := stsClient(ts.URL, admin.aws()).AssumeRole(context.Background(), &awssts.AssumeRoleInput{
			RoleArn: aws.String(decAdminARN), RoleSessionName: aws.String("bob-narrowed"), Policy: aws.String(sessionPolicy)})
		if err != nil {
			t.Fatalf("AssumeRole with session policy: %v", err)
		}
		c := out.Credentials
		return minted{*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken}
	}
	cases := []struct {
		name       string
		c          minted
		wantStatus int
		wantMsg    string
	}{
		{"Admin session", admin, 200, ""},
		{"session policy allows idbroker:Explain", narrowed(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"idbroker:Explain","Resource":"*"}]}`), 200, ""},
		{"session policy does not allow it", narrowed(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`), 403, "no policy of the session allows idbroker:Explain"},
		{"session policy denies it", narrowed(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"idbroker:*","Resource":"*"}]}`), 403, "explicitly denies"},
		{"admin role whose policy does not allow it", decLogin(t, ts.URL, "alice", ""), 403, "no policy of the session allows idbroker:Explain"},
	}
	q, _ := identityQuery(t, "alice")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := explainRequest(t, ts.URL, q, tc.c)
			if r.status != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", r.status, r.raw, tc.wantStatus)
			}
			if tc.wantStatus == 200 {
				if _, ok := r.body["rules"]; !ok {
					t.Fatalf("no explanation: %s", r.raw)
				}
				return
			}
			e, _ := r.body["error"].(map[string]any)
			if r.code() != "AccessDenied" || !strings.Contains(e["message"].(string), tc.wantMsg) {
				t.Fatalf("got %s, want AccessDenied mentioning %q", r.raw, tc.wantMsg)
			}
			if _, ok := r.body["rules"]; ok {
				t.Fatal("an explanation was given")
			}
		})
	}
	ts.assertNoSecrets(t, admin.secret, admin.token)
}
