package store

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store/redistest"
)

// benchStores returns one fresh store of each backend, plus for each a
// second client of the same data (Redis: another replica).
func benchStores(b *testing.B) []struct {
	name     string
	s, other Store
} {
	m := NewMemory(nil)
	f, err := NewFile(filepath.Join(b.TempDir(), "state.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(); f.Close() })
	out := []struct {
		name     string
		s, other Store
	}{{"memory", m, m}, {"file", f, f}}
	srv := redistest.Start(b)
	r1, err1 := NewRedis(srv.URL)
	r2, err2 := NewRedis(srv.URL)
	if err1 != nil || err2 != nil {
		b.Fatal(err1, err2)
	}
	b.Cleanup(func() { r1.Close(); r2.Close() })
	return append(out, struct {
		name     string
		s, other Store
	}{"redis", r1, r2})
}

// BenchmarkGetSession reads one session of a typical sealed size (1 KiB)
// with three index keys: the cost of every issuance from a session.
func BenchmarkGetSession(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			rec := SessionRecord{
				ID: "0123456789abcdef0123456789abcdef", Data: bytes.Repeat([]byte{0xa5}, 1024),
				Index:   []string{"user:corp/alice", "provider:corp", "group:developers"},
				Expires: time.Now().Add(time.Hour),
			}
			if err := st.s.PutSession(ctx, rec); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.s.GetSession(ctx, rec.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRevocationFanout adds one revocation and waits until each of
// four watchers has it (two on the adding client, two on another client of
// the same data: for Redis, another replica).
func BenchmarkRevocationFanout(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			var watchers []<-chan RevocationRecord
			for _, s := range []Store{st.s, st.s, st.other, st.other} {
				ch, err := s.WatchRevocations(ctx)
				if err != nil {
					b.Fatal(err)
				}
				watchers = append(watchers, ch)
			}
			rec := RevocationRecord{Data: bytes.Repeat([]byte{0x5a}, 128), Expires: time.Now().Add(time.Hour)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rec.ID = fmt.Sprint("r", i)
				i++
				if err := st.s.AddRevocation(ctx, rec); err != nil {
					b.Fatal(err)
				}
				for _, ch := range watchers {
					if got := <-ch; got.ID != rec.ID {
						b.Fatalf("got %q, want %q", got.ID, rec.ID)
					}
				}
			}
		})
	}
}

// BenchmarkPutSession writes (replaces) one session with three index keys:
// the cost of a sign-in or a re-check.
func BenchmarkPutSession(b *testing.B) {
	ctx := context.Background()
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			rec := SessionRecord{
				ID: "0123456789abcdef0123456789abcdef", Data: bytes.Repeat([]byte{0xa5}, 1024),
				Index:   []string{"user:corp/alice", "provider:corp", "group:developers"},
				Expires: time.Now().Add(time.Hour),
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := st.s.PutSession(ctx, rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
