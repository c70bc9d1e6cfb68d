package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/idbroker/idbroker/internal/store/redistest"
)

// TOTP as people and programs meet it, against two real `idbroker serve`
// replicas sharing one Redis: enrolment by the API, codes computed from the
// enrolled secret as an authenticator app computes them, the three
// provider policies, a require_mfa role, replays on the other replica,
// recovery codes, and an administrator's reset.

// mfaConfig: three static providers (password "alice" for all but bob),
// one per MFA policy; developers get Developer and Prod (require_mfa),
// admins Admin (allowed everything, idbroker:ResetMFA too).
const mfaConfig = `
server: {listen: "127.0.0.1:8080", public_url: %[1]s}
account_id: "123456789012"
region: us-east-1
keys: {dir: %[2]q}
store: {type: redis, url: %[3]q, replicas: 2}
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
      - {username: bob, password_hash: "$2a$10$ZYkh3xcRWKVhyMZNErTSr.KpqR4duZOuHdI3ODMpQzNt4qzkbK/UK", groups: [admins]}
  - name: opt
    type: static
    mfa: optional
    users:
      - {username: dave, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
  - name: strict
    type: static
    mfa: required
    users:
      - {username: carol, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
rules:
  - {name: developers, when: {groups_any: [developers]}, roles: [Developer, Prod], continue: true}
  - {name: admins, when: {groups_any: [admins]}, roles: [Admin]}
on_ambiguous: choose
roles:
  - name: Developer
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject", Resource: "*"}]}]
  - name: Prod
    require_mfa: true
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:*", Resource: "*"}]}]
  - name: Admin
    policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "*", Resource: "*"}]}]
admin: {roles: [Admin]}
`

// authenticator is a person's authenticator app: codes of its secret, each
// time step used once (the broker refuses a step used already), as an app
// shows a new code every 30 seconds.
type authenticator struct {
	secret string
	used   map[int64]bool
}

// code is a code the broker has not seen for this person: of the next
// step, this one, or the last (the broker accepts one step of drift), or,
// when those are used, the next step's once it has come.
func (a *authenticator) code(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		now := time.Now()
		cur := now.Unix() / 30
		steps := []int64{cur + 1, cur}
		if now.Unix()%30 < 25 {
			steps = append(steps, cur-1) // valid for 5 s more at least
		}
		for _, s := range steps {
			if !a.used[s] {
				a.used[s] = true
				return a.at(t, time.Unix(s*30, 0))
			}
		}
		if now.After(deadline) {
			t.Fatal("no unused TOTP step within 2 minutes")
		}
		time.Sleep(time.Duration(30-now.Unix()%30) * time.Second)
	}
}

