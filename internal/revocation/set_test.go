package revocation

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/sts"
)

// TestSelectorsAgainstAncestry: every selector kind against a credential's
// own fields and its chained ancestry, the provider rule for session ids,
// and the NotBefore boundary in whole seconds.
func TestSelectorsAgainstAncestry(t *testing.T) {
	clk := &clock{}
	base := subject(clk)
	chained := base
	chained.AccessKeyID, chained.RoleARN = "ASIACHILDCHILDCHILD1", roleB
	chained.ParentAccessKeyIDs, chained.ParentRoleARNs = []string{base.AccessKeyID}, []string{roleA}
	chained.ParentIssuedAt = []time.Time{base.IssuedAt.Add(-time.Minute)}

	type check struct {
		name string
		c    sts.RevocationSubject
		want bool
	}
	cases := []struct {
		name   string
		entry  Entry
		checks []check
	}{
		{"session", Entry{Selector: Selector{Kind: KindSession, Value: "s1"}}, []check{
			{"its credentials", withSession(base, "s1"), true},
			{"chained from them", withSession(chained, "s1"), true},
			{"the broker's SAML provider", func() sts.RevocationSubject { c := withSession(base, "s1"); c.Provider = brokerSAML; return c }(), true},
			{"an outside IdP's sid", func() sts.RevocationSubject { c := withSession(base, "s1"); c.Provider = outsideIdP; return c }(), false},
			{"another session", withSession(base, "s2"), false},
			{"no session", base, false},
		}},
		{"user", Entry{Selector: Selector{Kind: KindUser, Value: "alice", Provider: "corp"}, SessionIDs: []string{"s1", "s2"}}, []check{
			{"first session", withSession(base, "s1"), true},
			{"second session, chained", withSession(chained, "s2"), true},
			{"someone else's", withSession(base, "s3"), false},
		}},
		{"group", Entry{Selector: Selector{Kind: KindGroup, Value: "admins"}, SessionIDs: []string{"s3"}}, []check{
			{"member's session", withSession(base, "s3"), true},
			{"other session", withSession(base, "s1"), false},
		}},
		{"role", Entry{Selector: Selector{Kind: KindRole, Value: "a"}, RoleARN: roleA}, []check{
			{"its credentials", base, true},
			{"chained from it", chained, true},
			{"another role's", func() sts.RevocationSubject { c := base; c.RoleARN = roleB; return c }(), false},
		}},
		{"chained role", Entry{Selector: Selector{Kind: KindRole, Value: roleB}, RoleARN: roleB}, []check{
			{"its credentials", chained, true},
			{"their parent", base, false},
		}},
		{"access key", Entry{Selector: Selector{Kind: KindAccessKeyID, Value: base.AccessKeyID}}, []check{
			{"the key", base, true},
			{"chained from it", chained, true},
			{"another key", func() sts.RevocationSubject { c := base; c.AccessKeyID = "ASIAOTHEROTHEROTHER1"; return c }(), false},
		}},
		{"chained key", Entry{Selector: Selector{Kind: KindAccessKeyID, Value: chained.AccessKeyID}}, []check{
			{"the key", chained, true},
			{"its parent", base, false},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := synced(t, store.NewMemory(clk.Now), clk)
			if err := s.Add(t.Context(), tc.entry); err != nil {
				t.Fatal(err)
			}
			for _, ck := range tc.checks {
				if got := s.Revoked(ck.c); got != ck.want {
					t.Errorf("%s: revoked %v, want %v", ck.name, got, ck.want)
				}
				// The whole chain issued after NotBefore: never revoked.
				later := ck.c
				later.IssuedAt = clk.Now().Add(2 * time.Second)
				if len(later.ParentIssuedAt) > 0 {
					later.ParentIssuedAt = []time.Time{later.IssuedAt}
				}
				if s.Revoked(later) {
					t.Errorf("%s: revoked when issued after NotBefore", ck.name)
				}
			}
		})
	}
}

