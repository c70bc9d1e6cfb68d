package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

const moAccount = "123456789012"

func moRoleARN(name string) string { return "arn:aws:iam::" + moAccount + ":role/" + name }

// recordingSTS is the STS with AssumeRoleWithWebIdentity replaced: it
// mints credentials for as long as asked (from the broker's clock) and
// records every call.
type recordingSTS struct {
	STS
	now    func() time.Time
	mu     sync.Mutex
	in     []sts.AssumeRoleWithWebIdentityInput
	samlIn []sts.AssumeRoleWithSAMLInput
}

// AssumeRoleWithSAML records the call and mints credentials for as long as
// asked.
func (f *recordingSTS) AssumeRoleWithSAML(_ context.Context, in *sts.AssumeRoleWithSAMLInput) (*sts.AssumeRoleWithSAMLOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.samlIn = append(f.samlIn, *in)
	n := len(f.samlIn)
	return &sts.AssumeRoleWithSAMLOutput{
		Credentials: sts.Credentials{
			AccessKeyID:     fmt.Sprintf("ASIAMOSAML%010d", n),
			SecretAccessKey: fmt.Sprintf("secret-mo-saml-%d", n),
			SessionToken:    fmt.Sprintf("token-mo-saml-%d", n),
			Expiration:      f.now().Add(time.Duration(*in.DurationSeconds) * time.Second),
		},
		AssumedRoleUser: sts.AssumedRoleUser{Arn: "arn:aws:sts::" + moAccount + ":assumed-role/" + awsspec.RoleNameFromARN(in.RoleArn) + "/saml"},
	}, nil
}

func (f *recordingSTS) samlCalls() []sts.AssumeRoleWithSAMLInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sts.AssumeRoleWithSAMLInput(nil), f.samlIn...)
}

func (f *recordingSTS) AssumeRoleWithWebIdentity(_ context.Context, in *sts.AssumeRoleWithWebIdentityInput) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.in = append(f.in, *in)
	n := len(f.in)
	secs := int32(3600)
	if in.DurationSeconds != nil {
		secs = *in.DurationSeconds
	}
	return &sts.AssumeRoleWithWebIdentityOutput{
		Credentials: sts.Credentials{
			AccessKeyID:     fmt.Sprintf("ASIAMO%014d", n),
			SecretAccessKey: fmt.Sprintf("secret-mo-%d", n),
			SessionToken:    fmt.Sprintf("token-mo-%d", n),
			Expiration:      f.now().Add(time.Duration(secs) * time.Second),
		},
		AssumedRoleUser: sts.AssumedRoleUser{Arn: "arn:aws:sts::" + moAccount + ":assumed-role/" + awsspec.RoleNameFromARN(in.RoleArn) + "/" + in.RoleSessionName},
	}, nil
}

func (f *recordingSTS) calls() []sts.AssumeRoleWithWebIdentityInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sts.AssumeRoleWithWebIdentityInput(nil), f.in...)
}

// directory is a password and ID-token provider "corp": any non-empty
// password signs a known user in; an ID token is the username.
type directory struct {
	users map[string]providers.Identity
}

func (d directory) Login(_ context.Context, user, _ string) (providers.Identity, error) {
	id, ok := d.users[user]
	if !ok {
		return providers.Identity{}, providers.ErrInvalidCredentials
	}
	return id, nil
}

func (d directory) IdentityFromToken(ctx context.Context, raw string) (providers.Identity, error) {
	return d.Login(ctx, raw, "x")
}

func (directory) Issuer() string { return "https://corp.example.com" }

