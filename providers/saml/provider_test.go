package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]struct {
		cfg  saml.Config
		keys []string
	}{
		"no metadata":         {saml.Config{}, []string{"idp_metadata_url"}},
		"two sources":         {saml.Config{IdPMetadataURL: "https://idp.example/md", IdPMetadataXML: "<x/>"}, []string{"exactly one"}},
		"http metadata":       {saml.Config{IdPMetadataURL: "http://idp.example/md"}, []string{"idp_metadata_url"}},
		"delimiter alone":     {saml.Config{IdPMetadataXML: "<x/>", GroupsDelimiter: ","}, []string{"groups_delimiter"}},
		"skew":                {saml.Config{IdPMetadataXML: "<x/>", ClockSkew: -1}, []string{"clock_skew"}},
		"key without cert":    {saml.Config{IdPMetadataXML: "<x/>", SPKeyFile: "k.pem"}, []string{"sp_key_file"}},
		"relative entity id":  {saml.Config{IdPMetadataXML: "<x/>", EntityID: "sp"}, []string{"entity_id"}},
		"refresh without url": {saml.Config{IdPMetadataXML: "<x/>", MetadataRefresh: 1}, []string{"metadata_refresh"}},
	} {
		err := c.cfg.Validate()
		if err == nil || !errors.Is(err, providers.ErrConfiguration) {
			t.Fatalf("%s: %v", name, err)
		}
		for _, k := range c.keys {
			if !strings.Contains(err.Error(), k) {
				t.Fatalf("%s: error %q does not name %s", name, err, k)
			}
		}
	}
	if err := (saml.Config{IdPMetadataURL: "http://127.0.0.1:9/md"}).Validate(); err != nil {
		t.Fatalf("loopback http refused: %v", err)
	}
}

func TestSPMetadata(t *testing.T) {
	f := newFixture(t, func(c *saml.Config) { c.SignRequests = true })
	md, err := f.prov.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	ed := &crewjam.EntityDescriptor{}
	if err := xml.Unmarshal(md, ed); err != nil {
		t.Fatal(err)
	}
	if ed.EntityID != publicURL+"/saml/corp/metadata" {
		t.Fatalf("entity ID %q", ed.EntityID)
	}
	d := ed.SPSSODescriptors[0]
	if len(d.AssertionConsumerServices) != 1 || d.AssertionConsumerServices[0].Location != publicURL+"/saml/corp/acs" ||
		d.AssertionConsumerServices[0].Binding != crewjam.HTTPPostBinding {
		t.Fatalf("ACS %+v", d.AssertionConsumerServices)
	}
	uses := map[string]bool{}
	for _, kd := range d.KeyDescriptors {
		der, _ := base64.StdEncoding.DecodeString(kd.KeyInfo.X509Data.X509Certificates[0].Data)
		if !bytes.Equal(der, f.spCert.Raw) {
			t.Fatalf("%s key descriptor is not our certificate", kd.Use)
		}
		uses[kd.Use] = true
	}
	if !uses["signing"] || !uses["encryption"] || d.AuthnRequestsSigned == nil || !*d.AuthnRequestsSigned {
		t.Fatalf("key descriptors %v signed %v", uses, d.AuthnRequestsSigned)
	}
}

func TestMakeAuthnRequest(t *testing.T) {
	f := newFixture(t, func(c *saml.Config) { c.SignRequests = true })
	req, err := f.prov.MakeAuthnRequest(context.Background(), saml.BindingRedirect, "/a b&c")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(req.RedirectURL)
	if err != nil || !strings.HasPrefix(req.RedirectURL, f.idp.SSOURL+"?") {
		t.Fatalf("redirect %q", req.RedirectURL)
	}
	q := u.Query()
	if q.Get("RelayState") != "/a b&c" || q.Get("Signature") == "" || q.Get("SigAlg") == "" {
		t.Fatalf("query %v", q)
	}
	compressed, _ := base64.StdEncoding.DecodeString(q.Get("SAMLRequest"))
	raw, _ := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
	ar := &crewjam.AuthnRequest{}
	if err := xml.Unmarshal(raw, ar); err != nil {
		t.Fatal(err)
	}
	if ar.ID != req.ID || ar.AssertionConsumerServiceURL != f.prov.ACSURL() || ar.Issuer.Value != f.prov.EntityID() {
		t.Fatalf("request %+v", ar)
	}
	post, err := f.prov.MakeAuthnRequest(context.Background(), saml.BindingPOST, "/x")
	if err != nil || post.ID == "" || post.ID == req.ID || !bytes.Contains(post.HTMLForm, []byte("SAMLRequest")) {
		t.Fatalf("post %v %+v", err, post)
	}
	if _, err := f.prov.MakeAuthnRequest(context.Background(), saml.BindingRedirect, strings.Repeat("a", 81)); err == nil {
		t.Fatal("relay state over 80 bytes accepted")
	}
}