// TestChainedAfterNotBefore: credentials chained after NotBefore (on a
// replica that had not applied the entry yet) from credentials issued
// before it are refused with them — each ancestor is judged by its own
// issue time and the session by the root's — while an ancestor issued
// after NotBefore does not taint its chain.
func TestChainedAfterNotBefore(t *testing.T) {
	clk := &clock{}
	before, after := clk.Now().Add(-time.Minute).Truncate(time.Second), clk.Now().Add(time.Minute).Truncate(time.Second)
	// root (role A, before) -> child (role B, after) -> grandchild (role A, after)
	child := sts.RevocationSubject{AccessKeyID: "ASIACHILDCHILDCHILD1", RoleARN: roleB, Provider: brokerOIDC, SessionID: "s1", IssuedAt: after,
		ParentAccessKeyIDs: []string{"ASIAROOTROOTROOTROOT"}, ParentRoleARNs: []string{roleA}, ParentIssuedAt: []time.Time{before}}
	grandchild := sts.RevocationSubject{AccessKeyID: "ASIAGRANDGRANDGRAND1", RoleARN: roleA, Provider: brokerOIDC, SessionID: "s1", IssuedAt: after,
		ParentAccessKeyIDs: []string{"ASIAROOTROOTROOTROOT", "ASIACHILDCHILDCHILD1"}, ParentRoleARNs: []string{roleA, roleB},
		ParentIssuedAt: []time.Time{before, after}}
	for _, tc := range []struct {
		name              string
		entry             Entry
		child, grandchild bool
	}{
		{"the session", Entry{Selector: Selector{Kind: KindSession, Value: "s1"}}, true, true},
		{"the root's key", Entry{Selector: Selector{Kind: KindAccessKeyID, Value: "ASIAROOTROOTROOTROOT"}}, true, true},
		{"the root's role", Entry{Selector: Selector{Kind: KindRole, Value: "a"}, RoleARN: roleA}, true, true},
		{"the child's role, issued after", Entry{Selector: Selector{Kind: KindRole, Value: "b"}, RoleARN: roleB}, false, false},
		{"the child's key, issued after", Entry{Selector: Selector{Kind: KindAccessKeyID, Value: "ASIACHILDCHILDCHILD1"}}, false, false},
	} {
		s := synced(t, store.NewMemory(clk.Now), clk)
		if err := s.Add(t.Context(), tc.entry); err != nil {
			t.Fatal(err)
		}
		if got := s.Revoked(child); got != tc.child {
			t.Errorf("%s: child revoked %v, want %v", tc.name, got, tc.child)
		}
		if got := s.Revoked(grandchild); got != tc.grandchild {
			t.Errorf("%s: grandchild revoked %v, want %v", tc.name, got, tc.grandchild)
		}
	}
	// An ancestry without its times is judged as issued at the earliest.
	s := synced(t, store.NewMemory(clk.Now), clk)
	if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindRole, Value: "b"}, RoleARN: roleB}); err != nil {
		t.Fatal(err)
	}
	noTimes := grandchild
	noTimes.ParentIssuedAt = nil
	if !s.Revoked(noTimes) {
		t.Error("an ancestry without times is not judged fail closed")
	}
}

