package saml_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

type awsFixture struct {
	idp  *samltest.IdP
	v    *saml.AWSVerifier
	now  time.Time
	logs *logBuffer
}

func newAWSFixture(t *testing.T, mod func(*saml.AWSVerifierConfig)) *awsFixture {
	t.Helper()
	k, c := cachedKey(t, "idp")
	f := &awsFixture{idp: samltest.NewIdP(t, samltest.WithKeyPair(k, c)), now: time.Now().UTC().Truncate(time.Second), logs: &logBuffer{}}
	spKey, _ := cachedKey(t, "sp")
	cfg := saml.AWSVerifierConfig{
		Metadata:      saml.MetadataSource{XML: string(f.idp.Metadata())},
		ReplayCache:   saml.NewMemoryReplayCache(func() time.Time { return f.now }),
		DecryptionKey: spKey,
		Now:           func() time.Time { return f.now },
		Logger:        slog.New(slog.NewJSONHandler(f.logs, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := saml.NewAWSVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func (f *awsFixture) spec() samltest.ResponseSpec {
	return samltest.ResponseSpec{
		Now:          f.now,
		Destination:  awsspec.SAMLRecipient,
		Recipient:    awsspec.SAMLRecipient,
		Audiences:    []string{awsspec.SAMLAudience},
		NameID:       userID,
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		Sign:         samltest.SignResponse,
		Attributes: []samltest.Attribute{
			{Name: "https://aws.amazon.com/SAML/Attributes/Role", Values: []string{"arn:aws:iam::123456789012:role/Dev,arn:aws:iam::123456789012:saml-provider/Corp"}},
			{Name: "https://aws.amazon.com/SAML/Attributes/RoleSessionName", Values: []string{"alice"}},
		},
	}
}

func (f *awsFixture) b64(t *testing.T, mod func(*samltest.ResponseSpec)) string {
	s := f.spec()
	if mod != nil {
		mod(&s)
	}
	return samltest.Encode(samltest.XML(t, f.idp.BuildResponse(t, s)))
}

func TestAWSModeAccepts(t *testing.T) {
	for _, sign := range []samltest.Signing{samltest.SignResponse, samltest.SignAssertion, samltest.SignBoth} {
		f := newAWSFixture(t, nil)
		spKeyCert := func() (*testing.T, bool) { return t, true }
		_, _ = spKeyCert()
		_, spCert := cachedKey(t, "sp")
		for _, enc := range []bool{false, true} {
			b64 := f.b64(t, func(s *samltest.ResponseSpec) {
				s.Sign = sign
				s.SessionNotOnOrAfter = f.now.Add(2 * time.Hour)
				if enc {
					s.EncryptTo = spCert
				}
			})
			a, err := f.v.Verify(context.Background(), b64)
			if err != nil {
				t.Fatalf("sign=%d enc=%v: %v", sign, enc, err)
			}
			if a.Issuer != f.idp.EntityID || a.NameID != userID || a.Recipient != awsspec.SAMLRecipient ||
				a.NameIDFormat != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" ||
				len(a.Audiences) != 1 || a.Audiences[0] != awsspec.SAMLAudience || a.Encrypted != enc ||
				!a.SessionNotOnOrAfter.Equal(f.now.Add(2*time.Hour)) || len(a.Attributes) != 2 || a.ID == "" {
				t.Fatalf("assertion %+v", a)
			}
		}
	}
}

func TestAWSModeRejects(t *testing.T) {
	cases := []struct {
		name string
		mod  func(f *awsFixture, s *samltest.ResponseSpec)
		want error
	}{
		{"our ACS as recipient", func(f *awsFixture, s *samltest.ResponseSpec) { s.Recipient = "https://broker.example/saml/corp/acs" }, saml.ErrRecipient},
		{"wrong destination", func(f *awsFixture, s *samltest.ResponseSpec) { s.Destination = "https://broker.example/sts" }, saml.ErrRecipient},
		{"wrong audience", func(f *awsFixture, s *samltest.ResponseSpec) {
			s.Audiences = []string{"https://broker.example/saml/corp/metadata"}
		}, saml.ErrAudience},
		{"issued 7 minutes ago (5m + 60s skew)", func(f *awsFixture, s *samltest.ResponseSpec) {
			s.Now = f.now.Add(-7 * time.Minute)
			s.Lifetime = time.Hour
		}, saml.ErrExpired},
		{"expired", func(f *awsFixture, s *samltest.ResponseSpec) {
			s.Now = f.now.Add(-3 * time.Minute)
			s.Lifetime = time.Minute
		}, saml.ErrExpired},
		{"two SubjectConfirmations", func(f *awsFixture, s *samltest.ResponseSpec) {
			s.Modify = func(_, a *etree.Element) {
				subj := a.SelectElement("Subject")
				subj.AddChild(subj.SelectElement("SubjectConfirmation").Copy())
			}
		}, saml.ErrMalformed},
		{"evil signer", func(f *awsFixture, s *samltest.ResponseSpec) {
			s.SignerKey, s.SignerCert = cachedKey(&testing.T{}, "evil")
		}, saml.ErrSignature},
		{"unsigned", func(f *awsFixture, s *samltest.ResponseSpec) { s.Sign = samltest.SignNone }, saml.ErrSignature},
		{"wrong issuer", func(f *awsFixture, s *samltest.ResponseSpec) { s.Issuer = "https://other-idp.example" }, saml.ErrIssuer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newAWSFixture(t, nil)
			a, err := f.v.Verify(context.Background(), f.b64(t, func(s *samltest.ResponseSpec) { c.mod(f, s) }))
			if err == nil || !errorsIs(err, c.want) {
				t.Fatalf("got %v (%+v), want %v", err, a, c.want)
			}
			checkLogs(t, f.logs.String())
		})
	}
}

func TestAWSModeIssueWindow(t *testing.T) {
	// Redeemed 80 seconds after issue: inside the default window (5m).
	f := newAWSFixture(t, nil)
	if _, err := f.v.Verify(context.Background(), f.b64(t, func(s *samltest.ResponseSpec) { s.Now = f.now.Add(-80 * time.Second) })); err != nil {
		t.Fatal(err)
	}
	// A verifier configured with a 1 minute window refuses a 4 minute old
	// one (before crewjam is asked).
	g := newAWSFixture(t, func(c *saml.AWSVerifierConfig) { c.MaxIssueAge = time.Minute; c.ClockSkew = time.Second })
	_, err := g.v.Verify(context.Background(), g.b64(t, func(s *samltest.ResponseSpec) { s.Now = g.now.Add(-4 * time.Minute) }))
	if !errorsIs(err, saml.ErrExpired) {
		t.Fatalf("got %v", err)
	}
}

func TestAWSModeReplayAndScope(t *testing.T) {
	f := newAWSFixture(t, nil)
	b64 := f.b64(t, nil)
	ctx := context.Background()
	if _, err := f.v.Verify(ctx, b64, saml.WithReplayScope("arn:aws:iam::123456789012:role/Dev")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Verify(ctx, b64, saml.WithReplayScope("arn:aws:iam::123456789012:role/Dev")); !errorsIs(err, saml.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if _, err := f.v.Verify(ctx, b64, saml.WithReplayScope("arn:aws:iam::123456789012:role/Ops")); err != nil {
		t.Fatalf("other scope: %v", err)
	}
	if _, err := f.v.Verify(ctx, b64); err != nil {
		t.Fatalf("unscoped first use: %v", err)
	}
	if _, err := f.v.Verify(ctx, b64); !errorsIs(err, saml.ErrReplay) {
		t.Fatalf("unscoped replay: %v", err)
	}
}

func TestAWSModeSizeLimit(t *testing.T) {
	f := newAWSFixture(t, nil)
	_, err := f.v.Verify(context.Background(), strings.Repeat("A", 100001))
	if !errorsIs(err, saml.ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	_, err = f.v.Verify(context.Background(), "bm90IHhtbA==")
	if !errorsIs(err, saml.ErrMalformed) {
		t.Fatalf("got %v", err)
	}
}

func TestAWSModeOwnRecipient(t *testing.T) {
	const own = "https://broker.example/sts/saml"
	f := newAWSFixture(t, func(c *saml.AWSVerifierConfig) {
		c.Recipients = []string{awsspec.SAMLRecipient, own}
		c.Audiences = []string{awsspec.SAMLAudience, "https://broker.example/sts"}
	})
	a, err := f.v.Verify(context.Background(), f.b64(t, func(s *samltest.ResponseSpec) {
		s.Recipient, s.Destination, s.Audiences = own, own, []string{"https://broker.example/sts"}
	}))
	if err != nil || a.Recipient != own {
		t.Fatalf("%v %+v", err, a)
	}
}

func TestAWSModeMetadataURL(t *testing.T) {
	k, c := cachedKey(t, "idp")
	idp := samltest.NewIdP(t, samltest.WithKeyPair(k, c))
	var hits atomic.Int32
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(idp.Metadata())
	}))
	defer srv.Close()
	now := time.Now().UTC()
	v, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata:    saml.MetadataSource{URL: srv.URL + "/md", Refresh: time.Hour},
		ReplayCache: saml.NewMemoryReplayCache(nil),
		Now:         func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 0 {
		t.Fatal("metadata fetched at construction")
	}
	spec := samltest.ResponseSpec{Now: now, Destination: awsspec.SAMLRecipient, Recipient: awsspec.SAMLRecipient, Audiences: []string{awsspec.SAMLAudience}, Sign: samltest.SignResponse}
	if _, err := v.Verify(context.Background(), samltest.Encode(samltest.XML(t, idp.BuildResponse(t, spec)))); err != nil {
		t.Fatal(err)
	}
	// Fetch failures keep the last good copy.
	fail.Store(true)
	if err := v.Refresh(context.Background()); err == nil {
		t.Fatal("refresh against a failing server succeeded")
	}
	if _, err := v.Verify(context.Background(), samltest.Encode(samltest.XML(t, idp.BuildResponse(t, spec)))); err != nil {
		t.Fatalf("after failed refresh: %v", err)
	}
	// Plain http to a non-loopback host is refused.
	if _, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{Metadata: saml.MetadataSource{URL: "http://idp.example/md"}, ReplayCache: saml.NewMemoryReplayCache(nil)}); err == nil {
		t.Fatal("http metadata URL accepted")
	}
}

// TestUnavailable: metadata that cannot be loaded and a replay cache that
// fails are ErrUnavailable (awsspec's, so the STS answers
// IDPCommunicationError), never a verdict on the assertion; an unreachable
// metadata URL is also providers.ErrUnavailable (the ACS answers 503).
func TestUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	down, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata: saml.MetadataSource{URL: srv.URL + "/md"}, ReplayCache: saml.NewMemoryReplayCache(nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := newAWSFixture(t, func(c *saml.AWSVerifierConfig) { c.ReplayCache = brokenReplay{} })
	b64 := f.b64(t, nil)
	_, mdErr := down.Verify(context.Background(), b64)
	_, replayErr := f.v.Verify(context.Background(), b64)
	for name, err := range map[string]error{"metadata": mdErr, "replay cache": replayErr} {
		var e *saml.Error
		if !errors.Is(err, saml.ErrUnavailable) || !errors.Is(err, awsspec.ErrSAMLUnavailable) ||
			errors.Is(err, providers.ErrInvalidCredentials) || errors.As(err, &e) {
			t.Errorf("%s: got %v, want ErrUnavailable only", name, err)
		}
	}
	if !errors.Is(mdErr, providers.ErrUnavailable) {
		t.Errorf("metadata: %v is not providers.ErrUnavailable", mdErr)
	}
}

type brokenReplay struct{}

func (brokenReplay) Claim(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("store down")
}

// TestAWSModeCallerReplayClaim: with WithCallerReplayClaim the verifier
// claims nothing (the STS claims after its own checks, so a refused call
// does not use the assertion up); without it, it claims as before.
func TestAWSModeCallerReplayClaim(t *testing.T) {
	const dev = "arn:aws:iam::123456789012:role/Dev"
	tests := []struct {
		name        string
		opts        []saml.VerifyOption
		wantSecond  error // nil: the second Verify succeeds
		wantEntries int
	}{
		{name: "caller claims", opts: []saml.VerifyOption{saml.WithCallerReplayClaim()}, wantEntries: 0},
		{name: "caller claims, scoped", opts: []saml.VerifyOption{saml.WithReplayScope(dev), saml.WithCallerReplayClaim()}, wantEntries: 0},
		{name: "verifier claims", opts: nil, wantSecond: saml.ErrReplay, wantEntries: 1},
		{name: "verifier claims, scoped", opts: []saml.VerifyOption{saml.WithReplayScope(dev)}, wantSecond: saml.ErrReplay, wantEntries: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cache *saml.MemoryReplayCache
			f := newAWSFixture(t, func(c *saml.AWSVerifierConfig) {
				cache = saml.NewMemoryReplayCache(c.Now)
				c.ReplayCache = cache
			})
			b64 := f.b64(t, nil)
			ctx := context.Background()
			a, err := f.v.Verify(ctx, b64, tc.opts...)
			if err != nil {
				t.Fatalf("first Verify: %v", err)
			}
			if a.ID == "" || a.NameID != userID {
				t.Fatalf("first Verify returned %+v", a)
			}
			_, err = f.v.Verify(ctx, b64, tc.opts...)
			switch {
			case tc.wantSecond == nil && err != nil:
				t.Fatalf("second Verify: %v, want success", err)
			case tc.wantSecond != nil && !errorsIs(err, tc.wantSecond):
				t.Fatalf("second Verify: %v, want %v", err, tc.wantSecond)
			}
			if got := cache.Len(); got != tc.wantEntries {
				t.Fatalf("replay cache holds %d entries, want %d", got, tc.wantEntries)
			}
		})
	}

	// The option skips only the claim: everything else is still checked.
	f := newAWSFixture(t, nil)
	bad := f.b64(t, func(s *samltest.ResponseSpec) { s.Audiences = []string{"urn:someone:else"} })
	if _, err := f.v.Verify(context.Background(), bad, saml.WithCallerReplayClaim()); !errorsIs(err, saml.ErrAudience) {
		t.Fatalf("wrong audience with WithCallerReplayClaim: %v, want ErrAudience", err)
	}
}

// TestMetadataURLHangingBacksOff: an IdP metadata server that never answers,
// and callers whose deadline (the STS's verify timeout) ends before the
// fetch's own timeout. The failed fetch is still the IdP's failure: it starts
// the back-off, so the following callers fail fast instead of each waiting
// for a fetch of their own, one by one.
func TestMetadataURLHangingBacksOff(t *testing.T) {
	const fetchTimeout = 300 * time.Millisecond
	tests := []struct {
		name          string
		callerTimeout time.Duration
	}{
		{"caller deadline shorter than the fetch timeout", 30 * time.Millisecond},
		{"caller deadline longer than the fetch timeout", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				select { // hang until the client gives up
				case <-r.Context().Done():
				case <-release:
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })
			v, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
				Metadata:    saml.MetadataSource{URL: srv.URL + "/md", Refresh: time.Hour, Timeout: fetchTimeout},
				ReplayCache: saml.NewMemoryReplayCache(nil),
			})
			if err != nil {
				t.Fatal(err)
			}
			const callers = 6
			start := time.Now()
			for i := range callers {
				ctx, cancel := context.WithTimeout(context.Background(), tt.callerTimeout)
				_, err := v.EntityID(ctx)
				cancel()
				if err == nil {
					t.Fatalf("caller %d: metadata from a hanging server", i)
				}
			}
			if got := hits.Load(); got != 1 {
				t.Fatalf("%d fetches for %d callers, want 1 (the back-off after the first failure)", got, callers)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Fatalf("%d callers took %v: the back-off did not make them fail fast", callers, el)
			}
		})
	}
}
