package saml_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// TestHealthMetadataAge: Health reports the age of the metadata in use;
// when a URL source's copy is older than the refresh interval and the
// refreshes keep failing, it is an error (logins still use the copy); when
// the IdP serves again, the next refresh makes it healthy.
func TestHealthMetadataAge(t *testing.T) {
	ik, ic := cachedKey(t, "idp")
	md := samltest.NewIdP(t, samltest.WithKeyPair(ik, ic)).Metadata()
	ms := newMetadataServer(t, md)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	k, c := cachedKey(t, "sp")
	p, err := saml.New(saml.Config{IdPMetadataURL: ms.URL, MetadataRefresh: time.Hour}, saml.Options{
		Name: "okta", PublicURL: publicURL, Key: k, Certificate: c, ReplayCache: saml.NewMemoryReplayCache(nil), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	detail, err := p.Health(ctx)
	if err != nil || detail["metadata_age_seconds"] != int64(0) || ms.fetches.Load() != 1 {
		t.Fatalf("first check: %v %v (%d fetches)", detail, err, ms.fetches.Load())
	}
	advance(30 * time.Minute)
	if detail, err := p.Health(ctx); err != nil || detail["metadata_age_seconds"] != int64(1800) {
		t.Errorf("half an hour on: %v %v", detail, err)
	}

	ms.set(nil)
	advance(31 * time.Minute)
	eventually := func(what string, ok func(error) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := p.Health(ctx)
			if ok(err) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last answer %v", what, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	eventually("stale and failing", func(err error) bool { return errors.Is(err, providers.ErrUnavailable) })

	ms.set(md)
	advance(2 * time.Hour) // past any back-off
	eventually("fetched again", func(err error) bool { return err == nil })
	if detail, _ := p.Health(ctx); detail["metadata_age_seconds"] != int64(0) {
		t.Errorf("after the new fetch: %v", detail)
	}
}
