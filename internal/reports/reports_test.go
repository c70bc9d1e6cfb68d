package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeMFA stands in for internal/mfa (the broker wires the real one).
type fakeMFA map[string]time.Time

func (f fakeMFA) MFAStatus(_ context.Context, provider, username string) (bool, time.Time, error) {
	t, ok := f[provider+"/"+username]
	return ok, t, nil
}

// sources stands in for the broker's session index and lock-out.
type sources struct {
	sessions map[string]int
	locked   map[string]time.Time
}

func (s sources) ActiveSessions(_ context.Context, p, u string) (int, error) {
	return s.sessions[p+"/"+u], nil
}
func (s sources) LockedUntil(_ context.Context, p, u string) (time.Time, error) {
	return s.locked[p+"/"+u], nil
}

const (
	devARN   = "arn:aws:iam::123456789012:role/Developer"
	adminARN = "arn:aws:iam::123456789012:role/team/Admin"
)

var devPolicy = []byte(`{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","ec2:Describe*"],"Resource":"*"},
 {"Effect":"Deny","Action":"s3:DeleteObject","Resource":"*"},
 {"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}`)

var managed = []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"S3:GetObject","Resource":"*"}}`)

func newTestRecorder(t *testing.T, st store.Store, c *clock, mfa MFAStatus) *Recorder {
	t.Helper()
	r, err := New(st, Options{
		Now: c.now, FlushInterval: time.Hour, MFA: mfa,
		RolePolicies: map[string][][]byte{devARN: {devPolicy, managed}, adminARN: {[]byte(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func ms(t time.Time) *time.Time { u := t.UTC().Truncate(time.Second); return &u }

func TestCredentialReportRows(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	st := store.NewMemory(c.now)
	t0 := c.now()
	mfaUsed := t0.Add(5 * time.Hour)
	r := newTestRecorder(t, st, c, fakeMFA{"corp/alice": mfaUsed})
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	for _, ev := range []PersonEvent{
		{Kind: SignIn, Provider: "corp", Username: "Alice", At: at(0)},
		{Kind: Issue, Provider: "corp", Username: "alice", Role: devARN, At: at(1)},
		{Kind: Issue, Provider: "corp", Username: "alice", Role: devARN, At: at(2)},
		{Kind: SignIn, Provider: "corp", Username: "alice", At: at(3)},
		{Kind: Issue, Provider: "corp", Username: "alice", Role: adminARN, At: at(4)},
		{Kind: MFAFailed, Provider: "corp", Username: "alice", At: at(4)},
		{Kind: Revoked, Provider: "corp", Username: "alice", Note: "revoked by x", At: at(6)},
		{Kind: SignIn, Provider: "ldap", Username: "=cmd|' /C calc'!A0", At: at(2)},
		{Kind: SignIn, Provider: "", Username: "nobody", At: at(2)}, // ignored: no provider
	} {
		r.Person(ev)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	src := sources{sessions: map[string]int{"corp/alice": 2}, locked: map[string]time.Time{"ldap/=cmd|' /C calc'!A0": at(7)}}
	rep, err := r.CredentialReport(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.People) != 2 || rep.RetentionDays != 90 {
		t.Fatalf("report %+v", rep)
	}
	alice, odd := rep.People[0], rep.People[1]
	yes := true
	want := PersonRow{
		Provider: "corp", User: "alice", FirstSeen: ms(at(0)), LastSignIn: ms(at(3)), SignIns: 2,
		LastIssuance: ms(at(4)), Issuances: 3, IssuancesPerRole: map[string]int64{devARN: 2, adminARN: 1},
		MFAEnrolled: &yes, MFALastUsed: ms(mfaUsed), MFAFailures: 1, ActiveSessions: 2, LastRevoked: ms(at(6)),
	}
	if !sameRow(alice, want) {
		t.Errorf("alice:\n got %s\nwant %s", rowString(alice), rowString(want))
	}
	if odd.LockedUntil == nil || !odd.LockedUntil.Equal(at(7)) || odd.MFAEnrolled == nil || *odd.MFAEnrolled {
		t.Errorf("second row: %s", rowString(odd))
	}

	// The CSV parses back to the same rows; the formula is defused.
	var buf bytes.Buffer
	if err := rep.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], CredentialReportColumns) || len(recs) != 3 {
		t.Fatalf("csv: %q", recs)
	}
	wantAlice := []string{"corp", "alice", "2026-03-01T09:00:00Z", "2026-03-01T12:00:00Z", "2", "2026-03-01T13:00:00Z", "3",
		devARN + "=2 " + adminARN + "=1", "true", "2026-03-01T14:00:00Z", "1", "0", "2", "", "0", "2026-03-01T15:00:00Z"}
	if !slices.Equal(recs[1], wantAlice) {
		t.Errorf("alice's csv row:\n got %q\nwant %q", recs[1], wantAlice)
	}
	if recs[2][1] != "'=cmd|' /C calc'!A0" {
		t.Errorf("a formula username is written %q", recs[2][1])
	}
}

func sameRow(a, b PersonRow) bool {
	ta := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	bb := func(x, y *bool) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Provider == b.Provider && a.User == b.User && ta(a.FirstSeen, b.FirstSeen) && ta(a.LastSignIn, b.LastSignIn) &&
		a.SignIns == b.SignIns && ta(a.LastIssuance, b.LastIssuance) && a.Issuances == b.Issuances &&
		maps.Equal(a.IssuancesPerRole, b.IssuancesPerRole) && bb(a.MFAEnrolled, b.MFAEnrolled) && ta(a.MFALastUsed, b.MFALastUsed) &&
		a.MFAFailures == b.MFAFailures && a.RecoveryCodesUsed == b.RecoveryCodesUsed && a.ActiveSessions == b.ActiveSessions &&
		ta(a.LockedUntil, b.LockedUntil) && a.LockOuts == b.LockOuts && ta(a.LastRevoked, b.LastRevoked)
}

func rowString(p PersonRow) string {
	var buf bytes.Buffer
	_ = (&CredentialReport{People: []PersonRow{p}}).WriteCSV(&buf)
	return strings.ReplaceAll(buf.String(), "\r\n", " | ")
}

func TestAccessReport(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	st := store.NewMemory(c.now)
	r := newTestRecorder(t, st, c, nil)
	t0 := c.now()
	alice := "arn:aws:sts::123456789012:assumed-role/Developer/alice"
	bob := "arn:aws:sts::123456789012:assumed-role/Developer/bob"
	for _, ev := range []AccessEvent{
		{RoleARN: devARN, Action: "s3:GetObject", Principal: alice, Allowed: true, At: t0},
		{RoleARN: devARN, Action: "S3:getobject", Principal: bob, Allowed: true, At: t0.Add(time.Minute)},
		{RoleARN: devARN, Action: "s3:PutObject", Principal: alice, Allowed: false, At: t0.Add(2 * time.Minute)},
		{RoleARN: devARN, Action: "ec2:DescribeInstances", Principal: bob, Allowed: false, At: t0},
		{RoleARN: devARN, Action: "not an action", Principal: bob, Allowed: true, At: t0}, // ignored
	} {
		r.Access(ev)
	}
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	rep, err := r.AccessReport(t.Context(), "developer")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Roles) != 1 || rep.Roles[0].RoleARN != devARN {
		t.Fatalf("roles %+v", rep.Roles)
	}
	ra := rep.Roles[0]
	var got []string
	for _, a := range ra.Actions {
		got = append(got, a.Service+" "+a.Action+" "+itoa(a.Allowed)+"/"+itoa(a.Denied)+" "+a.LastAskedBy)
	}
	want := []string{
		"ec2 ec2:DescribeInstances 0/1 " + bob,
		"s3 s3:GetObject 2/0 " + bob,
		"s3 s3:PutObject 0/1 " + alice,
	}
	if !slices.Equal(got, want) {
		t.Errorf("actions:\n got %q\nwant %q", got, want)
	}
	// Denied asks do not use an action; the wildcard is listed as written.
	if !slices.Equal(ra.Unused, []string{"s3:ListBucket", "ec2:Describe*"}) {
		t.Errorf("unused %q", ra.Unused)
	}
	if _, err := r.AccessReport(t.Context(), "Nobody"); !errors.Is(err, ErrUnknownRole) {
		t.Errorf("unknown role: %v", err)
	}
	all, err := r.AccessReport(t.Context(), "")
	if err != nil || len(all.Roles) != 2 || all.Roles[1].RoleARN != adminARN || !slices.Equal(all.Roles[1].Unused, []string{"*"}) {
		t.Fatalf("every role: %+v %v", all, err)
	}
	// After the retention with no use, the actions leave and all is unused.
	c.advance(DefaultRetention + time.Hour)
	rep, _ = r.AccessReport(t.Context(), devARN)
	if len(rep.Roles[0].Actions) != 0 || len(rep.Roles[0].Unused) != 3 {
		t.Errorf("after the retention: %+v", rep.Roles[0])
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestAllowedActionsAndGlob(t *testing.T) {
	got := AllowedActions([][]byte{devPolicy, managed, []byte(`not json`), []byte(`{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}`)})
	if !slices.Equal(got, []string{"s3:GetObject", "s3:ListBucket", "ec2:Describe*", "sts:AssumeRole"}) {
		t.Errorf("AllowedActions: %q", got)
	}
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"ec2:describe*", "ec2:describeinstances", true},
		{"ec2:describe*", "ec2:describe", true},
		{"ec2:describe*", "ec2:runinstances", false},
		{"*", "s3:getobject", true},
		{"s3:get?bject", "s3:getobject", true},
		{"s3:get?bject", "s3:getbject", false},
		{"s3:*object", "s3:getobjectacl", false},
		{"s3:*object*", "s3:getobjectacl", true},
	} {
		if got := globMatch(tc.p, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}

// blockingStore holds UpdateAggregates until released (a store that hangs).
type blockingStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) UpdateAggregates(ctx context.Context, us []store.AggregateUpdate) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.UpdateAggregates(ctx, us)
}

// TestQueueFullDrops: while the writer waits for the store, events past the
// queue's size are dropped and counted, and recording never blocks.
func TestQueueFullDrops(t *testing.T) {
	c := &clock{t: time.Now()}
	st := &blockingStore{Store: store.NewMemory(c.now), entered: make(chan struct{}, 1), release: make(chan struct{})}
	r, err := New(st, Options{Now: c.now, QueueSize: 4, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r.Person(PersonEvent{Kind: SignIn, Provider: "p", Username: "u"})
	go func() { _ = r.Flush(context.Background()) }()
	<-st.entered // the writer is stuck in the store
	for range 4 + 3 {
		r.Person(PersonEvent{Kind: SignIn, Provider: "p", Username: "u"})
	}
	if r.Dropped() != 3 {
		t.Fatalf("dropped %d, want 3", r.Dropped())
	}
	close(st.release)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	rec, err := st.GetAggregate(t.Context(), setPerson, personID("p", "u"))
	if err != nil || rec.Fields[fSignIns].N != 5 {
		t.Fatalf("sign-ins written: %+v %v, want 5 (1 + the 4 queued)", rec.Fields[fSignIns], err)
	}
}

func TestRetentionValidated(t *testing.T) {
	for _, d := range []time.Duration{time.Hour, store.MaxLifetime + time.Hour, -time.Hour} {
		if ValidateRetention(d) == nil {
			t.Errorf("retention %s accepted", d)
		}
		if _, err := New(store.NewMemory(nil), Options{Retention: d}); err == nil {
			t.Errorf("New with retention %s", d)
		}
	}
	for _, d := range []time.Duration{0, 24 * time.Hour, 90 * 24 * time.Hour, store.MaxLifetime} {
		if err := ValidateRetention(d); err != nil {
			t.Errorf("retention %s: %v", d, err)
		}
	}
}

func TestAuditKind(t *testing.T) {
	for _, tc := range []struct {
		event, reason string
		want          PersonKind
		ok            bool
	}{
		{"login", "", SignIn, true},
		{"issue", "", Issue, true},
		{"session.revoked", "account gone", Revoked, true},
		{"session.ended", "revoked by arn:aws:sts::1:assumed-role/A/b (revocation 1)", Revoked, true},
		{"session.ended", "signed out", Revoked, false},
		{"mfa.recovery_used", "", RecoveryCodeUsed, true},
		{"login.refused", "", 0, false},
	} {
		k, ok := AuditKind(tc.event, tc.reason)
		if ok != tc.ok || (ok && k != tc.want) {
			t.Errorf("AuditKind(%q, %q) = %v %v", tc.event, tc.reason, k, ok)
		}
	}
}
