package saml_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

const (
	publicURL = "https://broker.example"
	canary    = "CANARY-nameid-7f3a"
	userID    = "alice-" + canary + "@corp.example"
)

var keyCache struct {
	sync.Mutex
	m map[string]keyPair
}

type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// cachedKey returns a per-process key pair for a role (RSA generation is slow).
func cachedKey(t testing.TB, role string) (*rsa.PrivateKey, *x509.Certificate) {
	keyCache.Lock()
	defer keyCache.Unlock()
	if keyCache.m == nil {
		keyCache.m = map[string]keyPair{}
	}
	if kp, ok := keyCache.m[role]; ok {
		return kp.key, kp.cert
	}
	k, c := samltest.NewKeyPair(t, role)
	keyCache.m[role] = keyPair{k, c}
	return k, c
}

// logBuffer is a concurrency-safe buffer for a slog JSON handler.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fixture struct {
	idp    *samltest.IdP
	prov   *saml.Provider
	cache  *saml.MemoryReplayCache
	logs   *logBuffer
	now    time.Time
	spKey  *rsa.PrivateKey
	spCert *x509.Certificate
	name   string
}

func newFixture(t *testing.T, mod func(*saml.Config)) *fixture {
	t.Helper()
	return newFixtureIdP(t, "corp", nil, mod)
}

func newFixtureIdP(t *testing.T, name string, idp *samltest.IdP, mod func(*saml.Config)) *fixture {
	t.Helper()
	return newFixtureURL(t, name, idp, publicURL, mod)
}

func newFixtureURL(t *testing.T, name string, idp *samltest.IdP, pub string, mod func(*saml.Config)) *fixture {
	t.Helper()
	if idp == nil {
		k, c := cachedKey(t, "idp")
		idp = samltest.NewIdP(t, samltest.WithKeyPair(k, c))
	}
	spKey, spCert := cachedKey(t, "sp")
	f := &fixture{idp: idp, logs: &logBuffer{}, now: time.Now().UTC().Truncate(time.Millisecond), spKey: spKey, spCert: spCert, name: name}
	f.cache = saml.NewMemoryReplayCache(f.clock)
	cfg := saml.Config{
		IdPMetadataXML:  string(idp.Metadata()),
		GroupsAttribute: "groups",
		EmailAttribute:  "mail",
		NameAttribute:   "displayName",
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := saml.New(cfg, saml.Options{
		Name: name, PublicURL: pub, Key: spKey, Certificate: spCert,
		ReplayCache: f.cache, Now: f.clock,
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("saml.New: %v", err)
	}
	f.prov = p
	return f
}

func (f *fixture) clock() time.Time { return f.now }

// spec is the baseline response R of THREATS.md §1 for this SP.
func (f *fixture) spec() samltest.ResponseSpec {
	return samltest.ResponseSpec{
		Now:          f.now,
		Destination:  f.prov.ACSURL(),
		InResponseTo: "REQ1",
		Recipient:    f.prov.ACSURL(),
		Audiences:    []string{f.prov.EntityID()},
		NameID:       userID,
		Attributes: []samltest.Attribute{
			{Name: "groups", Values: []string{"dev"}},
			{Name: "urn:oid:0.9.2342.19200300100.1.3", FriendlyName: "mail", Values: []string{"alice@corp.example"}},
		},
	}
}

func (f *fixture) build(t *testing.T, mod func(*samltest.ResponseSpec)) *etree.Document {
	t.Helper()
	s := f.spec()
	if mod != nil {
		mod(&s)
	}
	return f.idp.BuildResponse(t, s)
}

// post submits a SAMLResponse to the ACS.
func (f *fixture) post(t *testing.T, b64 string, ids []string, relay string) (providers.Identity, string, error) {
	t.Helper()
	form := url.Values{"SAMLResponse": {b64}}
	if relay != "" {
		form.Set("RelayState", relay)
	}
	r := httptest.NewRequest(http.MethodPost, f.prov.ACSURL(), strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.prov.HandleACS(context.Background(), r, ids)
}

func (f *fixture) postDoc(t *testing.T, doc *etree.Document, ids ...string) (providers.Identity, error) {
	t.Helper()
	if ids == nil {
		ids = []string{"REQ1"}
	}
	id, _, err := f.post(t, samltest.Encode(samltest.XML(t, doc)), ids, "")
	return id, err
}

// expectReject checks the error class, that no identity came out, that the
// private reason of this rejection was logged for the operator, and that the
// logs hold no assertion material (THREATS.md §0.3).
func (f *fixture) expectReject(t *testing.T, id providers.Identity, err error, class error) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted (subject %q), want %v", id.Subject, class)
	}
	if class != nil && !errors.Is(err, class) {
		t.Fatalf("error %v, want class %v", err, class)
	}
	if id.Subject != "" || id.Username != "" {
		t.Fatalf("identity returned with an error: %+v", id)
	}
	if !errors.Is(err, providers.ErrInvalidCredentials) && !errors.Is(err, saml.ErrTooLarge) {
		t.Fatalf("error %v does not match providers.ErrInvalidCredentials", err)
	}
	logs := f.logs.String()
	checkLogs(t, logs)
	if strings.Contains(err.Error(), canary) {
		t.Fatalf("error text contains assertion content: %v", err)
	}
	expectReasonLogged(t, logs, "saml response rejected", err)
}

// expectReasonLogged checks that the last record with message msg in the
// JSON logs carries err's class and private reason (and that there is one).
func expectReasonLogged(t *testing.T, logs, msg string, err error) {
	t.Helper()
	var e *saml.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *saml.Error", err)
	}
	if strings.TrimSpace(e.Reason) == "" {
		t.Fatalf("error %v has no reason", err)
	}
	var last map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			last = rec
		}
	}
	if last == nil {
		t.Fatalf("no %q record logged for %v:\n%s", msg, err, logs)
	}
	if last["reason"] != e.Reason || last["class"] != e.Class.Error() || last["level"] != "WARN" {
		t.Fatalf("last %q record %v, want class %q reason %q", msg, last, e.Class, e.Reason)
	}
}

func checkLogs(t *testing.T, logs string) {
	t.Helper()
	for _, bad := range []string{"PHNhbWxw", "PD94bWw", "PHNhbWwy", canary, "SAMLResponse="} {
		if strings.Contains(logs, bad) {
			t.Fatalf("logs contain %q:\n%s", bad, logs)
		}
	}
}

var zeroIdentity providers.Identity

func errorsIs(err, target error) bool { return errors.Is(err, target) }
