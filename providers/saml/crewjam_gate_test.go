package saml_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// pinCrewjamNow makes crewjam's package clock (crewjam.TimeNow, read by
// ParseXMLResponse) follow now until the test ends. crewjam's clock is a
// package global: tests that call this must not run in parallel.
func pinCrewjamNow(t *testing.T, now func() time.Time) {
	t.Helper()
	saved := crewjam.TimeNow
	t.Cleanup(func() { crewjam.TimeNow = saved })
	crewjam.TimeNow = now
}

// TestCrewjamGate: crewjam's ParseXMLResponse is a gate of its own on both
// paths. A response issued 2 minutes ago is within the project's window
// (MaxIssueAge 5m) but past crewjam's MaxIssueDelay (90s): crewjam refuses
// it (ErrSignature, reason "crewjam: ..."), and the refusal consumes no
// replay entry: once crewjam's clock is put back to the issue time, the same
// document is accepted, then refused as a replay.
func TestCrewjamGate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		verify func(t *testing.T, age time.Duration) func() error
	}{
		{name: "ACS", verify: func(t *testing.T, age time.Duration) func() error {
			f := newFixture(t, nil)
			doc := f.build(t, func(s *samltest.ResponseSpec) { s.Now = f.now.Add(-age) })
			return func() error { _, err := f.postDoc(t, doc, "REQ1"); return err }
		}},
		{name: "AssumeRoleWithSAML", verify: func(t *testing.T, age time.Duration) func() error {
			f := newAWSFixture(t, nil)
			b64 := f.b64(t, func(s *samltest.ResponseSpec) { s.Now = f.now.Add(-age) })
			return func() error { _, err := f.v.Verify(context.Background(), b64); return err }
		}},
		{name: "AssumeRoleWithSAML, assertion signed, scoped", verify: func(t *testing.T, age time.Duration) func() error {
			f := newAWSFixture(t, nil)
			b64 := f.b64(t, func(s *samltest.ResponseSpec) { s.Now = f.now.Add(-age); s.Sign = samltest.SignAssertion })
			return func() error { _, err := f.v.Verify(context.Background(), b64, saml.WithReplayScope("r")); return err }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const age = 2 * time.Minute
			verify := tc.verify(t, age)
			err := verify()
			var e *saml.Error
			if !errors.Is(err, saml.ErrSignature) || !errors.As(err, &e) {
				t.Fatalf("got %v, want ErrSignature from crewjam", err)
			}
			if !strings.HasPrefix(e.Reason, "crewjam: ") || !strings.Contains(e.Reason, "IssueInstant expired") {
				t.Fatalf("reason %q, want crewjam's IssueInstant refusal", e.Reason)
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("error carries document content: %v", err)
			}
			// crewjam's clock back at the issue time: the same document is
			// accepted (the refusal claimed nothing), once.
			pinCrewjamNow(t, func() time.Time { return time.Now().Add(-age) })
			if err := verify(); err != nil {
				t.Fatalf("after crewjam's refusal: %v", err)
			}
			if err := verify(); !errors.Is(err, saml.ErrReplay) {
				t.Fatalf("second use: got %v, want ErrReplay", err)
			}
		})
	}
}