// moRules: Developer for developers (30m cap), Ops for ops (no cap), Admin
// for admins (role maximum 1h), and a rule whose session tag renders a
// value with the reserved aws: prefix (dropped).
const moRules = `
rules:
  - name: developers
    when: {groups_any: [developers]}
    roles: [Developer]
    duration: 30m
    continue: true
  - name: ops
    when: {groups_any: [ops]}
    roles: [Ops]
    continue: true
  - name: admins
    when: {groups_any: [admins]}
    roles: [Admin]
    continue: true
  - name: tagged
    when: {groups_any: [tagged]}
    roles: [Auditor]
    session_tags: {team: 'aws:{{ .Username }}'}
on_ambiguous: choose
`

type moBroker struct {
	s    *Server
	sts  *recordingSTS
	logs *lockedBuf
	now  time.Time
}

func newMOBroker(t *testing.T) *moBroker {
	t.Helper()
	const pub = "http://broker.example.com"
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewIssuer(pub, keys.Signing, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mapping.ParseConfig([]byte(moRules))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(cfg, mapping.Env{AccountID: moAccount, Partition: "aws", Roles: map[string]mapping.RoleInfo{
		"Developer": {MaxDuration: 4 * time.Hour}, "Ops": {MaxDuration: 4 * time.Hour},
		"Admin": {MaxDuration: time.Hour}, "Auditor": {MaxDuration: 4 * time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The real STS serves the Query API (for AssumeRoleWithLDAPIdentity);
	// the broker's own calls go to the recording fake.
	ring, err := sts.GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sts.New(sts.Config{AccountID: moAccount, Partition: "aws", Region: "us-east-1", PublicURL: pub, Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	dir := directory{users: map[string]providers.Identity{}}
	for user, groups := range map[string][]string{
		"dev": {"developers"}, "multi": {"developers", "ops"}, "admin": {"admins"},
		"tagged": {"tagged"}, "tagdev": {"tagged", "developers"}, "nobody": {"contractors"},
		"tagmulti": {"tagged", "developers", "ops"},
	} {
		dir.users[user] = providers.Identity{Provider: "corp", Subject: user, Username: user, Groups: groups}
	}
	rec := &recordingSTS{STS: svc, now: clock}
	logs := &lockedBuf{}
	s, err := New(Config{PublicURL: pub, Providers: []Provider{{Name: "corp", Type: "ldap", Impl: dir}},
		Mapper: m, STS: rec, Issuer: iss, CookieKey: keys.Cookie, Now: clock, Store: store.NewMemory(clock),
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	fn, err := s.LDAPIdentityAction("corp")
	if err != nil {
		t.Fatal(err)
	}
	svc.RegisterAction(LDAPIdentityActionName, fn)
	return &moBroker{s: s, sts: rec, logs: logs, now: now}
}

// post sends a request to the broker and decodes the JSON answer.
func (b *moBroker) post(t *testing.T, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "http://broker.example.com"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	b.s.ServeHTTP(rec, req)
	out := map[string]any{}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: body not JSON: %s", path, rec.Body)
		}
	} else {
		out["raw"] = rec.Body.String()
	}
	return rec.Code, out
}

func (b *moBroker) api(t *testing.T, body map[string]any) (int, map[string]any) {
	t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b.post(t, "/api/v1/credentials", "application/json", string(j))
}

// auditEvents are the audit lines of one event, decoded.
func (b *moBroker) auditEvents(t *testing.T, event string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.logs.String()), "\n") {
		var m map[string]any
		if line == "" || json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["msg"] == "audit" && m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// TestCredentialsDurationNote: the JSON API and the token exchange say how
// long the session lasts and, when it is shorter than asked, why; the
// Expiration agrees with DurationSeconds.
func TestCredentialsDurationNote(t *testing.T) {
	cases := []struct {
		name     string
		body     map[string]any
		wantSecs int
		wantNote string // "" = no DurationNote key
	}{
		{"rule cap under the request", map[string]any{"username": "dev", "duration_seconds": 7200}, 1800, "limited to 30m0s by the rule's cap of 30m0s"},
		{"role maximum under the request", map[string]any{"username": "admin", "duration_seconds": 7200}, 3600, "limited to 1h0m0s by the role's maximum session duration of 1h0m0s"},
		{"request met", map[string]any{"username": "multi", "role": "Ops", "duration_seconds": 7200}, 7200, ""},
		{"default met", map[string]any{"username": "admin"}, 3600, ""},
		{"default over the rule cap", map[string]any{"username": "dev"}, 1800, "the rule's cap of 30m0s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newMOBroker(t)
			tc.body["provider"], tc.body["password"] = "corp", "pw"
			status, out := b.api(t, tc.body)
			if status != http.StatusOK {
				t.Fatalf("status %d %v", status, out)
			}
			checkDuration(t, b, out, tc.wantSecs, tc.wantNote)
		})
	}
	t.Run("token exchange", func(t *testing.T) {
		b := newMOBroker(t)
		form := url.Values{"grant_type": {GrantTypeTokenExchange}, "subject_token": {"dev"},
			"subject_token_type": {TokenTypeIDToken}, "provider": {"corp"}}
		status, out := b.post(t, "/oauth2/token", "application/x-www-form-urlencoded", form.Encode())
		if status != http.StatusOK {
			t.Fatalf("status %d %v", status, out)
		}
		checkDuration(t, b, out, 1800, "limited to 30m0s by the rule's cap")
		if out["expires_in"] != float64(1800) {
			t.Errorf("expires_in %v", out["expires_in"])
		}
	})
}

func checkDuration(t *testing.T, b *moBroker, out map[string]any, wantSecs int, wantNote string) {
	t.Helper()
	for _, k := range []string{"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "RoleArn", "AssumedRoleArn"} {
		if _, ok := out[k]; !ok {
			t.Errorf("credential_process field %s missing: %v", k, out)
		}
	}
	if out["DurationSeconds"] != float64(wantSecs) {
		t.Errorf("DurationSeconds %v, want %d", out["DurationSeconds"], wantSecs)
	}
	note, hasNote := out["DurationNote"].(string)
	switch {
	case wantNote == "" && hasNote:
		t.Errorf("DurationNote %q, want none", note)
	case wantNote != "" && !strings.Contains(note, wantNote):
		t.Errorf("DurationNote %q, want one containing %q", note, wantNote)
	}
	want := b.now.Add(time.Duration(wantSecs) * time.Second).UTC().Format(time.RFC3339)
	if out["Expiration"] != want {
		t.Errorf("Expiration %v, want %s", out["Expiration"], want)
	}
	calls := b.sts.calls()
	if len(calls) != 1 || calls[0].DurationSeconds == nil || int(*calls[0].DurationSeconds) != wantSecs {
		t.Errorf("STS calls %+v, want one for %ds", calls, wantSecs)
	}
}

// TestRefusalAuditNamesDroppedGrant: a grant dropped because its session tag
// renders a value with the reserved aws: prefix is refused on every path,
// and the refusal's audit line names the rule, its index and the reason.
// When another grant is issued, the drop is audited as grant.dropped.
func TestRefusalAuditNamesDroppedGrant(t *testing.T) {
	ldap := func(user, role string) string {
		v := url.Values{"Action": {LDAPIdentityActionName}, "Version": {"2011-06-15"}, "LDAPUsername": {user}, "LDAPPassword": {"pw"}}
		if role != "" {
			v.Set("RoleArn", moRoleARN(role))
		}
		return v.Encode()
	}
	exchange := func(user, scope string) string {
		v := url.Values{"grant_type": {GrantTypeTokenExchange}, "subject_token": {user}, "subject_token_type": {TokenTypeIDToken}, "provider": {"corp"}}
		if scope != "" {
			v.Set("scope", scope)
		}
		return v.Encode()
	}
	apiBody := func(user, role string) string {
		j, _ := json.Marshal(map[string]any{"provider": "corp", "username": user, "password": "pw", "role": role})
		return string(j)
	}
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, path, ctype, body string
		wantStatus              int
		wantDecision            string
	}{
		{"API, nothing left", "/api/v1/credentials", "application/json", apiBody("tagged", ""), 403, "deny"},
		{"API, the dropped role asked for", "/api/v1/credentials", "application/json", apiBody("tagdev", "Auditor"), 403, "grant"},
		{"token exchange, nothing left", "/oauth2/token", form, exchange("tagged", ""), 400, "deny"},
		{"token exchange, the dropped role asked for", "/oauth2/token", form, exchange("tagdev", "Auditor"), 400, "grant"},
		{"LDAP identity, nothing left", "/", form, ldap("tagged", ""), 403, "deny"},
		{"LDAP identity, the dropped role asked for", "/", form, ldap("tagdev", "Auditor"), 403, "grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newMOBroker(t)
			status, _ := b.post(t, tc.path, tc.ctype, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			if n := len(b.sts.calls()); n != 0 {
				t.Fatalf("%d credentials issued", n)
			}
			checkRefusalAudit(t, b, tc.wantDecision)
		})
	}
	t.Run("browser sign-in, nothing left", func(t *testing.T) {
		b := newMOBroker(t)
		if rec := b.browserSignIn(t, "tagged"); rec.Code != http.StatusForbidden {
			t.Fatalf("status %d", rec.Code)
		}
		checkRefusalAudit(t, b, "deny")
	})
	t.Run("API, another role issued", func(t *testing.T) {
		b := newMOBroker(t)
		status, out := b.api(t, map[string]any{"provider": "corp", "username": "tagdev", "password": "pw"})
		if status != http.StatusOK || out["RoleArn"] != moRoleARN("Developer") {
			t.Fatalf("status %d %v", status, out)
		}
		ev := b.auditEvents(t, "grant.dropped")
		if len(ev) != 1 || !droppedNames(ev[0], "tagged", 3, "reserved prefix aws:") {
			t.Fatalf("grant.dropped events %v", ev)
		}
		if strings.Contains(b.logs.String(), "secret-mo-") || strings.Contains(b.logs.String(), "token-mo-") {
			t.Error("a secret reached the log")
		}
	})
}

// TestChoiceRequiredAudit: several roles granted and none named is not a
// refusal on any path (the JSON API's 409, the token exchange's
// invalid_request, the LDAP action's AccessDenied listing the roles, the
// browser's chooser): no issue.refused, and the grant the rules dropped is
// audited as grant.dropped, the same on every path.
func TestChoiceRequiredAudit(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, path, ctype, body string
		wantStatus              int
		wantInBody              string
	}{
		{"API", "/api/v1/credentials", "application/json", `{"provider":"corp","username":"tagmulti","password":"pw"}`, http.StatusConflict, "RoleChoiceRequired"},
		{"token exchange", "/oauth2/token", form, url.Values{"grant_type": {GrantTypeTokenExchange}, "subject_token": {"tagmulti"}, "subject_token_type": {TokenTypeIDToken}, "provider": {"corp"}}.Encode(), http.StatusBadRequest, "invalid_request"},
		{"LDAP identity", "/", form, url.Values{"Action": {LDAPIdentityActionName}, "Version": {"2011-06-15"}, "LDAPUsername": {"tagmulti"}, "LDAPPassword": {"pw"}}.Encode(), http.StatusForbidden, "pass RoleArn with one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newMOBroker(t)
			status, out := b.post(t, tc.path, tc.ctype, tc.body)
			if status != tc.wantStatus || !strings.Contains(fmt.Sprint(out), tc.wantInBody) {
				t.Fatalf("got %d %v, want %d with %q", status, out, tc.wantStatus, tc.wantInBody)
			}
			for _, arn := range []string{moRoleARN("Developer"), moRoleARN("Ops")} {
				if !strings.Contains(fmt.Sprint(out), arn) {
					t.Errorf("the answer does not list %s: %v", arn, out)
				}
			}
			checkChoiceAudit(t, b)
		})
	}
	t.Run("browser sign-in", func(t *testing.T) {
		b := newMOBroker(t)
		if rec := b.browserSignIn(t, "tagmulti"); rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `name="role"`) != 2 {
			t.Fatalf("status %d:\n%s", rec.Code, rec.Body)
		}
		checkChoiceAudit(t, b)
	})
}

// browserSignIn signs user in with the password form, checks the sign-in
// sends the browser to the portal with a session cookie, and returns the
// portal's answer.
func (b *moBroker) browserSignIn(t *testing.T, user string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://broker.example.com/login/corp", nil))
	m := formTokenRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no CSRF token in the form: %s", rec.Body)
	}
	req := httptest.NewRequest(http.MethodPost, "http://broker.example.com/login/corp",
		strings.NewReader(url.Values{"username": {user}, "password": {"pw"}, "csrf_token": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cookies := rec.Result().Cookies()
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/portal" {
		t.Fatalf("sign-in: status %d, location %q", rec.Code, rec.Header().Get("Location"))
	}
	req = httptest.NewRequest(http.MethodGet, "http://broker.example.com/portal", nil)
	for _, c := range append(cookies, rec.Result().Cookies()...) {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	return rec
}

func checkChoiceAudit(t *testing.T, b *moBroker) {
	t.Helper()
	if n := len(b.sts.calls()); n != 0 {
		t.Fatalf("%d credentials issued", n)
	}
	if ev := b.auditEvents(t, "issue.refused"); len(ev) != 0 {
		t.Errorf("a role choice was audited as a refusal: %v", ev)
	}
	ev := b.auditEvents(t, "grant.dropped")
	if len(ev) != 1 || ev[0]["decision"] != "choose" || !droppedNames(ev[0], "tagged", 3, "reserved prefix aws:") {
		t.Errorf("grant.dropped events %v", ev)
	}
}

func checkRefusalAudit(t *testing.T, b *moBroker, wantDecision string) {
	t.Helper()
	ev := b.auditEvents(t, "issue.refused")
	if len(ev) != 1 {
		t.Fatalf("%d issue.refused events, want 1:\n%s", len(ev), b.logs)
	}
	e := ev[0]
	if e["decision"] != wantDecision || e["decision_reason"] == nil || e["reason"] == nil {
		t.Errorf("refusal without the decision and its reason: %v", e)
	}
	if !droppedNames(e, "tagged", 3, "session_tags.team: tag value \"aws:"+e["user"].(string)+"\" uses the reserved prefix aws:") {
		t.Errorf("refusal does not name the dropped rule and why: %v", e)
	}
	if strings.Contains(b.logs.String(), `"password"`) {
		t.Error("a password field reached the log")
	}
}

// droppedNames reports whether an audit event's dropped list has an entry
// for rule (at index) whose reason contains why.
func droppedNames(e map[string]any, rule string, index int, why string) bool {
	list, _ := e["dropped"].([]any)
	for _, d := range list {
		m, _ := d.(map[string]any)
		r, _ := m["reason"].(string)
		if m["rule"] == rule && m["rule_index"] == float64(index) && strings.Contains(r, why) && strings.Contains(r, moRoleARN("Auditor")) {
			return true
		}
	}
	return false
}

// TestAPIRolesList: "roles" answers {"credentials":[…]} with one object per
// role, in the order asked; "role" with "roles" asks for their union, "role"
// first, each role once; a role of the list that is not granted refuses the
// request before anything is issued. Each issued credential is audited with
// its rule and rule index.
func TestAPIRolesList(t *testing.T) {
	cases := []struct {
		name      string
		body      map[string]any
		wantRoles []string // nil: refused
		wantRules []string
		wantIdx   []int
	}{
		{"two roles", map[string]any{"roles": []string{"Developer", "Ops"}}, []string{"Developer", "Ops"}, []string{"developers", "ops"}, []int{0, 1}},
		{"order kept", map[string]any{"roles": []string{"Ops", "Developer"}}, []string{"Ops", "Developer"}, []string{"ops", "developers"}, []int{1, 0}},
		{"one role in a list is still a list", map[string]any{"roles": []string{"Ops"}}, []string{"Ops"}, []string{"ops"}, []int{1}},
		{"ARNs and names", map[string]any{"roles": []string{moRoleARN("Ops"), "Developer"}}, []string{"Ops", "Developer"}, []string{"ops", "developers"}, []int{1, 0}},
		{"duplicates issued once", map[string]any{"roles": []string{"Developer", moRoleARN("Developer")}}, []string{"Developer"}, []string{"developers"}, []int{0}},
		{"role and roles: union, role first", map[string]any{"role": "Ops", "roles": []string{"Developer", "Ops"}}, []string{"Ops", "Developer"}, []string{"ops", "developers"}, []int{1, 0}},
		{"a role not granted", map[string]any{"roles": []string{"Developer", "Admin"}}, nil, nil, nil},
		{"role not granted beside roles", map[string]any{"role": "Admin", "roles": []string{"Developer"}}, nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newMOBroker(t)
			tc.body["provider"], tc.body["username"], tc.body["password"] = "corp", "multi", "pw"
			status, out := b.api(t, tc.body)
			if tc.wantRoles == nil {
				e, _ := out["error"].(map[string]any)
				if status != http.StatusForbidden || e["code"] != "RoleNotGranted" {
					t.Fatalf("got %d %v, want 403 RoleNotGranted", status, out)
				}
				if n := len(b.sts.calls()); n != 0 || len(b.auditEvents(t, "issue")) != 0 {
					t.Fatalf("%d credentials issued", n)
				}
				if ev := b.auditEvents(t, "issue.refused"); len(ev) != 1 || !strings.Contains(fmt.Sprint(ev[0]["reason"]), "Admin") {
					t.Fatalf("refusal audit %v", ev)
				}
				return
			}
			if status != http.StatusOK || len(out) != 1 {
				t.Fatalf("got %d %v", status, out)
			}
			list, ok := out["credentials"].([]any)
			if !ok || len(list) != len(tc.wantRoles) {
				t.Fatalf("credentials %v, want %d objects", out["credentials"], len(tc.wantRoles))
			}
			issued := b.auditEvents(t, "issue")
			if len(issued) != len(tc.wantRoles) {
				t.Fatalf("%d issue events, want %d", len(issued), len(tc.wantRoles))
			}
			for i, c := range list {
				m := c.(map[string]any)
				if m["RoleArn"] != moRoleARN(tc.wantRoles[i]) || m["Version"] != float64(1) || m["AccessKeyId"] == "" {
					t.Errorf("credentials[%d] = %v, want %s", i, m, tc.wantRoles[i])
				}
				ev := issued[i]
				if ev["role"] != moRoleARN(tc.wantRoles[i]) || ev["rule"] != tc.wantRules[i] || ev["rule_index"] != float64(tc.wantIdx[i]) || ev["access_key_id"] != m["AccessKeyId"] {
					t.Errorf("issue event %d = %v, want rule %s index %d", i, ev, tc.wantRules[i], tc.wantIdx[i])
				}
			}
		})
	}
}

// scriptedSTS is the STS with its session checks scripted: every request
// authenticates as sess, and Authorize answers res/err and records the
// questions.
type scriptedSTS struct {
	STS
	sess  *sts.Session
	res   policy.Result
	err   error
	asked []string
}

func (f *scriptedSTS) Authenticate(*http.Request, []byte) (*sts.Session, error) {
	return f.sess, nil
}

func (f *scriptedSTS) Authorize(_ *sts.Session, action, resource string, reqCtx map[string][]string) (policy.Result, error) {
	f.asked = append(f.asked, action+" "+resource+" "+strings.Join(reqCtx["aws:SourceIp"], ","))
	return f.res, f.err
}

// TestExplainRequiresPolicyAllow: a session of an admin.roles role must
// also be allowed idbroker:Explain on * by its policies: a session policy
// or role policy that does not allow it, an explicit deny, a session that
// cannot be evaluated are refused; a broker without an Explainer does not
// serve the explain API at all (404).
func TestExplainRequiresPolicyAllow(t *testing.T) {
	adminSess := &sts.Session{AccessKeyID: "ASIAEXPLAIN000000001", Account: moAccount, RoleARN: moRoleARN("Admin"), RoleName: "Admin", SessionName: "bob"}
	devSess := &sts.Session{AccessKeyID: "ASIAEXPLAIN000000002", Account: moAccount, RoleARN: moRoleARN("Developer"), RoleName: "Developer", SessionName: "alice"}
	allow := policy.Result{Decision: policy.Allow}
	cases := []struct {
		name        string
		sess        *sts.Session
		res         policy.Result
		err         error
		noExplainer bool
		wantStatus  int
		wantAsked   bool
		wantMsg     string
	}{
		{"admin allowed", adminSess, allow, nil, false, 200, true, ""},
		{"session policy does not allow it", adminSess, policy.Result{Decision: policy.ImplicitDeny}, nil, false, 403, true, "no policy of the session allows idbroker:Explain"},
		{"explicit deny", adminSess, policy.Result{Decision: policy.ExplicitDeny}, nil, false, 403, true, "explicitly denies"},
		{"session cannot be evaluated", adminSess, allow, errors.New("role gone"), false, 403, true, "cannot be evaluated"},
		{"no explainer: no route", adminSess, allow, nil, true, 404, false, ""},
		{"not an admin role, whatever its policies", devSess, allow, nil, false, 403, false, "admin.roles"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newMOBroker(t)
			st := &scriptedSTS{STS: b.s.cfg.STS, sess: tc.sess, res: tc.res, err: tc.err}
			b.s.cfg.STS = st
			b.s.cfg.AdminRoleARNs = []string{moRoleARN("Admin")}
			if !tc.noExplainer {
				b.s.cfg.Explainer = b.s.cfg.Mapper.(*mapping.Mapper)
			}
			mux := http.NewServeMux()
			b.s.decisionRoutes(mux, http.NewCrossOriginProtection())
			q := url.Values{"identity": {`{"provider":"corp","username":"dev","groups":["developers"]}`}}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "http://broker.example.com/api/v1/explain?"+q.Encode(), nil)
			req.RemoteAddr = "192.0.2.7:4711"
			mux.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", rec.Code, body, tc.wantStatus)
			}
			switch tc.wantStatus {
			case http.StatusOK:
				if !strings.Contains(string(body), `"decision": "grant"`) {
					t.Errorf("no explanation: %s", body)
				}
			case http.StatusNotFound:
				if strings.Contains(string(body), `"rules"`) || len(b.auditEvents(t, "explain.refused")) != 0 {
					t.Errorf("the explain API answered without an explainer: %s", body)
				}
			default:
				var e apiError
				if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != "AccessDenied" || !strings.Contains(e.Error.Message, tc.wantMsg) {
					t.Errorf("answer %s, want AccessDenied mentioning %q", body, tc.wantMsg)
				}
				if strings.Contains(string(body), `"rules"`) {
					t.Error("an explanation was given")
				}
				if ev := b.auditEvents(t, "explain.refused"); len(ev) != 1 {
					t.Errorf("explain.refused events %v", ev)
				}
			}
			asked := len(st.asked) > 0
			if asked != tc.wantAsked {
				t.Fatalf("policy engine asked %v, want %v", st.asked, tc.wantAsked)
			}
			if asked && st.asked[0] != "idbroker:Explain * 192.0.2.7" {
				t.Errorf("asked %q", st.asked[0])
			}
		})
	}
}