func (a *authenticator) at(t *testing.T, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(a.secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mfaAPI posts body (JSON) to path with an optional bearer token.
func mfaAPI(t *testing.T, base, path, bearer string, body any) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	status, out, _ := sessionAPI(t, http.MethodPost, base+path, bearer, "application/json", string(raw))
	return status, out
}

// enrolByAPI enrols the session's person: the secret and URI, then the
// confirmation with a code of the secret; the recovery codes come back.
// used are the time steps the person's codes used already (the broker
// claims them per person, whatever the enrolment), nil for none.
func enrolByAPI(t *testing.T, base, token string, used map[int64]bool) (*authenticator, []string) {
	t.Helper()
	status, out := mfaAPI(t, base, "/api/v1/mfa/totp", token, map[string]any{})
	if status != 200 {
		t.Fatalf("POST /api/v1/mfa/totp: %d %v", status, out)
	}
	secret, _ := out["secret"].(string)
	uri, _ := out["otpauth_uri"].(string)
	u, err := url.Parse(uri)
	if err != nil || secret == "" || u.Scheme != "otpauth" || u.Query().Get("secret") != secret {
		t.Fatalf("enrolment answer %v", out)
	}
	if used == nil {
		used = map[int64]bool{}
	}
	app := &authenticator{secret: secret, used: used}
	status, out = mfaAPI(t, base, "/api/v1/mfa/totp/confirm", token, map[string]any{"code": "000000"})
	if status != 401 || errCode(out) != "InvalidMFACode" {
		// 000000 may be right once in a million: then this test is wrong once in a million.
		t.Fatalf("confirm with a wrong code: %d %v", status, out)
	}
	status, out = mfaAPI(t, base, "/api/v1/mfa/totp/confirm", token, map[string]any{"code": app.code(t)})
	if status != 200 {
		t.Fatalf("confirm: %d %v", status, out)
	}
	var codes []string
	for _, c := range out["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	if len(codes) != 10 {
		t.Fatalf("recovery codes %v", out)
	}
	return app, codes
}

// sessionWith signs in at provider with a password and the extra fields
// (totp_code, recovery_code).
func sessionWith(t *testing.T, base, provider, user, password string, extra map[string]any) (int, map[string]any) {
	t.Helper()
	body := map[string]any{"provider": provider, "username": user, "password": password}
	for k, v := range extra {
		body[k] = v
	}
	return mfaAPI(t, base, "/api/v1/sessions", "", body)
}

// wantCode checks an API answer's status and error code.
func wantCode(t *testing.T, what string, status int, out map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || errCode(out) != wantCode {
		t.Fatalf("%s: %d %v, want %d %s", what, status, out, wantStatus, wantCode)
	}
}

func TestMFATOTPEndToEnd(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	addr1, addr2 := freeAddr(t), freeAddr(t)
	base1, base2 := "http://"+addr1, "http://"+addr2
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if code := run(context.Background(), []string{"keys", "init", keys}, nil, &strings.Builder{}, &strings.Builder{}); code != 0 {
		t.Fatalf("keys init: exit %d", code)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, mfaConfig, base1, keys, rs.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	p1 := startBrokerProcess(t, "serve", "--config", cfgPath, "--listen", addr1)
	p2 := startBrokerProcess(t, "serve", "--config", cfgPath, "--listen", addr2)
	waitReady(t, base1)
	waitReady(t, base2)
	var secrets []string

	// Provider off, role require_mfa: alice signs in with her password;
	// Developer is hers, Prod asks for MFA and says to enrol.
	token, _ := newSession(t, base1, "demo", "alice", "alice")
	fromSession(t, base1, token, "Developer")
	status, out := mfaAPI(t, base1, "/api/v1/credentials", token, map[string]any{"role": "Prod"})
	wantCode(t, "Prod before enrolment", status, out, 401, "MFARequired")
	if msg := fmt.Sprint(out); !strings.Contains(msg, "enrol") || !strings.Contains(msg, "role/Prod") {
		t.Errorf("MFARequired before enrolment does not say to enrol: %v", out)
	}
	// She enrols by the API; the confirmation is her session's MFA.
	app, recovery := enrolByAPI(t, base1, token, nil)
	secrets = append(secrets, app.secret)
	secrets = append(secrets, recovery...)
	if status, cur, _ := sessionAPI(t, http.MethodGet, base2+"/api/v1/sessions/current", token, "", ""); status != 200 || cur["mfa"] != true {
		t.Errorf("the enrolling session has no MFA: %d %v", status, cur)
	}
	fromSession(t, base2, token, "Prod")
	status, out = mfaAPI(t, base1, "/api/v1/mfa/totp", token, map[string]any{})
	wantCode(t, "a second enrolment", status, out, 409, "MFAAlreadyEnrolled")

	// A new session (provider off: no code needed to sign in) is asked to
	// step up for Prod; a wrong code is refused; the right one grants it,
	// and the session keeps its MFA.
	token2, _ := newSession(t, base2, "demo", "alice", "alice")
	status, out = mfaAPI(t, base2, "/api/v1/credentials", token2, map[string]any{"role": "Prod"})
	wantCode(t, "Prod without MFA", status, out, 401, "MFARequired")
	if !strings.Contains(fmt.Sprint(out), "totp_code") {
		t.Errorf("MFARequired of an enrolled person does not say to send totp_code: %v", out)
	}
	status, out = mfaAPI(t, base2, "/api/v1/credentials", token2, map[string]any{"role": "Prod", "totp_code": "12345x"})
	wantCode(t, "a malformed code", status, out, 401, "InvalidMFACode")
	stepUp := app.code(t)
	status, out = mfaAPI(t, base2, "/api/v1/credentials", token2, map[string]any{"role": "Prod", "totp_code": stepUp})
	if status != 200 || out["AccessKeyId"] == nil {
		t.Fatalf("Prod after the step-up: %d %v", status, out)
	}
	secrets = append(secrets, out["SecretAccessKey"].(string))
	fromSession(t, base1, token2, "Prod")
	// The step-up's code, replayed at the other replica, is refused.
	token3, _ := newSession(t, base1, "demo", "alice", "alice")
	status, out = mfaAPI(t, base1, "/api/v1/credentials", token3, map[string]any{"role": "Prod", "totp_code": stepUp})
	wantCode(t, "the step-up code replayed at the other replica", status, out, 401, "InvalidMFACode")
	// A recovery code works once, on either replica.
	status, out = mfaAPI(t, base1, "/api/v1/credentials", token3, map[string]any{"role": "Prod", "recovery_code": recovery[0]})
	if status != 200 {
		t.Fatalf("Prod with a recovery code: %d %v", status, out)
	}
	token4, _ := newSession(t, base2, "demo", "alice", "alice")
	status, out = mfaAPI(t, base2, "/api/v1/credentials", token4, map[string]any{"role": "Prod", "recovery_code": recovery[0]})
	wantCode(t, "a recovery code used twice", status, out, 401, "InvalidMFACode")
	status, out = mfaAPI(t, base2, "/api/v1/credentials", token4, map[string]any{"role": "Prod", "totp_code": "123456", "recovery_code": recovery[1]})
	wantCode(t, "both codes", status, out, 400, "InvalidRequest")

	// Provider optional: dave is not enrolled and signs in with a password;
	// once enrolled, he must bring a code to sign in.
	dtoken, _ := newSession(t, base1, "opt", "dave", "alice")
	fromSession(t, base1, dtoken, "Developer")
	dapp, drecovery := enrolByAPI(t, base1, dtoken, nil)
	secrets = append(secrets, dapp.secret)
	secrets = append(secrets, drecovery...)
	status, out = sessionWith(t, base2, "opt", "dave", "alice", nil)
	wantCode(t, "an enrolled person's sign-in without a code", status, out, 401, "MFARequired")
	status, out = sessionWith(t, base2, "opt", "dave", "alice", map[string]any{"totp_code": "000000"})
	if status != 401 || errCode(out) != "InvalidMFACode" {
		t.Fatalf("sign-in with a wrong code: %d %v", status, out)
	}
	dcode := dapp.code(t)
	status, out = sessionWith(t, base2, "opt", "dave", "alice", map[string]any{"totp_code": dcode})
	if status != 201 {
		t.Fatalf("sign-in with password and code: %d %v", status, out)
	}
	fromSession(t, base1, out["session_token"].(string), "Developer")
	status, out = sessionWith(t, base1, "opt", "dave", "alice", map[string]any{"totp_code": dcode})
	wantCode(t, "the sign-in code replayed at the other replica", status, out, 401, "InvalidMFACode")
	// A one-shot login brings its code too.
	status, out = apiLogin(t, base1, map[string]any{"provider": "opt", "username": "dave", "password": "alice", "role": "Developer"})
	wantCode(t, "a one-shot login without a code", status, out, 401, "MFARequired")
	status, out = apiLogin(t, base1, map[string]any{"provider": "opt", "username": "dave", "password": "alice", "role": "Developer", "recovery_code": drecovery[4]})
	if status != 200 {
		t.Fatalf("a one-shot login with a recovery code: %d %v", status, out)
	}

	// Provider required: carol signs in (to enrol) but gets nothing until
	// she has enrolled.
	ctoken, _ := newSession(t, base2, "strict", "carol", "alice")
	status, out = mfaAPI(t, base2, "/api/v1/credentials", ctoken, map[string]any{"role": "Developer"})
	wantCode(t, "required provider, not enrolled", status, out, 401, "MFARequired")
	if !strings.Contains(fmt.Sprint(out), "enrol") {
		t.Errorf("MFARequired does not say to enrol: %v", out)
	}
	capp, _ := enrolByAPI(t, base2, ctoken, nil)
	secrets = append(secrets, capp.secret)
	fromSession(t, base1, ctoken, "Developer")
	status, out = apiLogin(t, base2, map[string]any{"provider": "strict", "username": "carol", "password": "alice", "role": "Developer", "totp_code": capp.code(t)})
	if status != 200 {
		t.Fatalf("carol one-shot with a code: %d %v", status, out)
	}

	// An administrator resets alice's TOTP (idbroker:ResetMFA); a
	// Developer may not.
	admin := oneShot(t, base1, "bob", "bob", "Admin")
	dev := fromSession(t, base1, token, "Developer")
	for _, tc := range []struct {
		name   string
		creds  minted
		status int
		code   string
	}{{"developer", dev, 403, "AccessDenied"}, {"admin", admin, 200, ""}} {
		env := map[string]string{"AWS_ACCESS_KEY_ID": tc.creds.id, "AWS_SECRET_ACCESS_KEY": tc.creds.secret, "AWS_SESSION_TOKEN": tc.creds.token}
		c, err := newAdminClient(base2, "us-east-1", func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		var ans struct {
			Reset []struct {
				Provider    string `json:"provider"`
				User        string `json:"user"`
				WasEnrolled bool   `json:"was_enrolled"`
			} `json:"reset"`
		}
		err = c.call(context.Background(), "POST", "/api/v1/admin/mfa/reset", nil, map[string]string{"user": "Alice", "provider": "demo"}, 200, &ans, "the reset", "idbroker:ResetMFA")
		switch {
		case tc.status == 200 && (err != nil || len(ans.Reset) != 1 || !ans.Reset[0].WasEnrolled):
			t.Fatalf("%s: reset: %v %+v", tc.name, err, ans)
		case tc.status != 200 && (err == nil || !strings.Contains(err.Error(), tc.code)):
			t.Fatalf("%s: reset: %v, want %s", tc.name, err, tc.code)
		}
	}
	// alice is no longer enrolled: her codes are refused, she is told to
	// enrol, and can.
	token5, _ := newSession(t, base1, "demo", "alice", "alice")
	status, out = mfaAPI(t, base1, "/api/v1/credentials", token5, map[string]any{"role": "Prod", "totp_code": app.at(t, time.Now())})
	wantCode(t, "a code after the reset", status, out, 401, "InvalidMFACode")
	status, out = mfaAPI(t, base1, "/api/v1/credentials", token5, map[string]any{"role": "Prod"})
	wantCode(t, "Prod after the reset", status, out, 401, "MFARequired")
	if !strings.Contains(fmt.Sprint(out), "enrol") {
		t.Errorf("after the reset, MFARequired does not say to enrol: %v", out)
	}
	app2, _ := enrolByAPI(t, base1, token5, app.used)
	secrets = append(secrets, app2.secret)
	fromSession(t, base2, token5, "Prod")

	logs := p1.stderr.String() + p2.stderr.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a replica's log holds a secret or recovery code (%.4s…)", s)
		}
	}
	for _, ev := range []string{"mfa.enrolled", "mfa.verified", "mfa.failed", "mfa.recovery_used", "mfa.reset"} {
		if !strings.Contains(logs, "event="+ev+" ") && !strings.Contains(logs, `"event":"`+ev+`"`) {
			t.Errorf("no %s audit event in the replicas' logs", ev)
		}
	}
}
