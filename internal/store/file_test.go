package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openFile(t *testing.T, path string, clock *fakeClock) *File {
	t.Helper()
	f, err := NewFile(path, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestFileKeepsEverythingAcrossReopen: one server keeps sessions,
// revocations, claims and lock-outs across a restart, and what expired
// while it was down is not served after it.
func TestFileKeepsEverythingAcrossReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	clock := newFakeClock()
	f := openFile(t, path, clock)
	now := clock.now()
	if ok, err := f.Claim(ctx, "saml:assertion-1", now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	for range 3 {
		if _, err := f.Incr(ctx, "login:fail:alice", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetTTL(ctx, "login:lock:alice", 2, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, s := range []SessionRecord{
		{ID: "s1", Data: []byte("sealed-1"), Index: []string{"user:corp/alice", "provider:corp"}, Expires: now.Add(8 * time.Hour)},
		{ID: "s2", Data: []byte("sealed-2"), Index: []string{"user:corp/alice"}, Expires: now.Add(time.Hour)},
	} {
		if err := f.PutSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []RevocationRecord{
		{ID: "r1", Data: []byte("user=bob"), Expires: now.Add(12 * time.Hour)},
		{ID: "r2", Data: []byte("role=Dev"), Expires: now.Add(time.Hour)},
	} {
		if err := f.AddRevocation(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	f = openFile(t, path, clock)
	if ok, _ := f.Claim(ctx, "saml:assertion-1", now.Add(time.Hour)); ok {
		t.Fatal("a replayed assertion was accepted after a restart")
	}
	if v, _ := f.Get(ctx, "login:fail:alice"); v != 3 {
		t.Fatalf("failure counter after restart: %d", v)
	}
	if v, _ := f.Get(ctx, "login:lock:alice"); v != 2 {
		t.Fatalf("lock-out after restart: %d", v)
	}
	if d, _ := f.TTL(ctx, "login:lock:alice"); d != 30*time.Minute {
		t.Fatalf("lock-out ttl after restart: %v", d)
	}
	if s, err := f.GetSession(ctx, "s1"); err != nil || string(s.Data) != "sealed-1" {
		t.Fatalf("session after restart: %+v %v", s, err)
	}
	wantList(t, f, "user:corp/alice", "s1", "s2")
	wantList(t, f, "provider:corp", "s1")
	if got, err := f.Revocations(ctx); err != nil || !slices.Equal(ids(got), []string{"r1", "r2"}) {
		t.Fatalf("revocations after restart: %v %v", ids(got), err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Down for two hours: what expired meanwhile is gone, the rest stays.
	clock.advance(2 * time.Hour)
	f = openFile(t, path, clock)
	if ok, _ := f.Claim(ctx, "saml:assertion-1", clock.now().Add(time.Hour)); !ok {
		t.Fatal("an expired claim still blocks")
	}
	if v, _ := f.Get(ctx, "login:lock:alice"); v != 0 {
		t.Fatalf("an expired lock-out is served: %d", v)
	}
	wantList(t, f, "user:corp/alice", "s1")
	if got, _ := f.Revocations(ctx); !slices.Equal(ids(got), []string{"r1"}) {
		t.Fatalf("revocations: %v", ids(got))
	}
}

func TestFileSecondOpenFailsClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openFile(t, path, newFakeClock())
	// bbolt's lock is per open file, so a second open in this process
	// meets it as another process would.
	f, err := NewFile(path, nil)
	if err == nil {
		f.Close()
		t.Fatal("a second NewFile on a held file succeeded")
	}
	if !strings.Contains(err.Error(), path+" is in use by another process") {
		t.Fatalf("error does not say the path is in use: %v", err)
	}
	// Through Open the error names the configuration key.
	if _, err := Open(Config{Type: TypeFile, Path: path}); err == nil || !strings.HasPrefix(err.Error(), "store.path: "+path+" is in use") {
		t.Fatalf("Open: %v", err)
	}
}

func TestFilePermissions(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	f := openFile(t, fresh, newFakeClock())
	f.Close()
	loose := filepath.Join(dir, "loose.db")
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	openFile(t, loose, newFakeClock()).Close()
	for _, p := range []string{fresh, loose} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Fatalf("%s: mode %o, want 600", filepath.Base(p), m)
		}
	}
}

func TestFileOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not-a-db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not bbolt ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	otherFormat := filepath.Join(dir, "other-format.db")
	db, err := bolt.Open(otherFormat, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put([]byte("format"), []byte("99"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cases := []struct {
		name, path, want string
	}{
		{"empty path", "", "path is empty"},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "state.db"), filepath.Join(dir, "no", "such", "dir", "state.db")},
		{"a directory", dir, dir},
		{"not a bbolt file", notDB, notDB},
		{"another format", otherFormat, `format "99"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFile(tc.path, nil)
			if err == nil {
				f.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// count returns how many entries each bucket holds.
func (f *File) count(t *testing.T) map[string]int {
	t.Helper()
	n := map[string]int{}
	if err := f.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKV, bucketSessions, bucketSessionIndex, bucketRevocations} {
			n[string(b)] = tx.Bucket(b).Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFileSweepRemovesExpired(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	f := openFile(t, filepath.Join(t.TempDir(), "state.db"), clock)
	now := clock.now()
	// More expired entries than one sweep transaction removes.
	for i := range sweepBatch + 10 {
		if err := f.SetTTL(ctx, "k"+string(rune('a'+i%26))+strings.Repeat("x", i/26), 1, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.PutSession(ctx, SessionRecord{ID: "old", Index: []string{"user:a", "user:b"}, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := f.PutSession(ctx, SessionRecord{ID: "new", Index: []string{"user:a"}, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddRevocation(ctx, RevocationRecord{ID: "old", Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := f.SetTTL(ctx, "live", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Minute)
	if err := f.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"kv": 1, "sessions": 1, "session_index": 1, "revocations": 0}
	if got := f.count(t); !mapsEqual(got, want) {
		t.Fatalf("after sweep: %v, want %v", got, want)
	}
}

// TestFileListCleansStaleIndex: a listing removes the index entries of
// expired sessions it meets, and only those.
func TestFileListCleansStaleIndex(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	f := openFile(t, filepath.Join(t.TempDir(), "state.db"), clock)
	now := clock.now()
	if err := f.PutSession(ctx, SessionRecord{ID: "old", Index: []string{"user:a"}, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := f.PutSession(ctx, SessionRecord{ID: "new", Index: []string{"user:a"}, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	clock.advance(2 * time.Minute)
	wantList(t, f, "user:a", "new")
	if got := f.count(t)["session_index"]; got != 1 {
		t.Fatalf("%d index entries left, want 1", got)
	}
}

func TestFileCorruptRecords(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	f := openFile(t, filepath.Join(t.TempDir(), "state.db"), clock)
	if err := f.PutSession(ctx, SessionRecord{ID: "good", Data: []byte("x"), Index: []string{"user:a"}, Expires: clock.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	corrupt := [][]byte{nil, {'S'}, {'S', 1, 0xff}, {'S', 1, 2, 0x7f}, {'S', 1, 2, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}}
	for i, v := range corrupt {
		if err := f.db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketSessions).Put([]byte("bad"), append([]byte{}, v...)); err != nil {
				return err
			}
			return tx.Bucket(bucketRevocations).Put([]byte("bad"), append([]byte{}, v...))
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.GetSession(ctx, "bad"); !errors.Is(err, errCorrupt) {
			t.Fatalf("%d: get: %v, want a corrupt-record error", i, err)
		}
		if _, err := f.Revocations(ctx); !errors.Is(err, errCorrupt) {
			t.Fatalf("%d: revocations: %v, want a corrupt-record error", i, err)
		}
		// Replacing or deleting the record works all the same.
		if err := f.PutSession(ctx, SessionRecord{ID: "bad", Expires: clock.now().Add(time.Hour)}); err != nil {
			t.Fatalf("%d: replacing a corrupt record: %v", i, err)
		}
		if err := f.DeleteSession(ctx, "bad"); err != nil {
			t.Fatal(err)
		}
	}
	// The sweep removes what cannot be read.
	if err := f.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Revocations(ctx); err != nil || len(got) != 0 {
		t.Fatalf("after sweep: %v %v", ids(got), err)
	}
	wantList(t, f, "user:a", "good")
}

func TestFileClosed(t *testing.T) {
	f := openFile(t, filepath.Join(t.TempDir(), "state.db"), newFakeClock())
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := f.Ping(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ping after Close: %v", err)
	}
	if _, err := f.Claim(t.Context(), "k", time.Now().Add(time.Hour)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("claim after Close: %v", err)
	}
	if _, err := f.Claim(t.Context(), "", time.Now().Add(time.Hour)); err == nil {
		t.Fatal("claim of an empty key after Close succeeded")
	}
}

func TestFileRefusesUnstorableKeys(t *testing.T) {
	f := openFile(t, filepath.Join(t.TempDir(), "state.db"), newFakeClock())
	for _, key := range []string{"", strings.Repeat("k", bolt.MaxKeySize+1)} {
		if _, err := f.Claim(t.Context(), key, time.Now().Add(time.Hour)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("claim of a %d-byte key: %v, want ErrInvalid", len(key), err)
		}
	}
}

func mapsEqual(a, b map[string]int) bool {
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