// TestNotBeforeBoundary: session tokens carry whole seconds, so a
// credential issued in the second of NotBefore counts as before it; one
// issued at the next whole second does not; the latest NotBefore of two
// entries naming the same key wins.
func TestNotBeforeBoundary(t *testing.T) {
	clk := &clock{}
	s := synced(t, store.NewMemory(clk.Now), clk)
	nb := clk.Now().Truncate(time.Second).Add(-10*time.Second + 300*time.Millisecond)
	if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindRole, Value: roleA}, RoleARN: roleA, NotBefore: nb}); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Time) sts.RevocationSubject { c := subject(clk); c.IssuedAt = d; return c }
	for _, tc := range []struct {
		name string
		iat  time.Time
		want bool
	}{
		{"a second before", nb.Truncate(time.Second).Add(-time.Second), true},
		{"same second, before", nb.Truncate(time.Second), true},
		{"same second, after (whole-second token)", nb.Truncate(time.Second).Add(500 * time.Millisecond), true},
		{"next second", nb.Truncate(time.Second).Add(time.Second), false},
		{"zero time", time.Time{}, true},
	} {
		if got := s.Revoked(at(tc.iat)); got != tc.want {
			t.Errorf("%s: revoked %v, want %v", tc.name, got, tc.want)
		}
	}
	whole := nb.Truncate(time.Second)
	s2 := synced(t, store.NewMemory(clk.Now), clk)
	if err := s2.Add(t.Context(), Entry{Selector: Selector{Kind: KindRole, Value: roleA}, RoleARN: roleA, NotBefore: whole}); err != nil {
		t.Fatal(err)
	}
	if s2.Revoked(at(whole)) || !s2.Revoked(at(whole.Add(-time.Second))) {
		t.Error("a whole-second NotBefore: issued at it is not before it")
	}
	// A later entry for the same role raises the cutoff; an earlier one
	// does not lower it.
	for _, d := range []time.Duration{5 * time.Second, -time.Hour} {
		if err := s2.Add(t.Context(), Entry{Selector: Selector{Kind: KindRole, Value: roleA}, RoleARN: roleA, NotBefore: whole.Add(d)}); err != nil {
			t.Fatal(err)
		}
	}
	if !s2.Revoked(at(whole.Add(4 * time.Second))) {
		t.Error("the latest NotBefore does not win")
	}
}

// TestFailClosedUntilSynced: before a successful Sync every credential is
// revoked (the Set cannot know better), an Add does not count as a Sync,
// and a failing first Sync keeps it so.
func TestFailClosedUntilSynced(t *testing.T) {
	clk := &clock{}
	fs := &faultStore{Store: store.NewMemory(clk.Now), failList: true}
	s := newSet(fs, clk)
	c := subject(clk)
	if !s.Revoked(c) {
		t.Fatal("a new Set accepts credentials")
	}
	if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	if !s.Revoked(c) {
		t.Fatal("a Set that only saw an Add accepts credentials")
	}
	if err := s.Sync(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Sync on a failing store: %v", err)
	}
	if !s.Revoked(c) {
		t.Fatal("a Set whose first Sync failed accepts credentials")
	}
	if !s.LastSync().IsZero() {
		t.Fatalf("LastSync %v before any successful Sync", s.LastSync())
	}
	fs.set(func(f *faultStore) { f.failList = false })
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s.Revoked(c) || !s.Revoked(withSession(c, "x")) {
		t.Fatal("after Sync: wrong answers")
	}
	synced := s.LastSync()
	if synced.IsZero() || clk.Now().Sub(synced) > time.Second {
		t.Fatalf("LastSync %v, now %v", synced, clk.Now())
	}
	clk.Advance(time.Minute)
	fs.set(func(f *faultStore) { f.failList = true })
	if err := s.Sync(t.Context()); err == nil || !s.LastSync().Equal(synced) {
		t.Fatalf("a failed Sync moved LastSync: %v %v", err, s.LastSync())
	}
}

