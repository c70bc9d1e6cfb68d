package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/static"
	"github.com/idbroker/idbroker/sts"
)

// refreshingStatic is a real providers/static directory whose users a test
// can change, with the re-check static providers have (the user still
// there, groups read again): Refresh looks the user up again, and a user
// no longer listed is gone. Its logins carry an upstream state (a canary)
// that Refresh checks it gets back and rotates. fail makes Refresh answer
// ErrUnavailable.
type refreshingStatic struct {
	mu       sync.Mutex
	p        *static.Provider
	fail     bool
	refresh  atomic.Int32
	upstream string
}

// staticUsers builds static users (bcrypt at its lowest cost) with password
// "pw" and the given groups.
func staticUsers(t testing.TB, groups map[string][]string) []static.User {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var out []static.User
	for u, g := range groups {
		out = append(out, static.User{Username: u, PasswordHash: string(h), Groups: g})
	}
	return out
}

func (d *refreshingStatic) setUsers(t testing.TB, groups map[string][]string) {
	t.Helper()
	p, err := static.New("corp", static.Config{Users: staticUsers(t, groups)})
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.p = p
}

func (d *refreshingStatic) current() *static.Provider {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.p
}

func (d *refreshingStatic) setFail(v bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = v
}

func (d *refreshingStatic) Login(ctx context.Context, user, pass string) (providers.Identity, error) {
	id, err := d.current().Login(ctx, user, pass)
	if err == nil {
		id.Upstream = []byte(d.upstream + "-0")
	}
	return id, err
}

func (d *refreshingStatic) Refresh(ctx context.Context, id providers.Identity) (providers.Identity, error) {
	n := d.refresh.Add(1)
	d.mu.Lock()
	fail := d.fail
	d.mu.Unlock()
	if fail {
		return providers.Identity{}, fmt.Errorf("directory down: %w", providers.ErrUnavailable)
	}
	if !strings.HasPrefix(string(id.Upstream), d.upstream+"-") {
		return providers.Identity{}, fmt.Errorf("upstream state not handed back: %w", providers.ErrUnavailable)
	}
	fresh, err := d.current().Lookup(ctx, id.Username)
	if errors.Is(err, providers.ErrInvalidCredentials) {
		return providers.Identity{}, fmt.Errorf("%w: %w", providers.ErrAccountGone, err)
	}
	if err != nil {
		return providers.Identity{}, err
	}
	fresh.Upstream = fmt.Appendf(nil, "%s-%d", d.upstream, n)
	return fresh, nil
}

// swapMapper is the mapper in force, replaced as a configuration reload
// replaces it.
type swapMapper struct {
	m atomic.Pointer[mapping.Mapper]
}

func (s *swapMapper) Map(id providers.Identity) mapping.Decision { return s.m.Load().Map(id) }

func (s *swapMapper) set(t testing.TB, rules string) {
	t.Helper()
	cfg, err := mapping.ParseConfig([]byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Compile(cfg, mapping.Env{AccountID: moAccount, Partition: "aws", Roles: map[string]mapping.RoleInfo{
		"Developer": {MaxDuration: 4 * time.Hour, Description: "Build and test in the development account."},
		"Ops":       {MaxDuration: 4 * time.Hour, Description: "Operate production services."},
		"Admin":     {MaxDuration: time.Hour},
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.m.Store(m)
}

// sessionRules: developers get Developer, ops get Ops (a choice when both).
const sessionRules = `
rules:
  - {name: devs, when: {groups_any: [developers]}, roles: [Developer], continue: true}
  - {name: ops, when: {groups_any: [ops]}, roles: [Ops]}
on_ambiguous: choose
`

// recordingRevoker records the sessions it is asked to revoke.
type recordingRevoker struct {
	mu  sync.Mutex
	ids []string
}

func (r *recordingRevoker) RevokeSessions(_ context.Context, ids []string, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, ids...)
	return nil
}

func (r *recordingRevoker) revoked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// sessionBroker is a broker over a real static directory "corp", a memory
// store and the recording STS, all on one settable clock.
type sessionBroker struct {
	s       *Server
	pub     string
	clk     *clock
	dir     *refreshingStatic
	mapper  *swapMapper
	sts     *recordingSTS
	store   *store.Memory
	revoker *recordingRevoker
	logs    *lockedBuf
}

// upstreamCanary is the upstream state the directory's logins carry.
const upstreamCanary = "CANARY-upstream-refresh-9c41"

func newSessionBroker(t *testing.T, pub string, sessions Sessions) *sessionBroker {
	t.Helper()
	keys, err := GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	iss, err := NewIssuer(pub, keys.Signing, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := sts.GenerateKeyRing()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := sts.New(sts.Config{AccountID: moAccount, Partition: "aws", Region: "us-east-1", PublicURL: pub, Keys: ring})
	if err != nil {
		t.Fatal(err)
	}
	b := &sessionBroker{pub: pub, clk: clk, dir: &refreshingStatic{upstream: upstreamCanary}, mapper: &swapMapper{},
		sts: &recordingSTS{STS: svc, now: clk.now}, store: store.NewMemory(clk.now), revoker: &recordingRevoker{}, logs: &lockedBuf{}}
	b.dir.setUsers(t, map[string][]string{"alice": {"developers"}, "olga": {"developers", "ops"}, "nobody": {"contractors"}})
	b.mapper.set(t, sessionRules)
	b.s, err = New(Config{PublicURL: pub, Providers: []Provider{{Name: "corp", Type: "static", Impl: b.dir}},
		Mapper: b.mapper, STS: b.sts, Issuer: iss, CookieKey: keys.Cookie, Now: clk.now, Store: b.store,
		Sessions: sessions, Revoker: b.revoker,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request sends a request with an optional bearer token and JSON body.
func (b *sessionBroker) request(t *testing.T, method, path, bearer, contentType, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, b.pub+path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	out := map[string]any{}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body not JSON: %s", method, path, rec.Body)
		}
	}
	return rec, out
}

func (b *sessionBroker) createSession(t *testing.T, user string) (token, id string) {
	t.Helper()
	rec, out := b.request(t, http.MethodPost, "/api/v1/sessions", "", "application/json", `{"provider":"corp","username":"`+user+`","password":"pw"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create session: %d %s", rec.Code, rec.Body)
	}
	token, _ = out["session_token"].(string)
	id, _ = out["session_id"].(string)
	if token == "" || id == "" {
		t.Fatalf("session answer %v", out)
	}
	return token, id
}

// credentials asks for credentials with a bearer token.
func (b *sessionBroker) credentials(t *testing.T, token, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	return b.request(t, http.MethodPost, "/api/v1/credentials", token, "application/json", body)
}

// auditEvents are the audit lines of one event, decoded.
func (b *sessionBroker) auditEvents(t *testing.T, event string) []map[string]any {
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

// jwtClaims decodes (without verifying) the claims of a broker JWT.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}
