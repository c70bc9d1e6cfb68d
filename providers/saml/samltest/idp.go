package samltest

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// User is who the test IdP logs in.
type User struct {
	NameID       string
	NameIDFormat string // default transient
	// Attributes are emitted as-is (Name, FriendlyName, values).
	Attributes []Attribute
	// AuthnContextClassRef overrides PasswordProtectedTransport.
	AuthnContextClassRef string
	// SessionNotOnOrAfter, when set, is put on the AuthnStatement.
	SessionNotOnOrAfter time.Time
}

// Attribute is one SAML attribute.
type Attribute struct {
	Name, FriendlyName string
	Values             []string
}

// IdP is an in-process SAML identity provider.
type IdP struct {
	// EntityID is the IdP entity ID (its metadata URL, as crewjam uses it).
	EntityID string
	Key      *rsa.PrivateKey
	Cert     *x509.Certificate
	// URL is the base URL of its HTTP server; SSOURL its SingleSignOnService.
	URL, SSOURL string

	sha1   bool
	server *httptest.Server
	idp    *crewjam.IdentityProvider

	mu       sync.Mutex
	sps      map[string]*crewjam.EntityDescriptor
	user     *User
	requests int
}

// Option configures NewIdP.
type Option func(*IdP)

// WithKeyPair uses the given signing key and certificate.
func WithKeyPair(key *rsa.PrivateKey, cert *x509.Certificate) Option {
	return func(i *IdP) { i.Key, i.Cert = key, cert }
}

// WithSHA1 makes the HTTP IdP sign with RSA-SHA1 (crewjam's own default).
func WithSHA1() Option { return func(i *IdP) { i.sha1 = true } }

// NewIdP starts an IdP on a loopback httptest server (closed at test end).
// It serves /metadata and /sso (HTTP-Redirect and HTTP-POST bindings).
func NewIdP(t testing.TB, opts ...Option) *IdP {
	t.Helper()
	i := &IdP{sps: map[string]*crewjam.EntityDescriptor{}}
	for _, o := range opts {
		o(i)
	}
	if i.Key == nil {
		i.Key, i.Cert = NewKeyPair(t, "samltest idp")
	}
	mux := http.NewServeMux()
	i.server = httptest.NewServer(mux)
	t.Cleanup(i.server.Close)
	i.URL = i.server.URL
	i.SSOURL = i.URL + "/sso"
	i.EntityID = i.URL + "/metadata"
	metaURL, _ := url.Parse(i.EntityID)
	ssoURL, _ := url.Parse(i.SSOURL)
	i.idp = &crewjam.IdentityProvider{
		Key:                     i.Key,
		Certificate:             i.Cert,
		MetadataURL:             *metaURL,
		SSOURL:                  *ssoURL,
		Logger:                  nopLogger{},
		ServiceProviderProvider: (*spProvider)(i),
		SessionProvider:         (*sessionProvider)(i),
		AssertionMaker:          (*assertionMaker)(i),
		SignatureMethod:         dsig.RSASHA256SignatureMethod,
	}
	if i.sha1 {
		i.idp.SignatureMethod = dsig.RSASHA1SignatureMethod
	}
	mux.HandleFunc("/metadata", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(i.Metadata())
	})
	mux.HandleFunc("/sso", func(w http.ResponseWriter, r *http.Request) {
		i.mu.Lock()
		i.requests++
		i.mu.Unlock()
		i.idp.ServeSSO(w, r)
	})
	mux.HandleFunc("/initiate", func(w http.ResponseWriter, r *http.Request) {
		i.idp.ServeIDPInitiated(w, r, r.URL.Query().Get("sp"), r.URL.Query().Get("RelayState"))
	})
	return i
}

// InitiateURL starts an IdP-initiated login to the registered SP spEntityID:
// fetching it returns the auto-post form carrying an unsolicited Response.
func (i *IdP) InitiateURL(spEntityID, relayState string) string {
	return i.URL + "/initiate?" + url.Values{"sp": {spEntityID}, "RelayState": {relayState}}.Encode()
}

// Metadata returns the IdP metadata XML.
func (i *IdP) Metadata() []byte {
	b, err := xml.MarshalIndent(i.idp.Metadata(), "", "  ")
	if err != nil {
		panic(fmt.Sprintf("samltest: marshal metadata: %v", err))
	}
	return b
}

// MetadataURL is where Metadata is served.
func (i *IdP) MetadataURL() string { return i.EntityID }

