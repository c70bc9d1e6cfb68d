package revocation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/idbroker/idbroker/internal/store"
	"github.com/idbroker/idbroker/internal/store/redistest"
	"github.com/idbroker/idbroker/sts"
)

// Benchmarks: the hot path with a Set of 0, 100 and 10,000 entries against
// no checker at all (go test -run '^$' -bench . ./internal/revocation/).

var sizes = []int{0, 100, 10000}

// fill stores n entries — a third sessions, a third roles, a third access
// keys, none naming the benchmark's credentials — and returns a synced Set.
func fill(tb testing.TB, st store.Store, n int) *Set {
	tb.Helper()
	clk := &clock{}
	now := clk.Now()
	for i := range n {
		e := Entry{ID: fmt.Sprintf("%032x", i), NotBefore: now, Expires: now.Add(Lifetime), By: "arn:aws:sts::123456789012:assumed-role/admin/root"}
		switch i % 3 {
		case 0:
			e.Selector = Selector{Kind: KindSession, Value: fmt.Sprintf("session-%d", i)}
			e.SessionIDs = []string{e.Selector.Value}
		case 1:
			e.RoleARN = fmt.Sprintf("arn:aws:iam::123456789012:role/other-%d", i)
			e.Selector = Selector{Kind: KindRole, Value: e.RoleARN}
		default:
			e.AccessKeyID = fmt.Sprintf("ASIA%016d", i)
			e.Selector = Selector{Kind: KindAccessKeyID, Value: e.AccessKeyID}
		}
		raw, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.AddRevocation(context.Background(), store.RevocationRecord{ID: e.ID, Data: raw, Expires: e.Expires}); err != nil {
			tb.Fatal(err)
		}
	}
	s := newSet(st, clk)
	if err := s.Sync(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if got := len(s.List()); got != n {
		tb.Fatalf("filled %d entries, want %d", got, n)
	}
	return s
}

// BenchmarkRevoked is one check of chained credentials of a broker session
// (two ancestors) that no entry names: every lookup misses.
func BenchmarkRevoked(b *testing.B) {
	clk := &clock{}
	c := withSession(subject(clk), "the-benchmark-session")
	c.ParentAccessKeyIDs = []string{"ASIAPARENTPARENTPAR1", "ASIAPARENTPARENTPAR2"}
	c.ParentRoleARNs = []string{roleA, roleB}
	c.ParentIssuedAt = []time.Time{c.IssuedAt, c.IssuedAt}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			s := fill(b, store.NewMemory(nil), n)
			b.ReportAllocs()
			for b.Loop() {
				if s.Revoked(c) {
					b.Fatal("revoked")
				}
			}
		})
	}
}

// hotPath is an STS with (or without) a Set, and a signed GetCallerIdentity
// request of web identity credentials that carry a broker session id.
type hotPath struct {
	svc  *sts.Service
	body string
	hdr  http.Header
}

func newHotPath(b *testing.B, set *Set) *hotPath {
	b.Helper()
	keys, err := sts.GenerateKeyRing()
	if err != nil {
		b.Fatal(err)
	}
	cfg := sts.Config{AccountID: "123456789012", Keys: keys,
		Logger:        slog.New(slog.NewJSONHandler(io.Discard, nil)),
		OIDCProviders: []sts.OIDCProvider{{Issuer: brokerIssuer, Verifier: claimsVerifier{}}},
		Roles: []sts.RoleConfig{{Name: "dev", TrustPolicy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` +
			brokerOIDC + `"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`)}}}
	if set != nil {
		cfg.Revocations = set
	}
	svc, err := sts.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	out, err := svc.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: devRole, RoleSessionName: "bench", WebIdentityToken: brokerToken("alice", "the-benchmark-session")})
	if err != nil {
		b.Fatal(err)
	}
	c := out.Credentials
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	sum := sha256.Sum256([]byte(body))
	req := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken},
		req, hex.EncodeToString(sum[:]), "sts", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	return &hotPath{svc: svc, body: body, hdr: req.Header.Clone()}
}

func (h *hotPath) request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://sts.test/", strings.NewReader(h.body))
	r.Header = h.hdr
	return r
}

// hotPathCases are the checker settings compared: none, then a Set of
// each size.
func hotPathCases(b *testing.B, fn func(b *testing.B, h *hotPath)) {
	b.Run("checker=none", func(b *testing.B) { fn(b, newHotPath(b, nil)) })
	for _, n := range sizes {
		b.Run(fmt.Sprintf("set=%d", n), func(b *testing.B) { fn(b, newHotPath(b, fill(b, store.NewMemory(nil), n))) })
	}
}

// BenchmarkServeCallerIdentity is one signed GetCallerIdentity through
// ServeHTTP (as sts's benchmark of that name), without and with a Set.
func BenchmarkServeCallerIdentity(b *testing.B) {
	hotPathCases(b, func(b *testing.B, h *hotPath) {
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.svc.ServeHTTP(w, h.request())
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkAuthenticate is the SigV4 check alone, without and with a Set.
func BenchmarkAuthenticate(b *testing.B) {
	hotPathCases(b, func(b *testing.B, h *hotPath) {
		req, body := h.request(), []byte(h.body)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.svc.Authenticate(req, body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResyncUnchanged is what a replica pays every Resync (1 s) when
// nothing changed: "periodic" is Run's resync (a read of the generation,
// and every 30th time a full listing: the average is shown), "listing" a
// full listing and comparison (Sync).
func BenchmarkResyncUnchanged(b *testing.B) {
	for _, n := range []int{100, 10000} {
		for _, kind := range []string{"periodic", "listing"} {
			b.Run(fmt.Sprintf("memory/%s/entries=%d", kind, n), func(b *testing.B) {
				benchResync(b, fill(b, store.NewMemory(nil), n), kind)
			})
			b.Run(fmt.Sprintf("redis/%s/entries=%d", kind, n), func(b *testing.B) {
				srv := redistest.Start(b)
				r, err := store.NewRedis(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { r.Close() })
				benchResync(b, fill(b, r, n), kind)
			})
		}
	}
}

func benchResync(b *testing.B, s *Set, kind string) {
	sync := s.Sync
	if kind == "periodic" {
		sync = s.resync
	}
	before := s.ix.Load()
	b.ReportAllocs()
	for b.Loop() {
		if err := sync(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	if s.ix.Load() != before {
		b.Fatal("an unchanged resync swapped the index")
	}
}

// BenchmarkAdd is one Add to a Set holding 10,000 entries (the index is
// rebuilt: an administrator's action, not the hot path).
func BenchmarkAdd(b *testing.B) {
	s := fill(b, store.NewMemory(nil), 10000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := s.Add(context.Background(), Entry{Selector: Selector{Kind: KindSession, Value: fmt.Sprintf("added-%d", i)}}); err != nil {
			b.Fatal(err)
		}
	}
}
