package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/revocation"
	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
	"github.com/idbroker/idbroker/sts/policy"
)

// The administrators' revocation and session APIs, on the session broker
// (a static directory "corp", a memory store, a fake clock) with a real
// revocation set, and the STS's session checks scripted: every request
// authenticates as an administrator's session whose policies allow what
// the test says. What the revocations then do to credentials at the STS is
// proven end to end in cmd/idbroker.

// testBrokerProvider stands for the broker's own provider ARN.
const testBrokerProvider = "arn:aws:iam::123456789012:oidc-provider/broker.example.com"

type adminBroker struct {
	*sessionBroker
	set   *revocation.Set
	gate  *scriptedSTS
	admin *sts.Session
}

func newAdminBroker(t *testing.T) *adminBroker {
	t.Helper()
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	set := revocation.New(b.store, revocation.Options{Now: b.clk.now, SessionProviders: []string{testBrokerProvider}})
	if err := set.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	admin := &sts.Session{AccessKeyID: "ASIAADMIN00000000001", Account: moAccount, RoleARN: moRoleARN("Admin"), RoleName: "Admin", SessionName: "root"}
	gate := &scriptedSTS{STS: b.sts, sess: admin, res: policy.Result{Decision: policy.Allow}}
	b.s.cfg.STS = gate
	b.s.cfg.Revocations = set
	b.s.cfg.Revoker = nil
	b.s.cfg.AdminRoleARNs = []string{moRoleARN("Admin")}
	b.s.cfg.RoleARNs = []string{moRoleARN("Developer"), moRoleARN("Ops"), moRoleARN("Admin")}
	b.s.routes()
	return &adminBroker{sessionBroker: b, set: set, gate: gate, admin: admin}
}

func (b *adminBroker) revoke(t *testing.T, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	return b.request(t, http.MethodPost, "/api/v1/admin/revocations", "", "application/json", body)
}

func (b *adminBroker) listSessions(t *testing.T, query string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	return b.request(t, http.MethodGet, "/api/v1/admin/sessions?"+query, "", "", "")
}

// oneShot makes n sessions of user without a carrier, as one-shot logins
// (a password per credentials call) leave them.
func (b *adminBroker) oneShot(t *testing.T, user string, groups []string, n int) []string {
	t.Helper()
	var ids []string
	for range n {
		se, _, err := b.s.startSession(context.Background(), providers.Identity{Provider: "corp", Subject: "corp:" + user, Username: user, Groups: groups}, methodPassword, carrierNone)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, se.ID)
	}
	return ids
}