// MetadataFile writes Metadata to a file in t.TempDir and returns its path.
func (i *IdP) MetadataFile(t testing.TB) string {
	t.Helper()
	p := t.TempDir() + "/idp-metadata.xml"
	if err := os.WriteFile(p, i.Metadata(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SSORequests counts requests to /sso.
func (i *IdP) SSORequests() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.requests
}

// RegisterSP registers a service provider by its metadata. With encrypt
// false, the SP's encryption certificate is ignored (crewjam's IdP encrypts
// whenever the SP metadata has one).
func (i *IdP) RegisterSP(t testing.TB, spMetadata []byte, encrypt bool) {
	t.Helper()
	ed := &crewjam.EntityDescriptor{}
	if err := xml.Unmarshal(spMetadata, ed); err != nil {
		t.Fatalf("samltest: SP metadata: %v", err)
	}
	if !encrypt {
		for d := range ed.SPSSODescriptors {
			var kept []crewjam.KeyDescriptor
			for _, kd := range ed.SPSSODescriptors[d].KeyDescriptors {
				if kd.Use != "encryption" {
					kept = append(kept, kd)
				}
			}
			ed.SPSSODescriptors[d].KeyDescriptors = kept
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.sps[ed.EntityID] = ed
}

// SetUser sets who the next logins authenticate as (nil: the IdP answers 403).
func (i *IdP) SetUser(u *User) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.user = u
}

type spProvider IdP

func (p *spProvider) GetServiceProvider(_ *http.Request, id string) (*crewjam.EntityDescriptor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ed, ok := p.sps[id]
	if !ok {
		return nil, os.ErrNotExist
	}
	return ed, nil
}

type sessionProvider IdP

func (p *sessionProvider) GetSession(w http.ResponseWriter, _ *http.Request, _ *crewjam.IdpAuthnRequest) *crewjam.Session {
	p.mu.Lock()
	u := p.user
	p.mu.Unlock()
	if u == nil {
		http.Error(w, "no user", http.StatusForbidden)
		return nil
	}
	s := &crewjam.Session{
		ID: "session-" + u.NameID, CreateTime: crewjam.TimeNow(), ExpireTime: crewjam.TimeNow().Add(time.Hour),
		Index: "idx-1", NameID: u.NameID, NameIDFormat: u.NameIDFormat,
	}
	for _, a := range u.Attributes {
		ca := crewjam.Attribute{Name: a.Name, FriendlyName: a.FriendlyName,
			NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range a.Values {
			ca.Values = append(ca.Values, crewjam.AttributeValue{Type: "xs:string", Value: v})
		}
		s.CustomAttributes = append(s.CustomAttributes, ca)
	}
	return s
}

type assertionMaker IdP

func (m *assertionMaker) MakeAssertion(req *crewjam.IdpAuthnRequest, s *crewjam.Session) error {
	if err := (crewjam.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		return err
	}
	m.mu.Lock()
	u := m.user
	m.mu.Unlock()
	if u == nil {
		return nil
	}
	st := &req.Assertion.AuthnStatements[0]
	if u.AuthnContextClassRef != "" {
		st.AuthnContext.AuthnContextClassRef.Value = u.AuthnContextClassRef
	}
	if !u.SessionNotOnOrAfter.IsZero() {
		t := u.SessionNotOnOrAfter
		st.SessionNotOnOrAfter = &t
	}
	return nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...interface{}) {}
func (nopLogger) Print(...interface{})          {}
func (nopLogger) Println(...interface{})        {}
func (nopLogger) Fatal(...interface{})          {}
func (nopLogger) Fatalf(string, ...interface{}) {}
func (nopLogger) Fatalln(...interface{})        {}
func (nopLogger) Panic(...interface{})          {}
func (nopLogger) Panicf(string, ...interface{}) {}
func (nopLogger) Panicln(...interface{})        {}

// Encode returns the base64 form of an XML document (a SAMLResponse value).
func Encode(doc []byte) string { return base64.StdEncoding.EncodeToString(doc) }

// RotateKey makes the IdP sign with a new key pair from now on; Metadata
// then lists the new certificate, under the same entity ID. It is not safe
// to call concurrently with logins.
func (i *IdP) RotateKey(key *rsa.PrivateKey, cert *x509.Certificate) {
	i.Key, i.Cert = key, cert
	i.idp.Key, i.idp.Certificate = key, cert
}
