package ratelimit

import (
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/store/redistest"
)

// BenchmarkAdmit: one decision with the three limits, never reached, on
// the memory store and on a real Redis (one script call: the round trip
// every issuance pays with limits on).
func BenchmarkAdmit(b *testing.B) {
	huge := &Rule{Rate: 1_000_000, Per: time.Second}
	limits := Limits{PerUser: huge, PerRole: huge, PerSource: huge}
	req := Request{Surface: "api", User: "corp/dev", RoleARNs: []string{"arn:aws:iam::123456789012:role/Developer"}, Source: "192.0.2.1"}
	run := func(b *testing.B, st store.Store) {
		l, err := New(limits, st, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if d, err := l.Admit(b.Context(), req); err != nil || !d.Allowed {
				b.Fatalf("%+v %v", d, err)
			}
		}
	}
	b.Run("memory", func(b *testing.B) { run(b, store.NewMemory(nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		r, err := store.NewRedis(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		run(b, r)
	})
}