func TestSPKeyFiles(t *testing.T) {
	k, c := cachedKey(t, "sp")
	keyPEM, certPEM := samltest.PEM(k, c)
	dir := t.TempDir()
	kp, cp := filepath.Join(dir, "sp.key"), filepath.Join(dir, "sp.crt")
	if err := os.WriteFile(kp, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ik, ic := cachedKey(t, "idp")
	idp := samltest.NewIdP(t, samltest.WithKeyPair(ik, ic))
	p, err := saml.New(saml.Config{IdPMetadataFile: idp.MetadataFile(t), SPKeyFile: kp, SPCertFile: cp},
		saml.Options{Name: "files", PublicURL: publicURL, ReplayCache: saml.NewMemoryReplayCache(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Metadata(); err != nil {
		t.Fatal(err)
	}
}

// metadataServer serves IdP metadata that a test can swap or take down
// (nil document: 503), and counts fetches.
type metadataServer struct {
	URL     string
	doc     atomic.Pointer[[]byte]
	fetches atomic.Int32
}

func newMetadataServer(t *testing.T, doc []byte) *metadataServer {
	t.Helper()
	m := &metadataServer{}
	m.set(doc)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.fetches.Add(1)
		d := m.doc.Load()
		if d == nil {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(*d)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL + "/md"
	return m
}

func (m *metadataServer) set(doc []byte) {
	if doc == nil {
		m.doc.Store(nil)
		return
	}
	m.doc.Store(&doc)
}

func TestMetadataURLUnavailable(t *testing.T) {
	ms := newMetadataServer(t, nil)
	now := time.Now()
	k, c := cachedKey(t, "sp")
	p, err := saml.New(saml.Config{IdPMetadataURL: ms.URL}, saml.Options{
		Name: "down", PublicURL: publicURL, Key: k, Certificate: c, ReplayCache: saml.NewMemoryReplayCache(nil),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("construction must not need the IdP: %v", err)
	}
	if ms.fetches.Load() != 0 {
		t.Fatal("construction fetched the metadata")
	}
	// Nothing cached: the first request fetches; the next ones, within the
	// back-off, fail fast without asking the IdP again.
	for _, step := range []struct {
		advance time.Duration
		fetches int32
	}{{0, 1}, {0, 1}, {9 * time.Second, 1}, {time.Second, 2}, {10 * time.Second, 2}, {10 * time.Second, 3}} {
		now = now.Add(step.advance)
		for range 5 {
			if _, err := p.MakeAuthnRequest(context.Background(), saml.BindingRedirect, ""); !errors.Is(err, providers.ErrUnavailable) {
				t.Fatalf("got %v", err)
			}
		}
		if got := ms.fetches.Load(); got != step.fetches {
			t.Fatalf("after +%v: %d fetches, want %d", step.advance, got, step.fetches)
		}
	}
	// The IdP comes back: the next request after the back-off succeeds.
	k2, c2 := cachedKey(t, "idp")
	ms.set(samltest.NewIdP(t, samltest.WithKeyPair(k2, c2)).Metadata())
	now = now.Add(40 * time.Second)
	if _, err := p.MakeAuthnRequest(context.Background(), saml.BindingRedirect, ""); err != nil {
		t.Fatal(err)
	}
}

// TestMetadataURLBackoff: the IdP's metadata server goes down after a good
// fetch. Logins keep working on the stale copy while the refresh backs off
// (one fetch per back-off period, doubling); when the server comes back with
// a rotated key, the new key is picked up and the old one dropped.
func TestMetadataURLBackoff(t *testing.T) {
	k1, c1 := cachedKey(t, "idp")
	k2, c2 := cachedKey(t, "idp2")
	idp := samltest.NewIdP(t, samltest.WithKeyPair(k1, c1))
	md1 := idp.Metadata()
	idp.RotateKey(k2, c2)
	md2 := idp.Metadata()
	ms := newMetadataServer(t, md1)
	f := newFixtureIdP(t, "corp", idp, func(c *saml.Config) {
		c.IdPMetadataXML, c.IdPMetadataURL, c.MetadataRefresh = "", ms.URL, time.Hour
	})
	login := func(key *rsa.PrivateKey, cert *x509.Certificate) error {
		_, err := f.postDoc(t, f.build(t, func(s *samltest.ResponseSpec) { s.SignerKey, s.SignerCert = key, cert }))
		return err
	}
	failedRefreshes := func() int32 {
		return int32(strings.Count(f.logs.String(), "saml idp metadata refresh failed"))
	}
	// refetches counts the fetches after the first (good) one.
	refetches := func() int32 { return ms.fetches.Load() - 1 }
	// settle waits until every refetch the server saw has finished (each
	// failed background refresh logs once).
	settle := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for refetches() < want || refetches() != failedRefreshes() {
			if time.Now().After(deadline) {
				t.Fatalf("refetches %d, failed refreshes logged %d, want %d", refetches(), failedRefreshes(), want)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if err := login(k1, c1); err != nil {
		t.Fatal(err)
	}
	if ms.fetches.Load() != 1 {
		t.Fatalf("%d fetches", ms.fetches.Load())
	}

	ms.set(nil)
	pinCrewjamNow(t, f.clock)                  // crewjam's gate on the fixture's clock
	f.now = f.now.Add(time.Hour + time.Second) // the copy is stale
	for _, step := range []struct {
		advance time.Duration
		fetches int32 // refetches so far
	}{
		{0, 1},                   // the first stale request starts a refresh, which fails: back-off 10s
		{9 * time.Second, 1},     //
		{time.Second, 2},         // back-off 20s
		{19 * time.Second, 2},    //
		{time.Second, 3},         // 40s
		{39 * time.Second, 3},    //
		{time.Second, 4},         // 80s
		{80 * time.Second, 5},    // 160s
		{160 * time.Second, 6},   // 320s
		{320 * time.Second, 7},   // 640s
		{640 * time.Second, 8},   // 1280s
		{1280 * time.Second, 9},  // 2560s
		{2560 * time.Second, 10}, // 5120s, capped at the refresh interval (1h)
		{3599 * time.Second, 10}, //
		{time.Second, 11},        //
	} {
		f.now = f.now.Add(step.advance)
		for i := range 8 {
			if err := login(k1, c1); err != nil {
				t.Fatalf("after +%v: stale copy not served: %v", step.advance, err)
			}
			if i == 0 {
				settle(step.fetches)
			}
			time.Sleep(time.Millisecond) // let a (wrongly) started refresh reach the server
		}
		settle(step.fetches)
		if got := refetches(); got != step.fetches {
			t.Fatalf("after +%v: %d refetches, want %d", step.advance, got, step.fetches)
		}
	}

	// The server is back, with the IdP's rotated key.
	ms.set(md2)
	f.now = f.now.Add(time.Hour)
	if err := login(k1, c1); err != nil {
		t.Fatalf("stale copy not served while refreshing: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := login(k2, c2)
		if err == nil {
			break
		}
		if !errors.Is(err, saml.ErrSignature) || time.Now().After(deadline) {
			t.Fatalf("rotated key not picked up: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	err := login(k1, c1)
	f.expectReject(t, zeroIdentity, err, saml.ErrSignature)
	if got := refetches(); got != 12 {
		t.Fatalf("%d refetches, want 12", got)
	}
}