// TestAddFillsAndValidates: Add fills the id, NotBefore, Expires and the
// value of session and key selectors, and refuses malformed entries.
func TestAddFillsAndValidates(t *testing.T) {
	clk := &clock{}
	st := store.NewMemory(clk.Now)
	s := synced(t, st, clk)
	before := clk.Now()
	if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "s1"}, By: "arn:aws:sts::123456789012:assumed-role/admin/x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindAccessKeyID, Value: "ASIAKEYKEYKEYKEYKEY1"}}); err != nil {
		t.Fatal(err)
	}
	list := s.List()
	if len(list) != 2 {
		t.Fatalf("List: %+v", list)
	}
	for _, e := range list {
		if _, err := hex.DecodeString(e.ID); err != nil || len(e.ID) != 32 {
			t.Errorf("id %q is not 128 bits of hex", e.ID)
		}
		if e.NotBefore.Before(before) || e.NotBefore.After(clk.Now()) || !e.Expires.Equal(e.NotBefore.Add(Lifetime)) {
			t.Errorf("times %v %v", e.NotBefore, e.Expires)
		}
	}
	if list[0].SessionIDs[0] != "s1" || list[1].AccessKeyID != "ASIAKEYKEYKEYKEYKEY1" {
		t.Errorf("selector values not filled: %+v", list)
	}
	recs, err := st.Revocations(t.Context())
	if err != nil || len(recs) != 2 {
		t.Fatalf("store holds %d records (%v)", len(recs), err)
	}

	now := clk.Now()
	long := strings.Repeat("x", 2049)
	for _, tc := range []struct {
		name string
		e    Entry
	}{
		{"unknown kind", Entry{Selector: Selector{Kind: "everyone", Value: "x"}}},
		{"no value", Entry{Selector: Selector{Kind: KindUser}}},
		{"role without ARN", Entry{Selector: Selector{Kind: KindRole, Value: "a"}}},
		{"role with a non-ARN", Entry{Selector: Selector{Kind: KindRole, Value: "a"}, RoleARN: "a"}},
		{"role with sessions", Entry{Selector: Selector{Kind: KindRole, Value: "a"}, RoleARN: roleA, SessionIDs: []string{"s"}}},
		{"user with a role", Entry{Selector: Selector{Kind: KindUser, Value: "u"}, RoleARN: roleA}},
		{"key with a role", Entry{Selector: Selector{Kind: KindAccessKeyID, Value: "k"}, RoleARN: roleA}},
		{"provider on a role", Entry{Selector: Selector{Kind: KindRole, Value: "a", Provider: "corp"}, RoleARN: roleA}},
		{"empty session id", Entry{Selector: Selector{Kind: KindUser, Value: "u"}, SessionIDs: []string{""}}},
		{"long session id", Entry{Selector: Selector{Kind: KindUser, Value: "u"}, SessionIDs: []string{long[:257]}}},
		{"long value", Entry{Selector: Selector{Kind: KindUser, Value: long}}},
		{"expires too soon", Entry{Selector: Selector{Kind: KindSession, Value: "s"}, NotBefore: now, Expires: now.Add(time.Hour)}},
		{"not before in the future", Entry{Selector: Selector{Kind: KindSession, Value: "s"}, NotBefore: now.Add(time.Hour)}},
		{"id with NUL", Entry{ID: "a\x00b", Selector: Selector{Kind: KindSession, Value: "s"}}},
	} {
		if err := s.Add(t.Context(), tc.e); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	if n := len(s.List()); n != 2 {
		t.Errorf("refused entries were applied: %d entries", n)
	}
}

// TestAddAppliesWhenStoreFails: the entry applies here at once even when
// the store cannot record it, and the error says so.
func TestAddAppliesWhenStoreFails(t *testing.T) {
	clk := &clock{}
	fs := &faultStore{Store: store.NewMemory(clk.Now)}
	s := synced(t, fs, clk)
	fs.set(func(f *faultStore) { f.failAdd = true })
	err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "s1"}})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Add on a failing store: %v", err)
	}
	if !s.Revoked(withSession(subject(clk), "s1")) {
		t.Fatal("not applied locally")
	}
}

// TestResyncNeverUnrevokes: a listing that lacks an entry (a store that
// lost it) does not bring its credentials back; only expiry ends it.
func TestResyncNeverUnrevokes(t *testing.T) {
	clk := &clock{}
	fs := &faultStore{Store: store.NewMemory(clk.Now)}
	s := synced(t, fs, clk)
	if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: "s1"}}); err != nil {
		t.Fatal(err)
	}
	fs.set(func(f *faultStore) { f.forget = true })
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !s.Revoked(withSession(subject(clk), "s1")) {
		t.Fatal("a resync that lacks the entry revived the credentials")
	}
	clk.Advance(Lifetime + time.Second)
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(s.List()) != 0 {
		t.Fatal("expired entry kept")
	}
}

