package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
)

// The reports after a scripted day against the real server: people sign in,
// get keys, ask the authorize API, one is locked out, one is revoked; then
// the credential report (JSON from the API, CSV from the built idbroker,
// parsed back) and the access advisor must show exactly that.

const scriptedDayConfig = `
account_id: "123456789012"
region: us-east-1
keys: {dir: ""}
store: {type: memory}
reports: {retention: 720h}
login_protection: {user_threshold: 3, account_threshold: 3}
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
      - {username: carol, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
      - {username: bob, password_hash: "$2a$10$ZYkh3xcRWKVhyMZNErTSr.KpqR4duZOuHdI3ODMpQzNt4qzkbK/UK", groups: [admins]}
rules:
  - {name: developers, when: {groups_any: [developers]}, roles: [Developer]}
  - {name: admins, when: {groups_any: [admins]}, roles: [Auditor]}
roles:
  - name: Developer
    policies:
      - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: ["s3:GetObject", "s3:ListBucket", "ec2:Describe*"], Resource: "*"}]}
    policy_arns: ["arn:aws:iam::123456789012:policy/Chaining"]
  - name: Auditor
    policies:
      - Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: ["idbroker:GetCredentialReport", "idbroker:GetAccessReport", "idbroker:Revoke"], Resource: "*"}
policies:
  - name: Chaining
    document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "sts:AssumeRole", Resource: "*"}]}
admin:
  roles: [Auditor]
`

// reportRow is a row of the credential report's JSON.
type reportRow struct {
	Provider         string           `json:"provider"`
	User             string           `json:"user"`
	FirstSeen        *time.Time       `json:"first_seen"`
	LastSignIn       *time.Time       `json:"last_sign_in"`
	SignIns          int64            `json:"sign_ins"`
	LastIssuance     *time.Time       `json:"last_issuance"`
	Issuances        int64            `json:"issuances"`
	IssuancesPerRole map[string]int64 `json:"issuances_per_role"`
	MFAEnrolled      *bool            `json:"mfa_enrolled"`
	ActiveSessions   int              `json:"active_sessions"`
	LockedUntil      *time.Time       `json:"locked_until"`
	LastRevoked      *time.Time       `json:"last_revoked"`
}

func callerARNOf(t *testing.T, base string, c minted) string {
	t.Helper()
	out, err := stsClient(base, c.aws()).GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return *out.Arn
}