func (b *adminBroker) ended(t *testing.T, id string) bool {
	t.Helper()
	se, err := b.s.loadSession(context.Background(), id)
	if err != nil {
		t.Fatalf("session %s: %v", id, err)
	}
	return !se.Ended.IsZero()
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestRevokeUserReachesEverySession: a revocation by user ends every
// session of the user, more than one store listing holds (the walk goes
// to the end), already ended ones included in what the entry covers, and
// nobody else's; one entry records them for every replica, audited once.
func TestRevokeUserReachesEverySession(t *testing.T) {
	b := newAdminBroker(t)
	many := b.oneShot(t, "olga", []string{"ops"}, store.MaxListSessions+100)
	token, live := b.createSession(t, "olga")
	_, alice := b.createSession(t, "alice")
	endedBefore := many[0]
	if err := b.s.endSession(context.Background(), mustLoad(t, b, endedBefore), "test"); err != nil {
		t.Fatal(err)
	}
	rec, out := b.revoke(t, `{"user":"OLGA","provider":"corp"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	covered, ended := strs(out["sessions"]), strs(out["sessions_ended"])
	if len(covered) != len(many)+1 || len(ended) != len(many) || slices.Contains(ended, endedBefore) || !slices.Contains(covered, endedBefore) {
		t.Fatalf("covered %d, ended %d (want %d and %d)", len(covered), len(ended), len(many)+1, len(many))
	}
	for _, id := range append(many, live) {
		if !b.ended(t, id) {
			t.Fatalf("session %s lives on", id)
		}
	}
	if b.ended(t, alice) {
		t.Error("alice's session was ended")
	}
	sel := out["selector"].(map[string]any)
	if sel["kind"] != "user" || sel["value"] != "OLGA" || sel["provider"] != "corp" {
		t.Errorf("selector %v", sel)
	}
	entries := b.set.List()
	if len(entries) != 1 || entries[0].ID != out["id"] || len(entries[0].SessionIDs) != len(many)+1 || entries[0].By != b.admin.AssumedRoleARN() {
		t.Fatalf("entries %+v", entries)
	}
	// Sessions end before the revocation takes effect, and it takes effect
	// a margin later, so an issuance under way when they ended is caught.
	if nb := entries[0].NotBefore; !nb.Equal(ceilSecond(b.clk.now().Add(sessionRevocationMargin))) || out["not_before"] != nb.UTC().Format(time.RFC3339) {
		t.Errorf("not_before %v (%v)", nb, out["not_before"])
	}
	if !b.set.Revoked(sts.RevocationSubject{SessionID: live, Provider: testBrokerProvider, IssuedAt: b.clk.now()}) {
		t.Error("the set does not refuse the session's credentials")
	}
	if rec, _ := b.credentials(t, token, `{"role":"Ops"}`); rec.Code != http.StatusUnauthorized {
		t.Errorf("the ended session issued: %d", rec.Code)
	}
	ev := b.auditEvents(t, "revocation")
	if len(ev) != 1 || ev[0]["principal"] != b.admin.AssumedRoleARN() || ev[0]["selector"] != "user" || ev[0]["value"] != "OLGA" ||
		ev[0]["sessions_ended"] != float64(len(many)) || ev[0]["sessions_covered"] != float64(len(many)+1) {
		t.Errorf("audit %v", ev)
	}
	if b.gate.asked[len(b.gate.asked)-1] != "idbroker:Revoke * 192.0.2.1" {
		t.Errorf("asked %v", b.gate.asked)
	}
}

func mustLoad(t *testing.T, b *adminBroker, id string) *session {
	t.Helper()
	se, err := b.s.loadSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return se
}

// TestRevokeSelectors: each selector covers what it names: a group (also
// sessions with too many groups to index, filtered), a group at one
// provider, one session (also one the store no longer knows), a role by
// name (resolved) or ARN (also one no longer configured), an access key.
func TestRevokeSelectors(t *testing.T) {
	b := newAdminBroker(t)
	opsA := b.oneShot(t, "olga", []string{"ops"}, 2)
	devOnly := b.oneShot(t, "alice", []string{"developers"}, 1)
	var lots []string
	for i := range maxGroupIndexKeys + 2 {
		lots = append(lots, fmt.Sprint("g", i))
	}
	overflowOps := b.oneShot(t, "paul", append(lots, "OPS"), 1)
	overflowDev := b.oneShot(t, "quinn", append(lots, "developers"), 1)

	rec, out := b.revoke(t, `{"group":"ops"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("group: %d %s", rec.Code, rec.Body)
	}
	want := append(append([]string{}, opsA...), overflowOps...)
	if got := strs(out["sessions"]); !sameSet(got, want) {
		t.Errorf("group ops covered %v, want %v", got, want)
	}
	for _, id := range append(devOnly, overflowDev...) {
		if b.ended(t, id) {
			t.Errorf("%s ended by a revocation of another group", id)
		}
	}
	if rec, out := b.revoke(t, `{"group":"developers","provider":"elsewhere"}`); rec.Code != http.StatusCreated || len(strs(out["sessions"])) != 0 {
		t.Errorf("group at another provider: %d %v", rec.Code, out)
	}

	rec, out = b.revoke(t, `{"session":"`+devOnly[0]+`"}`)
	if rec.Code != http.StatusCreated || !slices.Equal(strs(out["sessions_ended"]), devOnly) || !b.ended(t, devOnly[0]) {
		t.Fatalf("session: %d %v", rec.Code, out)
	}
	unknown := strings.Repeat("A", sessionIDLen)
	if rec, out := b.revoke(t, `{"session":"`+unknown+`"}`); rec.Code != http.StatusCreated || !slices.Equal(strs(out["sessions"]), []string{unknown}) || len(strs(out["sessions_ended"])) != 0 {
		t.Errorf("unknown session: %d %v", rec.Code, out)
	}

	for _, tc := range []struct{ body, arn string }{
		{`{"role":"ops"}`, moRoleARN("Ops")},
		{`{"role":"arn:aws:iam::123456789012:role/team/Gone"}`, "arn:aws:iam::123456789012:role/team/Gone"},
	} {
		rec, out := b.revoke(t, tc.body)
		if rec.Code != http.StatusCreated || out["role_arn"] != tc.arn || len(strs(out["sessions"])) != 0 {
			t.Errorf("%s: %d %v", tc.body, rec.Code, out)
		}
		if nb, _ := time.Parse(time.RFC3339, out["not_before"].(string)); nb.After(b.clk.now().Add(time.Second)) || nb.Before(b.clk.now()) {
			t.Errorf("%s: not_before %v, now %v", tc.body, nb, b.clk.now())
		}
	}
	if rec, out := b.revoke(t, `{"access_key_id":"ASIAQWERTYUIOPASDFGH"}`); rec.Code != http.StatusCreated || out["selector"].(map[string]any)["value"] != "ASIAQWERTYUIOPASDFGH" {
		t.Errorf("access key: %d %v", rec.Code, out)
	}
	kinds := map[string]int{}
	for _, e := range b.set.List() {
		kinds[e.Selector.Kind]++
		if e.Selector.Kind == "role" && e.RoleARN == "" || e.Selector.Kind == "access_key_id" && e.AccessKeyID != "ASIAQWERTYUIOPASDFGH" {
			t.Errorf("entry %+v", e)
		}
	}
	if kinds["group"] != 2 || kinds["session"] != 2 || kinds["role"] != 2 || kinds["access_key_id"] != 1 {
		t.Errorf("entries by kind %v", kinds)
	}
	if n := len(b.auditEvents(t, "revocation")); n != 7 {
		t.Errorf("%d revocation audit events, want 7", n)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestRevokeRefusals: a request that is not exactly one well-formed
// selector, a caller without the right, a body that is not JSON: refused
// with the API's JSON shape, nothing recorded, nothing ended.
func TestRevokeRefusals(t *testing.T) {
	b := newAdminBroker(t)
	_, sid := b.createSession(t, "olga")
	for _, tc := range []struct{ name, body, msg string }{
		{"no selector", `{}`, "exactly one of"},
		{"two selectors", `{"user":"olga","group":"ops"}`, "exactly one of"},
		{"provider alone", `{"provider":"corp"}`, "exactly one of"},
		{"provider with a role", `{"role":"Ops","provider":"corp"}`, "provider narrows only"},
		{"unknown field", `{"user":"olga","reason":"x"}`, "unknown fields"},
		{"two objects", `{"user":"olga"}{}`, "exactly one JSON object"},
		{"control characters", `{"user":"olga\n"}`, "without control characters"},
		{"long user", `{"user":"` + strings.Repeat("u", maxSelectorValue+1) + `"}`, "longer than"},
		{"not a session id", `{"session":"` + sid + `x"}`, "session must be a session id"},
		{"a session token", `{"session":"` + sid + `.secret"}`, "session must be a session id"},
		{"unknown role name", `{"role":"Nobody"}`, `no role named "Nobody" is configured`},
		{"not a role ARN", `{"role":"arn:aws:iam::123456789012:user/bob"}`, "role name or a role ARN"},
		{"role ARN without account", `{"role":"arn:aws:iam:::role/Ops"}`, "role name or a role ARN"},
		{"short access key", `{"access_key_id":"ASIA123"}`, "access_key_id must be"},
		{"access key with symbols", `{"access_key_id":"ASIA12345678901234;"}`, "access_key_id must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, out := b.revoke(t, tc.body)
			e, _ := out["error"].(map[string]any)
			if rec.Code != http.StatusBadRequest || e["code"] != "InvalidRequest" || !strings.Contains(e["message"].(string), tc.msg) {
				t.Fatalf("%d %s, want 400 mentioning %q", rec.Code, rec.Body, tc.msg)
			}
		})
	}
	rec, _ := b.request(t, http.MethodPost, "/api/v1/admin/revocations", "", "text/plain", `{"user":"olga"}`)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", rec.Code)
	}
	for _, gate := range []struct {
		name string
		res  policy.Result
		sess *sts.Session
		msg  string
	}{
		{"not allowed", policy.Result{Decision: policy.ImplicitDeny}, b.admin, "no policy of the session allows idbroker:Revoke"},
		{"denied", policy.Result{Decision: policy.ExplicitDeny}, b.admin, "explicitly denies idbroker:Revoke"},
		{"not an admin role", policy.Result{Decision: policy.Allow}, &sts.Session{AccessKeyID: "ASIADEV0000000000001", Account: moAccount, RoleARN: moRoleARN("Developer"), RoleName: "Developer", SessionName: "olga"}, "admin.roles"},
	} {
		b.gate.res, b.gate.sess = gate.res, gate.sess
		rec, out := b.revoke(t, `{"user":"olga"}`)
		e, _ := out["error"].(map[string]any)
		if rec.Code != http.StatusForbidden || e["code"] != "AccessDenied" || !strings.Contains(e["message"].(string), gate.msg) {
			t.Errorf("%s: %d %s", gate.name, rec.Code, rec.Body)
		}
	}
	if len(b.set.List()) != 0 || b.ended(t, sid) || len(b.auditEvents(t, "revocation")) != 0 {
		t.Error("a refused request revoked")
	}
	if n := len(b.auditEvents(t, "revocation.refused")); n < 3 {
		t.Errorf("%d revocation.refused events", n)
	}
}

// TestRevokeStoreFailures: a store that cannot list refuses before
// anything is ended or recorded (503); one that fails half-way through a
// walk gets what was found ended and revoked, and a 503 saying to run it
// again; one that cannot record the entry is 503 saying the revocation
// holds on this replica only.
func TestRevokeStoreFailures(t *testing.T) {
	b := newAdminBroker(t)
	_, sid := b.createSession(t, "olga")
	b.s.cfg.Store = pageFailingStore{Store: b.store, failPages: true}
	rec, out := b.revoke(t, `{"user":"olga"}`)
	if e, _ := out["error"].(map[string]any); rec.Code != http.StatusServiceUnavailable || e["code"] != "ServiceUnavailable" {
		t.Fatalf("listing fails: %d %v", rec.Code, out)
	}
	b.s.cfg.Store = b.store
	if len(b.set.List()) != 0 || b.ended(t, sid) {
		t.Fatal("a failed listing revoked")
	}
	// A walk that fails half-way still revokes what it found, and says
	// the revocation is incomplete.
	b.oneShot(t, "olga", nil, adminPageSize+10)
	b.s.cfg.Store = pageFailingStore{Store: b.store, failAfterFirst: true}
	rec, out = b.revoke(t, `{"user":"olga"}`)
	e, _ := out["error"].(map[string]any)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(e["message"].(string), "found before the session store failed") {
		t.Fatalf("a walk failing half-way: %d %v", rec.Code, out)
	}
	b.s.cfg.Store = b.store
	entries := b.set.List()
	if len(entries) != 1 || len(entries[0].SessionIDs) != adminPageSize {
		t.Fatalf("entries after a half walk: %d", len(entries))
	}
	for _, id := range entries[0].SessionIDs {
		if !b.ended(t, id) {
			t.Fatalf("%s covered and not ended", id)
		}
	}
	b.s.cfg.Revocations = failingRevocations{b.set}
	rec, out = b.revoke(t, `{"user":"olga"}`)
	e, _ = out["error"].(map[string]any)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(e["message"].(string), "applies on this replica only") {
		t.Fatalf("recording fails: %d %v", rec.Code, out)
	}
	if len(b.auditEvents(t, "revocation.failed")) != 1 {
		t.Error("the failure is not audited")
	}
}

// pageFailingStore fails every page of a walk (failPages), or every page
// after the first (failAfterFirst).
type pageFailingStore struct {
	store.Store
	failPages, failAfterFirst bool
}

func (f pageFailingStore) ListSessionsPage(ctx context.Context, index, cursor string, limit int) ([]store.SessionRecord, string, error) {
	if f.failPages || (f.failAfterFirst && cursor != "") {
		return nil, "", fmt.Errorf("%w: injected", store.ErrUnavailable)
	}
	return f.Store.ListSessionsPage(ctx, index, cursor, limit)
}

type failingRevocations struct{ set *revocation.Set }

func (f failingRevocations) Add(ctx context.Context, e revocation.Entry) error {
	_ = f.set.Add(ctx, e)
	return fmt.Errorf("revocation: record %s: %w: injected", e.ID, store.ErrUnavailable)
}

// TestAccountGoneRevokesThroughTheSet: a session ended by its re-check
// (the person is gone upstream) is revoked through Config.Revocations when
// no Revoker is set.
func TestAccountGoneRevokesThroughTheSet(t *testing.T) {
	b := newAdminBroker(t)
	token, sid := b.createSession(t, "olga")
	b.s.sessions.RecheckInterval = time.Minute
	b.clk.add(2 * time.Minute)
	b.dir.setUsers(t, map[string][]string{"alice": {"developers"}})
	if rec, _ := b.credentials(t, token, `{"role":"Ops"}`); rec.Code != http.StatusUnauthorized {
		t.Fatalf("gone: %d", rec.Code)
	}
	entries := b.set.List()
	if len(entries) != 1 || !slices.Equal(entries[0].SessionIDs, []string{sid}) || entries[0].Selector.Kind != "session" || !strings.HasPrefix(entries[0].By, "idbroker") {
		t.Fatalf("entries %+v", entries)
	}
}

// TestListSessions: an administrator lists a user's sessions (names folded
// as the index folds them), a provider's, or all, a page at a time with a
// sealed cursor; ended sessions show as such; the cursor of one listing
// does not serve another; the right is idbroker:ListSessions.
func TestListSessions(t *testing.T) {
	b := newAdminBroker(t)
	olga := b.oneShot(t, "olga", []string{"ops"}, 5)
	b.oneShot(t, "alice", []string{"developers"}, 2)
	if err := b.s.endSession(context.Background(), mustLoad(t, b, olga[0]), "test"); err != nil {
		t.Fatal(err)
	}
	rec, out := b.listSessions(t, "user=Olga&provider=corp")
	if rec.Code != http.StatusOK {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	list := out["sessions"].([]any)
	if len(list) != 5 || out["next_cursor"] != nil {
		t.Fatalf("olga's sessions: %v", out)
	}
	for _, v := range list {
		s := v.(map[string]any)
		if s["user"] != "olga" || s["provider"] != "corp" || s["carrier"] != "none" || s["method"] != "pwd" {
			t.Errorf("session %v", s)
		}
		if ended := s["id"] == olga[0]; s["ended"] != ended || s["live"] == ended || (ended && s["end_reason"] != "test") {
			t.Errorf("session %v", s)
		}
	}
	if strings.Contains(rec.Body.String(), "token_hash") || strings.Contains(rec.Body.String(), upstreamCanary) {
		t.Error("the listing shows secrets")
	}

	// Pages of two, all sessions.
	seen := map[string]bool{}
	q := url.Values{"limit": {"2"}}
	for page := 0; ; page++ {
		rec, out := b.listSessions(t, q.Encode())
		if rec.Code != http.StatusOK || page > 5 {
			t.Fatalf("page %d: %d %s", page, rec.Code, rec.Body)
		}
		for _, v := range out["sessions"].([]any) {
			seen[v.(map[string]any)["id"].(string)] = true
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			break
		}
		q.Set("cursor", next)
		if page == 0 {
			// The cursor of this listing does not serve another one.
			other := url.Values{"user": {"olga"}, "cursor": {next}}
			if rec, _ := b.listSessions(t, other.Encode()); rec.Code != http.StatusBadRequest {
				t.Errorf("a cursor used for another listing: %d", rec.Code)
			}
		}
	}
	if len(seen) != 7 {
		t.Errorf("paged through %d sessions, want 7", len(seen))
	}
	for _, bad := range []string{"usr=olga", "user=olga&user=alice", "limit=0", "limit=1001", "cursor=forged", "user=%00"} {
		if rec, out := b.listSessions(t, bad); rec.Code != http.StatusBadRequest || out["error"].(map[string]any)["code"] != "InvalidRequest" {
			t.Errorf("%s: %d %s", bad, rec.Code, rec.Body)
		}
	}
	b.gate.res = policy.Result{Decision: policy.ImplicitDeny}
	if rec, _ := b.listSessions(t, "user=olga"); rec.Code != http.StatusForbidden || b.gate.asked[len(b.gate.asked)-1] != "idbroker:ListSessions * 192.0.2.1" {
		t.Errorf("not allowed: %d %v", rec.Code, b.gate.asked)
	}
	if len(b.auditEvents(t, "sessions.listed")) == 0 {
		t.Error("listings are not audited")
	}
}

// TestAdminRoutesNeedRevocations: without Config.Revocations the broker
// serves no administrators' revocation or session API.
func TestAdminRoutesNeedRevocations(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	for _, p := range []string{"/api/v1/admin/revocations", "/api/v1/admin/sessions"} {
		rec, _ := b.request(t, http.MethodPost, p, "", "application/json", `{"user":"olga"}`)
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d", p, rec.Code)
		}
		var e apiError
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if e.Error.Code != "" {
			t.Errorf("%s answered %s", p, rec.Body)
		}
	}
}
