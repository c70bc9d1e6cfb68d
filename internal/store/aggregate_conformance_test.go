package store

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The aggregates' part of the conformance suite (see conformance_test.go).

func aggAdd(f string, n int64) AggregateOp { return AggregateOp{Field: f, Kind: AggregateAdd, N: n} }
func aggMax(f string, n int64, text string) AggregateOp {
	return AggregateOp{Field: f, Kind: AggregateMax, N: n, Text: text}
}
func aggMin(f string, n int64, text string) AggregateOp {
	return AggregateOp{Field: f, Kind: AggregateMin, N: n, Text: text}
}

func (b *backend) aggregate(set, id string, d time.Duration, ops ...AggregateOp) AggregateUpdate {
	return AggregateUpdate{Set: set, ID: id, Ops: ops, Expires: b.now().Add(d)}
}

func aggregateIDs(recs []AggregateRecord) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ID)
	}
	sort.Strings(out)
	return out
}

func testAggregates(t *testing.T, b *backend) {
	ctx := t.Context()
	err := b.s.UpdateAggregates(ctx, []AggregateUpdate{
		b.aggregate("person", "corp/alice", time.Hour, aggAdd("sign_ins", 1), aggMax("last", 100, "from a"), aggMin("first", 100, "")),
		b.aggregate("person", "corp/bob", time.Hour, aggAdd("sign_ins", 1)),
		b.aggregate("access", "s3:GetObject", time.Hour, aggAdd("allowed", 2)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Later events, out of order; a tie takes the later text for max and
	// keeps the earlier one for min.
	err = b.peer(t).UpdateAggregates(ctx, []AggregateUpdate{
		b.aggregate("person", "corp/alice", 2*time.Hour, aggAdd("sign_ins", 2), aggMax("last", 90, "older"), aggMin("first", 50, "earlier")),
		b.aggregate("person", "corp/alice", 2*time.Hour, aggMax("last", 100, "tie"), aggMin("first", 50, "tie"), aggMax("peak", 7, "a"), aggMax("peak", 7, "b")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := b.s.GetAggregate(ctx, "person", "corp/alice"); err != nil || rec.Fields["last"].Text != "tie" || rec.Fields["peak"].Text != "b" {
		t.Fatalf("max ties: %+v %v; want the later text", rec.Fields, err)
	}
	if err := b.s.UpdateAggregates(ctx, []AggregateUpdate{b.aggregate("person", "corp/alice", 2*time.Hour, aggMax("last", 120, "from b"))}); err != nil {
		t.Fatal(err)
	}
	rec, err := b.s.GetAggregate(ctx, "person", "corp/alice")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]AggregateValue{"sign_ins": {N: 3}, "last": {N: 120, Text: "from b"}, "first": {N: 50, Text: "earlier"}, "peak": {N: 7, Text: "b"}}
	if !maps.Equal(rec.Fields, want) || rec.Set != "person" || rec.ID != "corp/alice" {
		t.Fatalf("record %+v, want fields %v", rec, want)
	}
	if d := rec.Expires.Sub(b.now()); d <= time.Hour || d > 2*time.Hour {
		t.Fatalf("expires in %s, want the last update's 2h", d)
	}
	got, err := b.peer(t).ListAggregates(ctx, "person")
	if err != nil || strings.Join(aggregateIDs(got), " ") != "corp/alice corp/bob" {
		t.Fatalf("list person: %v %v", aggregateIDs(got), err)
	}
	got, err = b.s.ListAggregates(ctx, "access")
	if err != nil || len(got) != 1 || got[0].Fields["allowed"].N != 2 {
		t.Fatalf("list access: %+v %v", got, err)
	}
	if got, err := b.s.ListAggregates(ctx, "nothing"); err != nil || len(got) != 0 {
		t.Fatalf("list of an empty set: %v %v", got, err)
	}
	if _, err := b.s.GetAggregate(ctx, "person", "corp/carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent record: %v, want ErrNotFound", err)
	}
	if _, err := b.s.GetAggregate(ctx, "access", "corp/alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a record of another set: %v, want ErrNotFound", err)
	}
	// Sets, ids and text of any bytes but NUL come back as they went in;
	// a set whose name extends another's (with a slash) is another set.
	odd := "o'dd \"id\"\n/with, 💡"
	err = b.s.UpdateAggregates(ctx, []AggregateUpdate{
		b.aggregate("access/arn:aws:iam::1:role/a", odd, time.Hour, aggMax("by", -5, "line one\nline two")),
		b.aggregate("access/arn:aws:iam::1:role/a/b", "x", time.Hour, aggAdd("n", 1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := b.s.GetAggregate(ctx, "access/arn:aws:iam::1:role/a", odd); err != nil || rec.Fields["by"] != (AggregateValue{N: -5, Text: "line one\nline two"}) {
		t.Fatalf("odd record: %+v %v", rec, err)
	}
	if got, err := b.s.ListAggregates(ctx, "access/arn:aws:iam::1:role/a"); err != nil || len(got) != 1 || got[0].ID != odd {
		t.Fatalf("list of a set with slashes: %+v %v", got, err)
	}
}

func testAggregateInvalid(t *testing.T, b *backend) {
	ctx := t.Context()
	ok := b.aggregate("person", "x", time.Hour, aggAdd("n", 1))
	cases := map[string]AggregateUpdate{
		"empty set":         b.aggregate("", "x", time.Hour, aggAdd("n", 1)),
		"set with NUL":      b.aggregate("a\x00b", "x", time.Hour, aggAdd("n", 1)),
		"empty id":          b.aggregate("person", "", time.Hour, aggAdd("n", 1)),
		"long id":           b.aggregate("person", strings.Repeat("x", MaxIDLen+1), time.Hour, aggAdd("n", 1)),
		"no ops":            b.aggregate("person", "x", time.Hour),
		"empty field":       b.aggregate("person", "x", time.Hour, aggAdd("", 1)),
		"field with NUL":    b.aggregate("person", "x", time.Hour, aggAdd("a\x00", 1)),
		"unknown operation": b.aggregate("person", "x", time.Hour, AggregateOp{Field: "n", Kind: 9}),
		"long text":         b.aggregate("person", "x", time.Hour, aggMax("n", 1, strings.Repeat("t", MaxAggregateTextLen+1))),
		"expired":           b.aggregate("person", "x", -time.Second, aggAdd("n", 1)),
		"too far":           b.aggregate("person", "x", MaxLifetime+time.Hour, aggAdd("n", 1)),
	}
	for name, u := range cases {
		// The whole batch is refused, the valid update with it.
		if err := b.s.UpdateAggregates(ctx, []AggregateUpdate{ok, u}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := b.s.GetAggregate(ctx, "person", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused batch wrote: %v", err)
	}
	if _, err := b.s.ListAggregates(ctx, "a\x00b"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("list of a bad set: %v", err)
	}
	big := make([]AggregateUpdate, MaxAggregateBatch+1)
	for i := range big {
		big[i] = ok
	}
	if err := b.s.UpdateAggregates(ctx, big); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized batch: %v", err)
	}
	// Past MaxAggregateFields, new fields are ignored, known ones still change.
	ops := make([]AggregateOp, 0, MaxAggregateOps)
	for f := 0; f < MaxAggregateFields+10; f++ {
		ops = append(ops, aggAdd(fmt.Sprint("f", f), 1))
		if len(ops) == MaxAggregateOps {
			if err := b.s.UpdateAggregates(ctx, []AggregateUpdate{b.aggregate("wide", "x", time.Hour, ops...)}); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	ops = append(ops, aggAdd("f0", 1))
	if err := b.s.UpdateAggregates(ctx, []AggregateUpdate{b.aggregate("wide", "x", time.Hour, ops...)}); err != nil {
		t.Fatal(err)
	}
	rec, err := b.s.GetAggregate(ctx, "wide", "x")
	if err != nil || len(rec.Fields) != MaxAggregateFields || rec.Fields["f0"].N != 2 {
		t.Fatalf("wide record: %d fields (f0 %d), %v; want %d and 2", len(rec.Fields), rec.Fields["f0"].N, err, MaxAggregateFields)
	}
}

func testAggregateExpiry(t *testing.T, b *backend) {
	ctx := t.Context()
	err := b.s.UpdateAggregates(ctx, []AggregateUpdate{
		b.aggregate("person", "gone", b.short(), aggAdd("n", 5)),
		b.aggregate("person", "kept", time.Hour, aggAdd("n", 1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.afterShort(t, "an expired aggregate is neither served nor listed", func() error {
		if _, err := b.s.GetAggregate(ctx, "person", "gone"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("get: %v", err)
		}
		got, err := b.s.ListAggregates(ctx, "person")
		if err != nil || strings.Join(aggregateIDs(got), " ") != "kept" {
			return fmt.Errorf("list: %v %v", aggregateIDs(got), err)
		}
		return nil
	})
	// An update after the expiry starts a new record.
	if err := b.s.UpdateAggregates(ctx, []AggregateUpdate{b.aggregate("person", "gone", time.Hour, aggAdd("n", 1))}); err != nil {
		t.Fatal(err)
	}
	if rec, err := b.s.GetAggregate(ctx, "person", "gone"); err != nil || rec.Fields["n"].N != 1 {
		t.Fatalf("after expiry: %+v %v, want n 1", rec, err)
	}
}

func testAggregateConcurrent(t *testing.T, b *backend) {
	ctx := t.Context()
	stores := []Store{b.s, b.peer(t)}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			u := b.aggregate("access", "role", time.Hour, aggAdd("n", 1), aggMax("last", int64(i), fmt.Sprint("by ", i)))
			errs <- stores[i%2].UpdateAggregates(ctx, []AggregateUpdate{u})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rec, err := b.s.GetAggregate(ctx, "access", "role")
	if err != nil || rec.Fields["n"].N != 40 || rec.Fields["last"] != (AggregateValue{N: 39, Text: "by 39"}) {
		t.Fatalf("after 40 concurrent updates: %+v %v", rec.Fields, err)
	}
}

func testAggregateCap(t *testing.T, b *backend) {
	ctx := t.Context()
	b.setLimits(limits{listSessions: MaxListSessions, revocations: MaxRevocations, listAggregates: 2})
	for i := range 3 {
		if err := b.s.UpdateAggregates(ctx, []AggregateUpdate{b.aggregate("person", fmt.Sprint("p", i), time.Hour, aggAdd("n", 1))}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.s.ListAggregates(ctx, "person")
	if !errors.Is(err, ErrTruncated) || len(got) != 2 {
		t.Fatalf("list: %v, %v; want 2 and ErrTruncated", aggregateIDs(got), err)
	}
}
