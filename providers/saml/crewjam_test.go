package saml_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// pinCrewjamNow makes crewjam's package clock (crewjam.TimeNow, which
// bounds its own, widened, time windows) follow now until the test ends,
// for tests whose verifier clock runs far from the wall clock. crewjam's
// clock is a package global: tests that call this must not run in parallel.
func pinCrewjamNow(t *testing.T, now func() time.Time) {
	t.Helper()
	saved := crewjam.TimeNow
	t.Cleanup(func() { crewjam.TimeNow = saved })
	crewjam.TimeNow = now
}

// TestIssueWindowIsTheConfigured: the IssueInstant window is the
// configuration's, not crewjam's package default (90 s): a Response issued
// 2 minutes ago is accepted by default (5 minutes), one issued 65 minutes
// ago by a verifier configured with the widest window (1 h plus 10 m of
// skew), and one older than the configured window is refused as issued too
// long ago (an ErrExpired) by this package, before crewjam.
func TestIssueWindowIsTheConfigured(t *testing.T) {
	ctx := context.Background()
	f := newAWSFixture(t, nil)
	if _, err := f.v.Verify(ctx, f.b64(t, func(s *samltest.ResponseSpec) { s.Now = f.now.Add(-2 * time.Minute) })); err != nil {
		t.Fatalf("2 minutes old, default window: %v", err)
	}
	wide := newAWSFixture(t, func(c *saml.AWSVerifierConfig) { c.MaxIssueAge, c.ClockSkew = time.Hour, 10*time.Minute })
	old := func(s *samltest.ResponseSpec) { s.Now, s.Lifetime = wide.now.Add(-65*time.Minute), 2*time.Hour }
	if _, err := wide.v.Verify(ctx, wide.b64(t, old)); err != nil {
		t.Fatalf("65 minutes old, widest window: %v", err)
	}
	g := newFixture(t, nil)
	_, err := g.postDoc(t, g.build(t, func(s *samltest.ResponseSpec) { s.Now, s.Lifetime = g.now.Add(-7*time.Minute), time.Hour }))
	var e *saml.Error
	if !errors.Is(err, saml.ErrIssuedTooLongAgo) || !errors.Is(err, saml.ErrExpired) || !errors.As(err, &e) || strings.HasPrefix(e.Reason, "crewjam") {
		t.Fatalf("7 minutes old: got %v, want this package's ErrIssuedTooLongAgo", err)
	}
	if _, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata: saml.MetadataSource{XML: string(f.idp.Metadata())}, ReplayCache: saml.NewMemoryReplayCache(nil), MaxIssueAge: 2 * time.Hour,
	}); err == nil {
		t.Fatal("MaxIssueAge beyond 1h accepted")
	}
}

// TestCrewjamRefusalClaimsNothing: crewjam's signature check is the one
// signature check, and its refusal (ErrSignature, reason "crewjam: ...",
// no document content) consumes no replay entry: after the tampered copy
// is refused, the genuine Response with the same assertion ID is accepted,
// once.
func TestCrewjamRefusalClaimsNothing(t *testing.T) {
	tamper := func(doc *etree.Document) {
		doc.Root().SelectElement("Assertion").FindElement(".//NameID").SetText("admin@corp.example")
	}
	for _, tc := range []struct {
		name   string
		verify func(t *testing.T) (tampered, genuine func() error)
	}{
		{name: "ACS", verify: func(t *testing.T) (func() error, func() error) {
			f := newFixture(t, nil)
			doc := f.build(t, nil)
			bad := doc.Copy()
			tamper(bad)
			return func() error { _, err := f.postDoc(t, bad); return err },
				func() error { _, err := f.postDoc(t, doc); return err }
		}},
		{name: "AssumeRoleWithSAML, response signed", verify: func(t *testing.T) (func() error, func() error) {
			f := newAWSFixture(t, nil)
			s := f.spec()
			doc := f.idp.BuildResponse(t, s)
			bad := doc.Copy()
			tamper(bad)
			v := func(d *etree.Document) func() error {
				return func() error {
					_, err := f.v.Verify(context.Background(), samltest.Encode(samltest.XML(t, d)))
					return err
				}
			}
			return v(bad), v(doc)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tampered, genuine := tc.verify(t)
			err := tampered()
			var e *saml.Error
			if !errors.Is(err, saml.ErrSignature) || !errors.As(err, &e) || !strings.HasPrefix(e.Reason, "crewjam: ") {
				t.Fatalf("tampered: got %v, want ErrSignature from crewjam", err)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "admin@corp.example") {
				t.Fatalf("error carries document content: %v", err)
			}
			if err := genuine(); err != nil {
				t.Fatalf("genuine after the refusal: %v", err)
			}
			if err := genuine(); !errors.Is(err, saml.ErrReplay) {
				t.Fatalf("second use: got %v, want ErrReplay", err)
			}
		})
	}
}