// TestBadRecordLoggedOnce: a record that does not decode is logged once
// (not at every resync), left out of List, and does not stop the others.
func TestBadRecordLoggedOnce(t *testing.T) {
	clk := &clock{}
	st := store.NewMemory(clk.Now)
	var logs bytes.Buffer
	s := New(st, Options{Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil)), SessionProviders: []string{brokerOIDC}})
	ctx := t.Context()
	for _, r := range []store.RevocationRecord{
		{ID: "garbage", Data: []byte("{not json"), Expires: clk.Now().Add(time.Hour)},
		{ID: "mismatch", Data: []byte(`{"id":"other","selector":{"kind":"session","value":"s"},"session_ids":["s"]}`), Expires: clk.Now().Add(time.Hour)},
	} {
		if err := st.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Add(ctx, Entry{Selector: Selector{Kind: KindSession, Value: "good"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "cannot be applied"); n != 2 {
		t.Errorf("bad records logged %d times, want 2:\n%s", n, logs.String())
	}
	if l := s.List(); len(l) != 1 || l[0].Selector.Value != "good" {
		t.Errorf("List %+v", l)
	}
	if !s.Revoked(withSession(subject(clk), "good")) {
		t.Error("good entry not applied")
	}
	// The bad records go when their record expires.
	clk.Advance(time.Hour)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.ix.Load().records); n != 1 {
		t.Errorf("%d records held after the bad ones expired", n)
	}
}

// TestResyncUnchangedSwapsNothing: a resync that finds what the Set holds
// keeps the same index (no decode, no rebuild).
func TestResyncUnchangedSwapsNothing(t *testing.T) {
	clk := &clock{}
	s := synced(t, store.NewMemory(clk.Now), clk)
	for i := range 3 {
		if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindSession, Value: string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := s.ix.Load()
	if err := s.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s.ix.Load() != before {
		t.Error("an unchanged resync swapped the index")
	}
}

// TestListIsACopy: List returns copies sorted by NotBefore.
func TestListIsACopy(t *testing.T) {
	clk := &clock{}
	s := synced(t, store.NewMemory(clk.Now), clk)
	now := clk.Now()
	for i, v := range []string{"late", "early"} {
		nb := now.Add(-time.Duration(i) * time.Minute)
		if err := s.Add(t.Context(), Entry{Selector: Selector{Kind: KindUser, Value: v}, SessionIDs: []string{v}, NotBefore: nb}); err != nil {
			t.Fatal(err)
		}
	}
	l := s.List()
	if len(l) != 2 || l[0].Selector.Value != "early" {
		t.Fatalf("List %+v", l)
	}
	l[0].SessionIDs[0] = "changed"
	if s.List()[0].SessionIDs[0] != "early" || !s.Revoked(withSession(subject(clk), "early")) {
		t.Error("List shares the Set's entries")
	}
}

// TestResyncListsOnlyWhenGenerationMoves: a periodic resync reads the
// generation Add advances and lists every entry only when it moved, or
// every fullResyncEvery resyncs (which finds an entry whose generation
// increment was lost); expired entries go either way.
func TestResyncListsOnlyWhenGenerationMoves(t *testing.T) {
	clk := &clock{}
	ctx := t.Context()
	fs := &faultStore{Store: store.NewMemory(clk.Now)}
	s, other := synced(t, fs, clk), synced(t, fs, clk)
	base := fs.lists()
	for range 5 {
		if err := s.resync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.lists() - base; n != 0 {
		t.Fatalf("%d listings while nothing changed", n)
	}
	if err := other.Add(ctx, Entry{Selector: Selector{Kind: KindSession, Value: "s1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.resync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := fs.lists() - base; n != 1 || !s.Revoked(withSession(subject(clk), "s1")) {
		t.Fatalf("after an Add elsewhere: %d listings, revoked %v", n, s.Revoked(withSession(subject(clk), "s1")))
	}

	// Recorded without advancing the generation: found by the periodic
	// full listing.
	now := clk.Now()
	e := Entry{ID: "0123456789abcdef0123456789abcdef", Selector: Selector{Kind: KindSession, Value: "s2"}, SessionIDs: []string{"s2"},
		NotBefore: now, Expires: now.Add(Lifetime)}
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := fs.Store.AddRevocation(ctx, store.RevocationRecord{ID: e.ID, Data: raw, Expires: e.Expires}); err != nil {
		t.Fatal(err)
	}
	for range fullResyncEvery + 1 {
		if err := s.resync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Revoked(withSession(subject(clk), "s2")) {
		t.Fatal("an entry without a generation increment is never found")
	}

	clk.Advance(Lifetime + time.Second)
	if err := s.resync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.List()); n != 0 {
		t.Fatalf("%d entries after they expired", n)
	}
}
