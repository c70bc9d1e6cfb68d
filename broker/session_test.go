package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/providers"
)

// TestSessionAPILifeCycle: a program creates a session with a password,
// reads it, gets credentials with the bearer token alone (the broker JWT
// names the session), ends it, and the token is dead for every route.
func TestSessionAPILifeCycle(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	rec, out := b.request(t, http.MethodPost, "/api/v1/sessions", "", "application/json", `{"provider":"corp","username":"olga","password":"pw"}`)
	if rec.Code != http.StatusCreated || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	token, sid := out["session_token"].(string), out["session_id"].(string)
	if !strings.HasPrefix(token, sid+".") || len(token) != sessionIDLen+1+sessionSecretLen {
		t.Errorf("token %q does not name session %q", token, sid)
	}
	if got := out["expires_at"]; got != b.clk.now().Add(DefaultSessionDuration).UTC().Format(time.RFC3339) {
		t.Errorf("expires_at %v, want now + 8h", got)
	}
	if out["user"] != "olga" || out["provider"] != "corp" || fmt.Sprint(out["roles"]) != fmt.Sprint([]any{moRoleARN("Developer"), moRoleARN("Ops")}) {
		t.Errorf("answer %v", out)
	}

	rec, out = b.request(t, http.MethodGet, "/api/v1/sessions/current", token, "", "")
	if rec.Code != http.StatusOK || out["session_id"] != sid || out["user"] != "olga" || out["last_recheck_at"] == nil || len(out["roles"].([]any)) != 2 {
		t.Fatalf("current: %d %v", rec.Code, out)
	}

	// Credentials without a password; several roles: the same 409 as the
	// password form, then each role as asked.
	if rec, out := b.credentials(t, token, `{}`); rec.Code != http.StatusConflict || out["error"].(map[string]any)["code"] != "RoleChoiceRequired" {
		t.Fatalf("no role named: %d %v", rec.Code, out)
	}
	rec, out = b.credentials(t, token, `{"role":"Ops","duration_seconds":900}`)
	if rec.Code != http.StatusOK || out["RoleArn"] != moRoleARN("Ops") || out["DurationSeconds"] != float64(900) {
		t.Fatalf("bearer credentials: %d %v", rec.Code, out)
	}
	calls := b.sts.calls()
	if len(calls) != 1 || jwtClaims(t, calls[0].WebIdentityToken)["sid"] != sid {
		t.Fatalf("the broker JWT does not name the session: %v", calls)
	}
	if rec, out := b.credentials(t, token, `{"roles":["Developer","Ops"]}`); rec.Code != http.StatusOK || len(out["credentials"].([]any)) != 2 {
		t.Fatalf("roles list: %d %v", rec.Code, out)
	}
	// A bearer request takes nobody else's name.
	if rec, _ := b.credentials(t, token, `{"provider":"corp","username":"alice","password":"pw"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("bearer with a login in the body: %d", rec.Code)
	}

	rec, _ = b.request(t, http.MethodDelete, "/api/v1/sessions/current", token, "", "")
	if rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	issued := len(b.sts.calls())
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/sessions/current", ""},
		{http.MethodDelete, "/api/v1/sessions/current", ""},
		{http.MethodPost, "/api/v1/credentials", `{"role":"Ops"}`},
	} {
		ct := ""
		if tc.body != "" {
			ct = "application/json"
		}
		rec, out := b.request(t, tc.method, tc.path, token, ct, tc.body)
		checkInvalidSession(t, tc.method+" "+tc.path+" after DELETE", rec, out)
	}
	if len(b.sts.calls()) != issued {
		t.Error("an ended session issued")
	}
	if ev := b.auditEvents(t, "session.ended"); len(ev) != 1 || ev[0]["session_id"] != sid || ev[0]["user"] != "olga" {
		t.Errorf("session.ended audit %v", ev)
	}
	if strings.Contains(b.logs.String(), strings.TrimPrefix(token, sid+".")) {
		t.Error("the session token's secret reached the log")
	}
}

func checkInvalidSession(t *testing.T, what string, rec *httptest.ResponseRecorder, out map[string]any) {
	t.Helper()
	e, _ := out["error"].(map[string]any)
	if rec.Code != http.StatusUnauthorized || e["code"] != "InvalidSession" || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
		t.Errorf("%s: %d %v %v, want 401 InvalidSession", what, rec.Code, rec.Header().Get("WWW-Authenticate"), out)
	}
}

// TestSessionTokenRefused: anything but the live session's exact token is
// 401 InvalidSession, and nothing is issued: a malformed token, another
// scheme, two headers, an unknown id, the right id with another secret, an
// expired session, a browser's session cookie in place of the bearer (and
// the bearer token in place of the cookie).
func TestSessionTokenRefused(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{Duration: time.Hour})
	token, sid := b.createSession(t, "alice")
	otherToken, _ := b.createSession(t, "alice")
	br, _ := b.signInBrowser(t, "alice")
	cookie := br.cookies[sessionCookieSecure].Value
	secret := strings.TrimPrefix(token, sid+".")
	otherSecret := otherToken[strings.IndexByte(otherToken, '.')+1:]
	flip := func(s string) string {
		c := byte('A')
		if s[5] == 'A' {
			c = 'B'
		}
		return s[:5] + string(c) + s[6:]
	}
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"no header", nil},
		{"empty bearer", []string{"Bearer "}},
		{"not a token", []string{"Bearer not-a-token"}},
		{"basic scheme", []string{"Basic " + token}},
		{"two headers", []string{"Bearer " + token, "Bearer " + token}},
		{"token and junk", []string{"Bearer " + token + " x"}},
		{"unknown id", []string{"Bearer " + flip(sid) + "." + secret}},
		{"another session's secret", []string{"Bearer " + sid + "." + otherSecret}},
		{"secret flipped", []string{"Bearer " + sid + "." + flip(secret)}},
		{"padded", []string{"Bearer " + token + "="}},
		{"a browser's cookie", []string{"Bearer " + cookie}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, b.pub+"/api/v1/credentials", strings.NewReader(`{"role":"Developer"}`))
			req.Header.Set("Content-Type", "application/json")
			for _, h := range tc.header {
				req.Header.Add("Authorization", h)
			}
			rec := httptest.NewRecorder()
			b.s.ServeHTTP(rec, req)
			var out map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			if tc.header == nil {
				// No Authorization at all is the password form, which
				// needs a provider.
				if rec.Code != http.StatusBadRequest {
					t.Errorf("no header: %d", rec.Code)
				}
				return
			}
			checkInvalidSession(t, tc.name, rec, out)
		})
	}
	if n := len(b.sts.calls()); n != 0 {
		t.Fatalf("%d credentials issued to refused tokens", n)
	}
	// Nor is a bearer token a browser's cookie.
	thief := newTestBrowser(b.s, b.pub)
	thief.cookies[sessionCookieSecure] = &http.Cookie{Name: sessionCookieSecure, Value: token}
	if rec := thief.get("/portal"); rec.Code != http.StatusForbidden {
		t.Errorf("bearer token as a cookie: %d", rec.Code)
	}
	// Control: the token itself works; an hour later it has expired.
	if rec, _ := b.credentials(t, token, `{"role":"Developer"}`); rec.Code != http.StatusOK {
		t.Fatalf("control: %d %s", rec.Code, rec.Body)
	}
	b.clk.add(time.Hour)
	rec, out := b.credentials(t, token, `{"role":"Developer"}`)
	checkInvalidSession(t, "expired", rec, out)
}

// TestSessionExpiry: a session lasts sessions.duration, never past the
// upstream login's own end, and a login whose upstream has ended makes no
// session.
func TestSessionExpiry(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{Duration: 2 * time.Hour})
	now := b.clk.now()
	for _, tc := range []struct {
		name     string
		expiry   time.Time
		want     time.Time
		refused  bool
		duration time.Duration
	}{
		{"the configured duration", time.Time{}, now.Add(2 * time.Hour), false, 0},
		{"the upstream ends first", now.Add(30 * time.Minute), now.Add(30 * time.Minute), false, 0},
		{"the upstream ends later", now.Add(5 * time.Hour), now.Add(2 * time.Hour), false, 0},
		{"the upstream has ended", now.Add(-time.Second), time.Time{}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := providers.Identity{Provider: "corp", Subject: "alice", Username: "alice", Groups: []string{"developers"}, Expiry: tc.expiry}
			se, token, err := b.s.startSession(context.Background(), id, methodSAML, carrierBearer)
			if tc.refused {
				if !refusedAs(err, classSessionTooShort) {
					t.Fatalf("got %v, want a refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !se.Expires.Equal(tc.want) {
				t.Errorf("expires %v, want %v", se.Expires, tc.want)
			}
			rec, err := b.store.GetSession(context.Background(), se.ID)
			if err != nil || !rec.Expires.Equal(tc.want.Add(sessionRecordGrace).Truncate(time.Millisecond)) {
				t.Errorf("record %v expires %v, want the session's end + %s", err, rec.Expires, sessionRecordGrace)
			}
			got, err := b.s.sessionFromToken(context.Background(), token, carrierBearer)
			if err != nil || got.ID != se.ID {
				t.Errorf("token: %v", err)
			}
		})
	}
	if errs := (Sessions{Duration: 13 * time.Hour, RecheckInterval: time.Second}).Validate(); len(errs) != 2 ||
		!strings.HasPrefix(errs[0].Error(), "duration: ") || !strings.HasPrefix(errs[1].Error(), "recheck_interval: ") {
		t.Errorf("Validate: %v", errs)
	}
}

// TestSessionRecordSealed: the store holds the session sealed: neither the
// groups, the upstream state nor the token's secret can be read in it (the
// session is found by its index keys), and a record moved to another id
// does not open.
func TestSessionRecordSealed(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	token, sid := b.createSession(t, "olga")
	recs, err := b.store.ListSessions(context.Background(), userIndex("corp", "olga"))
	if err != nil || len(recs) != 1 || recs[0].ID != sid {
		t.Fatalf("listed by user: %v %v", recs, err)
	}
	data := string(recs[0].Data)
	for _, s := range []string{"developers", upstreamCanary, token[len(sid)+1:]} {
		if strings.Contains(data, s) {
			t.Errorf("%q readable in the stored record", s)
		}
	}
	for _, key := range []string{providerIndex("corp"), groupIndex("corp", "Developers"), groupIndex("corp", "ops")} {
		if l, err := b.store.ListSessions(context.Background(), key); err != nil || len(l) != 1 {
			t.Errorf("listed under %s: %d %v", key, len(l), err)
		}
	}
	se, err := b.s.loadSession(context.Background(), sid)
	if err != nil || string(se.Upstream) != upstreamCanary+"-0" || se.Identity.Upstream != nil {
		t.Fatalf("load: %v, upstream %q", err, se.Upstream)
	}
	moved := recs[0]
	moved.ID = flipID(sid)
	if err := b.store.PutSession(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.loadSession(context.Background(), moved.ID); !errors.Is(err, errNoSession) {
		t.Errorf("a record under another id opened: %v", err)
	}
}

func flipID(id string) string {
	if id[0] == 'A' {
		return "B" + id[1:]
	}
	return "A" + id[1:]
}

// TestSessionIndexKeys: a session is listed by provider, user and each
// group (folded as the rules fold names); a user with more groups than
// index keys, or a group too long for a key, is listed under the
// provider's overflow key instead, so a listing by group still finds it.
func TestSessionIndexKeys(t *testing.T) {
	many := make([]string, maxGroupIndexKeys+1)
	for i := range many {
		many[i] = fmt.Sprintf("g%02d", i)
	}
	long := strings.Repeat("x", store.MaxIndexKeyLen)
	for _, tc := range []struct {
		name     string
		groups   []string
		overflow bool
	}{
		{"few", []string{"Developers", "ops"}, false},
		{"too many", many, true},
		{"too long", []string{"ops", long}, true},
		{"a NUL", []string{"ops", "a\x00b"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			se := &session{Identity: providers.Identity{Provider: "corp", Username: "olga", Groups: tc.groups}}
			keys := se.indexKeys()
			if len(keys) > store.MaxIndexKeys {
				t.Fatalf("%d keys", len(keys))
			}
			for _, k := range keys {
				if len(k) > store.MaxIndexKeyLen || strings.ContainsRune(k, 0) {
					t.Errorf("key %q is not a store key", k)
				}
			}
			if !slices.Contains(keys, "provider:corp") || !slices.Contains(keys, "user:corp/olga") {
				t.Errorf("keys %v", keys)
			}
			if got := slices.Contains(keys, groupOverflowIndex("corp")); got != tc.overflow {
				t.Errorf("overflow %v, want %v: %v", got, tc.overflow, keys)
			}
			if !tc.overflow && !slices.Contains(keys, "group:corp/developers") {
				t.Errorf("keys %v", keys)
			}
		})
	}
	if k := userIndex("corp", strings.Repeat("u", 600)); len(k) > store.MaxIndexKeyLen || !strings.HasPrefix(k, "user:corp/#") {
		t.Errorf("long username key %q", k)
	}
}

// TestSessionEndedWinsOverUpdate: a re-check that saves a session ended
// meanwhile (by a sign-out on another replica) cannot bring it back.
func TestSessionEndedWinsOverUpdate(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	token, sid := b.createSession(t, "alice")
	ctx := context.Background()
	stale, err := b.s.loadSession(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.s.loadSession(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.s.endSession(ctx, other, "signed out"); err != nil {
		t.Fatal(err)
	}
	stale.Checked = b.clk.now()
	if err := b.s.updateSession(ctx, stale); !errors.Is(err, errNoSession) {
		t.Fatalf("update of an ended session: %v", err)
	}
	if _, err := b.s.sessionFromToken(ctx, token, carrierBearer); !refusedAs(err, classInvalidSession) {
		t.Fatalf("the session came back: %v", err)
	}
}

// failingStore is a memory store whose session writes and claims fail.
type failingStore struct{ *store.Memory }

var errStoreGone = fmt.Errorf("connection refused: %w", store.ErrUnavailable)

func (failingStore) PutSession(context.Context, store.SessionRecord) error { return errStoreGone }
func (failingStore) Claim(context.Context, string, time.Time) (bool, error) {
	return false, errStoreGone
}

// TestSessionStoreDown: when the store cannot be written, no session is
// made and nothing is issued, on every surface (fail closed).
func TestSessionStoreDown(t *testing.T) {
	b := newSessionBroker(t, "https://broker.example.com", Sessions{})
	b.s.cfg.Store = failingStore{b.store}
	for _, tc := range []struct {
		path, body string
		status     int
	}{
		{"/api/v1/sessions", `{"provider":"corp","username":"alice","password":"pw"}`, http.StatusServiceUnavailable},
		{"/api/v1/credentials", `{"provider":"corp","username":"alice","password":"pw"}`, http.StatusServiceUnavailable},
	} {
		rec, out := b.request(t, http.MethodPost, tc.path, "", "application/json", tc.body)
		if rec.Code != tc.status || out["error"].(map[string]any)["code"] != "ServiceUnavailable" {
			t.Errorf("%s: %d %v", tc.path, rec.Code, out)
		}
	}
	br := newTestBrowser(b.s, b.pub)
	form := br.get("/login/corp")
	m := formTokenRE.FindStringSubmatch(form.Body.String())
	rec := br.post("/login/corp", map[string][]string{"csrf_token": {m[1]}, "username": {"alice"}, "password": {"pw"}})
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "Invalid username") {
		t.Errorf("browser: %d %s", rec.Code, rec.Body)
	}
	if n := len(b.sts.calls()); n != 0 {
		t.Fatalf("%d credentials issued without a session", n)
	}
}
