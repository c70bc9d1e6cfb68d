package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The paged walk (ListSessionsPage): a revocation by user or group must
// reach every session, however many there are, even while others come and
// go.

// putMany stores records, in one transaction on a File (one fsync instead
// of one per record).
func (b *backend) putMany(t *testing.T, recs []SessionRecord) {
	t.Helper()
	if f, ok := b.s.(*File); ok {
		err := f.update(t.Context(), func(tx *bolt.Tx) error {
			for _, s := range recs {
				s, err := normalizeSession(s, f.now())
				if err != nil {
					return err
				}
				if err := putSession(tx, s); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, s := range recs {
		if err := b.s.PutSession(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// walk pages through index with limit and returns the distinct ids met;
// between pages it calls between (may be nil) with the page number. Pages
// are checked to hold whole records and, but on Redis (whose ZSCAN COUNT
// is a hint), at most the page size.
func walk(t *testing.T, b *backend, s Store, index string, limit, pageSize int, between func(page int)) []string {
	t.Helper()
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 100000 {
			t.Fatal("the walk does not end")
		}
		recs, next, err := s.ListSessionsPage(t.Context(), index, cursor, limit)
		if err != nil {
			t.Fatalf("page %d of %q: %v", page, index, err)
		}
		if !b.shared && len(recs) > pageSize {
			t.Fatalf("page %d of %q holds %d records, more than %d", page, index, len(recs), pageSize)
		}
		for _, r := range recs {
			if string(r.Data) != "sealed:"+r.ID || (index != "" && !slices.Contains(r.Index, index)) {
				t.Fatalf("page %d: a partial record %+v", page, r)
			}
			seen[r.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
		if between != nil {
			between(page)
		}
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	sort.Strings(out)
	return out
}

func testSessionWalk(t *testing.T, b *backend) {
	b.setLimits(limits{listSessions: 3, revocations: MaxRevocations})
	var recs []SessionRecord
	for _, id := range seq("a", 10) {
		recs = append(recs, b.session(id, time.Hour, "user:alice", "provider:corp"))
	}
	recs = append(recs, b.session("b1", time.Hour, "user:bob", "provider:corp"), b.session("z", time.Hour))
	b.putMany(t, recs)
	for _, tc := range []struct {
		index       string
		limit, page int
		want        []string
	}{
		{"user:alice", 0, 3, seq("a", 10)},
		{"user:alice", 2, 2, seq("a", 10)},
		{"user:alice", 1000, 3, seq("a", 10)}, // above the cap: the cap
		{"provider:corp", 3, 3, append(seq("a", 10), "b1")},
		{"", 0, 3, append(seq("a", 10), "b1", "z")},
		{"user:nobody", 0, 3, nil},
		{"a\x00b", 0, 3, nil}, // an impossible index key lists nothing
	} {
		got := walk(t, b, b.peer(t), tc.index, tc.limit, tc.page, nil)
		if !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
			t.Errorf("walk %q (limit %d) = %v, want %v", tc.index, tc.limit, got, tc.want)
		}
	}
	for _, bad := range []string{"x\x00y", "not a cursor\x00"} {
		if _, _, err := b.s.ListSessionsPage(t.Context(), "user:alice", bad, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("cursor %q: %v, want ErrInvalid", bad, err)
		}
	}
	// Expired records are not walked.
	b.putMany(t, []SessionRecord{b.session("gone", b.short(), "user:alice")})
	b.afterShort(t, "expired records left out of a walk", func() error {
		if got := walk(t, b, b.s, "user:alice", 0, 3, nil); slices.Contains(got, "gone") {
			return fmt.Errorf("walked %v", got)
		}
		return nil
	})
}

// testSessionWalkDuringChanges: sessions deleted and put while a walk goes
// on (page by page, as a revocation ends them) never hide one that was
// there throughout. 300 records: past Redis's small-set encoding, so that
// ZSCAN really pages.
func testSessionWalkDuringChanges(t *testing.T, b *backend) {
	b.setLimits(limits{listSessions: 7, revocations: MaxRevocations})
	all := seq("s", 300)
	var recs []SessionRecord
	for _, id := range all {
		recs = append(recs, b.session(id, time.Hour, "group:dev"))
	}
	b.putMany(t, recs)
	ctx := context.Background()
	deleted := map[string]bool{}
	got := walk(t, b, b.s, "group:dev", 0, 7, func(page int) {
		// Delete one record from each end of the key space, and put new
		// ones on both sides of the cursor.
		for _, id := range []string{all[page], all[len(all)-1-page]} {
			if err := b.peer(t).DeleteSession(ctx, id); err != nil {
				t.Fatal(err)
			}
			deleted[id] = true
		}
		for _, id := range []string{fmt.Sprintf("a-new-%d", page), fmt.Sprintf("z-new-%d", page)} {
			if err := b.s.PutSession(ctx, b.session(id, time.Hour, "group:dev")); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, id := range all {
		if !deleted[id] && !slices.Contains(got, id) {
			t.Fatalf("%s was listed throughout and the walk missed it (%d walked)", id, len(got))
		}
	}
}

// testSessionWalkMany: a user with more sessions than one listing returns
// (ListSessions says ErrTruncated) is walked completely with the default
// page size.
func testSessionWalkMany(t *testing.T, b *backend) {
	n := MaxListSessions + 150
	want := seq("m", n)
	var recs []SessionRecord
	for _, id := range want {
		recs = append(recs, b.session(id, time.Hour, "user:corp/alice"))
	}
	b.putMany(t, recs)
	if got, err := b.s.ListSessions(t.Context(), "user:corp/alice"); !errors.Is(err, ErrTruncated) || len(got) != MaxListSessions {
		t.Fatalf("ListSessions: %d records, %v", len(got), err)
	}
	if got := walk(t, b, b.s, "user:corp/alice", 0, MaxListSessions, nil); !slices.Equal(got, want) {
		t.Fatalf("walked %d of %d", len(got), n)
	}
}
