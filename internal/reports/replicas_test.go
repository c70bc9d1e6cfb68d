package reports

import (
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/store/redistest"
)

// TestReplicasShareTheCounts: two replicas' recorders on one Redis (each
// its own client) count into the same records; either one's report shows
// the sums, and the latest asker whichever replica saw it.
func TestReplicasShareTheCounts(t *testing.T) {
	srv := redistest.Start(t)
	var recs []*Recorder
	for range 2 {
		st, err := store.NewRedis(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		r, err := New(st, Options{FlushInterval: time.Hour, RolePolicies: map[string][][]byte{devARN: {devPolicy}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		recs = append(recs, r)
	}
	t0 := time.Now()
	for i, r := range recs {
		r.Person(PersonEvent{Kind: SignIn, Provider: "corp", Username: "alice", At: t0.Add(time.Duration(i) * time.Second)})
		r.Person(PersonEvent{Kind: Issue, Provider: "corp", Username: "Alice", Role: devARN, At: t0.Add(time.Duration(i) * time.Second)})
		r.Access(AccessEvent{RoleARN: devARN, Action: "s3:GetObject", Principal: "replica " + string(rune('a'+i)), Allowed: true, At: t0.Add(time.Duration(i) * time.Second)})
	}
	for _, r := range recs {
		if err := r.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := recs[0].CredentialReport(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.People) != 1 || rep.People[0].SignIns != 2 || rep.People[0].IssuancesPerRole[devARN] != 2 {
		t.Fatalf("credential report: %+v", rep.People)
	}
	acc, err := recs[1].AccessReport(t.Context(), "Developer")
	if err != nil {
		t.Fatal(err)
	}
	a := acc.Roles[0].Actions
	if len(a) != 1 || a[0].Allowed != 2 || a[0].LastAskedBy != "replica b" {
		t.Fatalf("access report: %+v", a)
	}
}
