package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
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
	"testing"

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

func TestMetadataURLUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	k, c := cachedKey(t, "sp")
	p, err := saml.New(saml.Config{IdPMetadataURL: srv.URL + "/md"}, saml.Options{
		Name: "down", PublicURL: publicURL, Key: k, Certificate: c, ReplayCache: saml.NewMemoryReplayCache(nil)})
	if err != nil {
		t.Fatalf("construction must not need the IdP: %v", err)
	}
	if _, err := p.MakeAuthnRequest(context.Background(), saml.BindingRedirect, ""); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
}