func TestReportsAfterAScriptedDay(t *testing.T) {
	t.Parallel()
	bin := buildIdbroker(t)
	ts := startServer(t, []byte(scriptedDayConfig))
	start := time.Now().Add(-time.Second)
	const dev = "arn:aws:iam::123456789012:role/Developer"
	const auditor = "arn:aws:iam::123456789012:role/Auditor"

	// The day. alice: a session and two keys from it, then a one-shot login.
	tok, _ := newSession(t, ts.URL, "demo", "alice", alicePassword)
	a1 := fromSession(t, ts.URL, tok, "Developer")
	fromSession(t, ts.URL, tok, "Developer")
	oneShot(t, ts.URL, "alice", alicePassword, "Developer")
	// carol gets keys, then someone fails her password until she is locked.
	c1 := oneShot(t, ts.URL, "carol", alicePassword, "Developer")
	for range 3 {
		if status, _ := apiLogin(t, ts.URL, map[string]any{"provider": "demo", "username": "carol", "password": "wrong", "role": "Developer"}); status == 200 {
			t.Fatal("a wrong password issued")
		}
	}
	// bob, the auditor.
	bobKeys := oneShot(t, ts.URL, "bob", "bob", "Auditor")
	admin := adminAPI(t, ts.URL, bobKeys)
	aliceARN, carolARN := callerARNOf(t, ts.URL, a1), callerARNOf(t, ts.URL, c1)

	// The authorize API, asked about both developers' sessions.
	ask := func(c minted, action string) string {
		t.Helper()
		r := decAuthorizePlain(t, ts.URL, map[string]any{"access_key_id": c.id, "session_token": c.token, "action": action, "resource": "*"})
		if r.status != 200 {
			t.Fatalf("authorize %s: %d %v", action, r.status, r.body)
		}
		return r.decision()
	}
	for range 3 {
		ask(a1, "s3:GetObject")
	}
	if d := ask(a1, "s3:PutObject"); d != "ImplicitDeny" {
		t.Fatalf("s3:PutObject: %s", d)
	}
	ask(c1, "ec2:DescribeInstances")
	ask(c1, "s3:GetObject")

	// alice is revoked: her two sessions end.
	revokeVia(t, admin, map[string]string{"user": "alice", "provider": "demo"})
	end := time.Now().Add(time.Second)

	// The credential report, JSON.
	var rep struct {
		RetentionDays int         `json:"retention_days"`
		People        []reportRow `json:"people"`
	}
	body, err := admin.send(context.Background(), "GET", "/api/v1/admin/reports/credentials", nil, nil, "application/json", "report", GetCredentialReportActionName)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.RetentionDays != 30 || len(rep.People) != 3 {
		t.Fatalf("report: %s", body)
	}
	within := func(what string, tm *time.Time) {
		t.Helper()
		if tm == nil || tm.Before(start.Truncate(time.Second)) || tm.After(end) {
			t.Errorf("%s: %v, want a time of the day", what, tm)
		}
	}
	type want struct {
		user                        string
		signIns, issuances          int64
		perRole                     map[string]int64
		sessions                    int
		locked, revoked, issuedSome bool
	}
	for i, w := range []want{
		{"alice", 2, 3, map[string]int64{dev: 3}, 0, false, true, true},
		{"bob", 1, 1, map[string]int64{auditor: 1}, 1, false, false, true},
		{"carol", 1, 1, map[string]int64{dev: 1}, 1, true, false, true},
	} {
		p := rep.People[i]
		if p.Provider != "demo" || p.User != w.user || p.SignIns != w.signIns || p.Issuances != w.issuances ||
			!mapsEqual(p.IssuancesPerRole, w.perRole) || p.ActiveSessions != w.sessions || p.MFAEnrolled == nil || *p.MFAEnrolled ||
			(p.LockedUntil != nil) != w.locked || (p.LastRevoked != nil) != w.revoked {
			t.Errorf("row %d: %s", i, mustJSON(p))
		}
		within(w.user+" first_seen", p.FirstSeen)
		within(w.user+" last_sign_in", p.LastSignIn)
		within(w.user+" last_issuance", p.LastIssuance)
		if w.revoked {
			within(w.user+" last_revoked", p.LastRevoked)
		}
		if w.locked && (p.LockedUntil.Before(end.Add(-time.Second)) || p.LockedUntil.After(end.Add(2*time.Minute))) {
			t.Errorf("%s locked until %v, want about a minute from now", w.user, p.LockedUntil)
		}
	}

	// The same report as CSV, from the built command, parsed back.
	home := newCLIHome(t, bin)
	env := []string{"AWS_ACCESS_KEY_ID=" + bobKeys.id, "AWS_SECRET_ACCESS_KEY=" + bobKeys.secret, "AWS_SESSION_TOKEN=" + bobKeys.token}
	code, out, errOut := home.exec(exec.Command(bin, "report", "credentials", "--url", ts.URL), "", env...)
	if code != 0 {
		t.Fatalf("idbroker report credentials: %d %s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, out)
	}
	if len(recs) != 4 || !slices.Equal(recs[0], []string{"provider", "user", "first_seen", "last_sign_in", "sign_ins", "last_issuance", "issuances",
		"issuances_per_role", "mfa_enrolled", "mfa_last_used", "mfa_failures", "recovery_codes_used", "active_sessions", "locked_until", "lock_outs", "last_revoked"}) {
		t.Fatalf("CSV:\n%s", out)
	}
	for i, p := range rep.People {
		r := recs[i+1]
		rfc := func(tm *time.Time) string {
			if tm == nil {
				return ""
			}
			return tm.UTC().Format(time.RFC3339)
		}
		if r[0] != p.Provider || r[1] != p.User || r[2] != rfc(p.FirstSeen) || r[3] != rfc(p.LastSignIn) ||
			r[4] != strconv.FormatInt(p.SignIns, 10) || r[6] != strconv.FormatInt(p.Issuances, 10) ||
			r[12] != strconv.Itoa(p.ActiveSessions) || r[15] != rfc(p.LastRevoked) || r[8] != "false" {
			t.Errorf("CSV row %d %q does not match %s", i, r, mustJSON(p))
		}
	}
	if want := dev + "=3"; recs[1][7] != want {
		t.Errorf("alice's issuances per role %q, want %q", recs[1][7], want)
	}

	// The access advisor, for Developer.
	var acc struct {
		Roles []struct {
			RoleARN string `json:"role_arn"`
			Actions []struct {
				Service, Action string
				Allowed, Denied int64
				LastAskedBy     string `json:"last_asked_by"`
			} `json:"actions"`
			Unused []string `json:"unused"`
		} `json:"roles"`
	}
	q := map[string][]string{"role": {"Developer"}}
	body, err = admin.send(context.Background(), "GET", "/api/v1/admin/reports/access", q, nil, "application/json", "report", "idbroker:GetAccessReport")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &acc); err != nil || len(acc.Roles) != 1 || acc.Roles[0].RoleARN != dev {
		t.Fatalf("access report: %v %s", err, body)
	}
	var got []string
	for _, a := range acc.Roles[0].Actions {
		got = append(got, strings.Join([]string{a.Service, a.Action, strconv.FormatInt(a.Allowed, 10), strconv.FormatInt(a.Denied, 10), a.LastAskedBy}, " "))
	}
	wantActions := []string{
		"ec2 ec2:DescribeInstances 1 0 " + carolARN,
		"s3 s3:GetObject 4 0 " + carolARN,
		"s3 s3:PutObject 0 1 " + aliceARN,
	}
	if !slices.Equal(got, wantActions) {
		t.Errorf("actions:\n got %q\nwant %q", got, wantActions)
	}
	if !slices.Equal(acc.Roles[0].Unused, []string{"s3:ListBucket", "sts:AssumeRole"}) {
		t.Errorf("unused %q, want s3:ListBucket and sts:AssumeRole (ec2:Describe* was used)", acc.Roles[0].Unused)
	}
	code, out, errOut = home.exec(exec.Command(bin, "report", "access", "--url", ts.URL, "--role", "Developer"), "", env...)
	if code != 0 || !strings.Contains(out, "unused in the last 30 days: s3:ListBucket, sts:AssumeRole") || !strings.Contains(out, "s3:PutObject") {
		t.Errorf("idbroker report access: %d\n%s%s", code, out, errOut)
	}

	// A role without the actions is refused, naming the action.
	devAPI := adminAPI(t, ts.URL, c1)
	if _, err := devAPI.send(context.Background(), "GET", "/api/v1/admin/reports/credentials", nil, nil, "text/csv", "report", GetCredentialReportActionName); err == nil ||
		!strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("a Developer reads the report: %v", err)
	}
	if n := len(auditLines(t, ts, "reports.credentials")); n != 2 {
		t.Errorf("%d reports.credentials audit events, want 2", n)
	}
}

// GetCredentialReportActionName is the broker's action (broker.GetCredentialReportAction).
const GetCredentialReportActionName = "idbroker:GetCredentialReport"

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
