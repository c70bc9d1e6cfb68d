package ratelimit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
)

func TestValidateNamesKeys(t *testing.T) {
	l := Limits{
		PerUser:   &Rule{Rate: 0, Per: time.Minute},
		PerRole:   &Rule{Rate: 1, Per: time.Millisecond},
		PerSource: &Rule{Rate: 1, Per: time.Minute, Burst: -1},
	}
	var got []string
	for _, err := range l.Validate() {
		got = append(got, err.Error())
	}
	for _, want := range []string{"per_user.rate:", "per_role.per:", "per_source.burst:"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("no error naming %s in %q", want, got)
		}
	}
	if errs := (Limits{PerUser: &Rule{Rate: 10, Per: time.Minute}}).Validate(); len(errs) != 0 {
		t.Errorf("a good rule refused: %v", errs)
	}
	if _, err := New(l, store.NewMemory(nil), Options{}); err == nil {
		t.Error("New accepted invalid limits")
	}
}

func TestNoLimitsNoLimiter(t *testing.T) {
	l, err := New(Limits{}, nil, Options{})
	if err != nil || l != nil {
		t.Fatalf("New without limits: %v %v", l, err)
	}
	if d, err := l.Admit(t.Context(), Request{User: "u"}); err != nil || !d.Allowed {
		t.Fatalf("a nil limiter: %+v %v", d, err)
	}
}

func TestAdmit(t *testing.T) {
	clock := time.Unix(1_700_000_000, 0)
	st := store.NewMemory(func() time.Time { return clock })
	var throttled []string
	l, err := New(Limits{
		PerUser:   &Rule{Rate: 2, Per: time.Minute},
		PerRole:   &Rule{Rate: 3, Per: time.Minute},
		PerSource: &Rule{Rate: 100, Per: time.Minute},
	}, st, Options{
		OnThrottle: func(surface, limit string) { throttled = append(throttled, surface+"/"+limit) },
		Now:        func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	admit := func(req Request) Decision {
		t.Helper()
		d, err := l.Admit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	alice := Request{Surface: "api", User: "demo/alice", RoleARNs: []string{"arn:r1"}, Source: "192.0.2.1"}
	for i := range 2 {
		if d := admit(alice); !d.Allowed {
			t.Fatalf("alice's issuance %d: %+v", i+1, d)
		}
	}
	d := admit(alice)
	if d.Allowed || d.Limit != LimitUser || !d.Audit || d.RetryAfter <= 0 || d.RetryAfter > 30*time.Second {
		t.Fatalf("alice's third issuance in a minute: %+v, want refused by the user limit, audited, retry within 30s", d)
	}
	if d := admit(alice); d.Allowed || d.Audit {
		t.Fatalf("the second refusal of the burst: %+v, want refused and not audited", d)
	}
	// Alice's refusals charged nothing: bob still has the role's third.
	bob := Request{Surface: "portal", User: "demo/bob", RoleARNs: []string{"arn:r1"}, Source: "192.0.2.2"}
	if d := admit(bob); !d.Allowed {
		t.Fatalf("bob's first issuance: %+v", d)
	}
	if d := admit(bob); d.Allowed || d.Limit != LimitRole || !d.Audit {
		t.Fatalf("the role's fourth issuance: %+v, want refused by the role limit, audited", d)
	}
	if strings.Join(throttled, " ") != "api/user api/user portal/role" {
		t.Errorf("throttles reported: %v", throttled)
	}
	// A request for two roles counts two issuances for the person.
	carol := Request{User: "demo/carol", RoleARNs: []string{"arn:r2", "arn:r3"}}
	if d := admit(carol); !d.Allowed {
		t.Fatalf("carol's two roles: %+v", d)
	}
	if d := admit(Request{User: "demo/carol", RoleARNs: []string{"arn:r4"}}); d.Allowed || d.Limit != LimitUser {
		t.Fatalf("carol's third issuance: %+v", d)
	}
	// After a period everything is allowed again, and a new burst is
	// audited again.
	clock = clock.Add(time.Minute)
	if d := admit(alice); !d.Allowed {
		t.Fatalf("alice a minute later: %+v", d)
	}
	admit(alice)
	if d := admit(alice); d.Allowed || !d.Audit {
		t.Fatalf("a new burst: %+v, want refused and audited", d)
	}
}

// downStore fails every call as an unreachable store does.
type downStore struct{ store.Store }

func (downStore) TakeRate(context.Context, []store.Rate) (store.RateResult, error) {
	return store.RateResult{}, store.ErrUnavailable
}

func TestAdmitFailsClosed(t *testing.T) {
	l, err := New(Limits{PerSource: &Rule{Rate: 1, Per: time.Second}}, downStore{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := l.Admit(t.Context(), Request{Source: "192.0.2.1"})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, store.ErrUnavailable) || d.Allowed {
		t.Fatalf("a store down: %+v %v, want refused with ErrUnavailable", d, err)
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":               "192.0.2.1",
		"::ffff:192.0.2.1":        "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::9999": "2001:db8:1:2::/64",
		"not an address":          "raw:not an address",
	} {
		if got := SourceKey(in); got != want {
			t.Errorf("SourceKey(%q) = %q, want %q", in, got, want)
		}
	}
	if RetryAfterSeconds(1500*time.Millisecond) != 2 || RetryAfterSeconds(time.Millisecond) != 1 {
		t.Error("RetryAfterSeconds does not round up to whole seconds")
	}
}
