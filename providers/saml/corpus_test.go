package saml

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// crewjamTestdata locates crewjam's testdata in the module cache. Its absence
// is a failure, not a skip: without it the corpus (the XSW permutations and
// the real-world captures) silently stops being checked.
func crewjamTestdata(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/crewjam/saml").Output()
	if err != nil {
		t.Fatalf("CORPUS MISSING: cannot locate the crewjam/saml module (go list -m): %v; run `go mod download github.com/crewjam/saml`", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "testdata")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("CORPUS MISSING: crewjam testdata directory %s not present (%v); run `go mod download github.com/crewjam/saml`", dir, err)
	}
	return dir
}

type corpusCase struct {
	name      string
	response  string // file
	mutate    func(string) string
	metadata  string
	key       string // SP key file
	acs       string // our ACS; entity ID is .../metadata
	requestID string
	now       string // RFC3339: our clock (used for time checks and certificate validity)
	accept    bool
	nameID    string
	// For refused cases: the error class and a fragment of the private reason.
	wantClass  error
	wantReason string
}

const (
	ngrok   = "https://29ee6d2e.ngrok.io/saml/acs"
	okta    = "http://localhost:8000/saml/acs"
	ol2014  = "http://sp.example.com/demo1/index.php?acs"
	rw2017  = "https://preview.docrocket-ross.test.octolabs.io/saml/acs"
	olMeta  = "TestSPCanHandleOneloginResponse_IDPMetadata"
	sa2014  = "TestServiceProviderCanHandleSignedAssertionsResponse_IDPMetadata"
	rwMeta  = "TestSPRealWorldKeyInfoHasRSAPublicKeyNotX509Cert_idp_metadata"
	olReq   = "id-d40c15c104b52691eccf0a2a5c8a15595be75423"
	oReq    = "ONELOGIN_4fee3b046395c4e751011e97f8900b5273d56685"
	rwReq   = "id-3992f74e652d89c3cf1efd6c7e472abaac9bc917"
	ggReq   = "id-fd419a5ab0472645427f8e07d87a3a5dd0b2e9a6"
	t2016ol = "2016-01-05T17:53:12Z"
	t2016gg = "2016-01-05T16:55:39Z"
	t2014   = "2014-07-17T14:12:57Z"
	t2017   = "2017-04-21T13:12:51Z"
)

func corpus() []corpusCase {
	xsw := func(n, meta, acs, req, now, reason string) corpusCase {
		return corpusCase{name: "XSW " + n, response: "TestXswPermutation" + n + "IsRejected_response", metadata: meta, key: "sp_key.pem", acs: acs, requestID: req, now: now,
			wantClass: ErrMalformed, wantReason: reason}
	}
	const (
		nested   = "nested Response element"
		oneAsrt  = "response must contain exactly one assertion"
		duplicID = "duplicate ID attribute value"
	)
	return []corpusCase{
		xsw("One", olMeta, ngrok, olReq, t2016ol, nested),
		xsw("Two", olMeta, ngrok, olReq, t2016ol, nested),
		xsw("Three", sa2014, ol2014, oReq, t2014, oneAsrt),
		xsw("Four", sa2014, ol2014, oReq, t2014, oneAsrt),
		xsw("Five", sa2014, ol2014, oReq, t2014, oneAsrt),
		xsw("Six", sa2014, ol2014, oReq, t2014, oneAsrt),
		xsw("Seven", sa2014, ol2014, oReq, t2014, duplicID),
		xsw("Eight", sa2014, ol2014, oReq, t2014, duplicID),
		xsw("Nine", sa2014, ol2014, oReq, t2014, oneAsrt),
		{name: "multiple assertions", response: "TestSPMultipleAssertions", metadata: rwMeta, key: "key_2017.pem", acs: rw2017, requestID: rwReq, now: t2017,
			wantClass: ErrMalformed, wantReason: duplicID},
		{name: "onelogin", response: "TestSPCanHandleOneloginResponse_response", metadata: olMeta, key: "sp_key.pem", acs: ngrok, requestID: olReq, now: t2016ol, accept: true},
		{name: "google plaintext", response: "TestSPCanHandlePlaintextResponse_response", metadata: "TestSPCanHandlePlaintextResponse_IDPMetadata", key: "sp_key.pem", acs: ngrok, requestID: ggReq, now: t2016gg, accept: true, nameID: "ross@octolabs.io"},
		{name: "okta signed response, encrypted assertion", response: "TestSPCanHandleOktaSignedResponseEncryptedAssertion_response", metadata: "TestSPCanHandleOktaSignedResponseEncryptedAssertion_IDPMetadata", key: "sp_key.pem", acs: okta, requestID: "id-a7364d1e4432aa9085a7a8bd824ea2fa8fa8f684", now: "2020-03-03T19:24:28Z", accept: true, nameID: "testuser@testrsc.com"},
		{name: "okta encrypted signed assertion", response: "TestSPCanHandleOktaResponseEncryptedSignedAssertion_response", metadata: "TestSPCanHandleOktaResponseEncryptedSignedAssertion_IDPMetadata", key: "sp_key.pem", acs: okta, requestID: "id-6d976cdde8e76df5df0a8ff58148fc0b7ec6796d", now: "2020-03-03T19:31:55Z", accept: true, nameID: "testuser@testrsc.com"},
		{name: "okta encrypted, both signed", response: "TestSPCanHandleOktaResponseEncryptedAssertionBothSigned_response", metadata: "TestSPCanHandleOktaResponseEncryptedAssertionBothSigned_IDPMetadata", key: "sp_key.pem", acs: okta, requestID: "id-953d4cab69ff475c5901d12e585b0bb15a7b85fe", now: "2020-03-03T19:40:54Z", accept: true, nameID: "testuser@testrsc.com"},
		{name: "real world RSAKeyValue", response: "TestSPRealWorldKeyInfoHasRSAPublicKeyNotX509Cert_response", metadata: rwMeta, key: "key_2017.pem", acs: rw2017, requestID: rwReq, now: t2017, accept: true},
		{name: "real world assertion signed not response", response: "TestSPRealWorldAssertionSignedNotResponse_response", metadata: "TestSPRealWorldAssertionSignedNotResponse_idp_metadata", key: "key_2017.pem", acs: rw2017, requestID: rwReq, now: t2017, accept: true},
		{name: "comment inside NameID (valid)", response: "TestSPRejectsInjectedComment_response", metadata: "TestSPRejectsInjectedComment_IDPMetadata", key: "sp_key.pem", acs: ngrok, requestID: ggReq, now: t2016gg,
			mutate: func(s string) string {
				return strings.Replace(s, "ross@octolabs.io", "ross@<!-- and a comment -->octolabs.io", 1)
			}, accept: true, nameID: "ross@octolabs.io"},
		{name: "CVE-2018-7340 comment injection", response: "TestSPRejectsInjectedComment_response", metadata: "TestSPRejectsInjectedComment_IDPMetadata", key: "sp_key.pem", acs: ngrok, requestID: ggReq, now: t2016gg,
			mutate: func(s string) string {
				return strings.Replace(s, "ross@octolabs.io", "ross@octolabs.io<!-- and a comment -->.example.com", 1)
			}, wantClass: ErrSignature, wantReason: "crewjam: cannot validate signature"},
		{name: "malformed attribute", response: "TestSPRejectsMalformedResponse_response", metadata: "TestSPRejectsMalformedResponse_IDPMetadata", key: "sp_key.pem", acs: ngrok, requestID: ggReq, now: t2016gg,
			mutate: func(s string) string {
				return strings.Replace(s, "<saml2p:Response", `<saml2p:Response ::foo="bar"`, 1)
			}, wantClass: ErrMalformed, wantReason: "xml syntax error"},
		{name: "duplicate Destination", response: "TestSPCanHandleOneloginResponse_response", metadata: olMeta, key: "sp_key.pem", acs: ngrok, requestID: olReq, now: t2016ol,
			mutate: func(s string) string {
				return strings.Replace(s, "<samlp:Response ", `<samlp:Response Destination="https://evil.example/acs" `, 1)
			}, wantClass: ErrMalformed, wantReason: "duplicate attribute"},
	}
}

// TestCrewjamCorpus runs crewjam's own real-world and XSW corpus through our
// verifier, and through crewjam's ParseXMLResponse as a differential check,
// with the clock pinned. crewjam reads package globals (TimeNow, Clock), so
// this test saves and restores them and must not run in parallel.
func TestCrewjamCorpus(t *testing.T) {
	dir := crewjamTestdata(t)
	savedNow, savedClock := crewjam.TimeNow, crewjam.Clock
	t.Cleanup(func() { crewjam.TimeNow, crewjam.Clock = savedNow, savedClock })
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return b
	}
	for _, c := range corpus() {
		t.Run(c.name, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, c.now)
			if err != nil {
				t.Fatal(err)
			}
			crewjam.TimeNow = func() time.Time { return now }
			crewjam.Clock = dsig.NewFakeClockAt(now)

			raw := read(c.response)
			doc := raw
			if raw[0] != '<' {
				doc, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
				if err != nil {
					t.Fatal(err)
				}
			}
			if c.mutate != nil {
				doc = []byte(c.mutate(string(doc)))
			}
			ed := &crewjam.EntityDescriptor{}
			if err := xml.Unmarshal(read(c.metadata), ed); err != nil {
				t.Fatal(err)
			}
			trust := &IdPMetadata{EntityID: ed.EntityID, Descriptor: ed}
			blk, _ := pem.Decode(read(c.key))
			k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil {
				pk, err2 := x509.ParsePKCS8PrivateKey(blk.Bytes)
				if err2 != nil {
					t.Fatal(err)
				}
				k = pk.(*rsa.PrivateKey)
			}
			entityID := strings.TrimSuffix(c.acs, "acs") + "metadata"
			if c.acs == ol2014 {
				entityID = "http://sp.example.com/demo1/metadata.php"
			}
			v := &verifier{
				recipients: []string{c.acs}, audiences: []string{entityID}, decryptKey: k,
				allowSHA1: true,                              // the corpus predates SHA-256 signatures
				skew:      24 * time.Hour, maxAge: time.Hour, // old captures; the XSW files carry inconsistent times
				now:    func() time.Time { return now },
				replay: NewMemoryReplayCache(func() time.Time { return now }),
			}
			a, err := v.verify(context.Background(), doc, verifyRequest{idp: trust, requestIDs: []string{c.requestID}})

			// crewjam, for comparison.
			acsURL, _ := url.Parse(c.acs)
			metaURL, _ := url.Parse(entityID)
			sp := crewjam.ServiceProvider{Key: k, AcsURL: *acsURL, MetadataURL: *metaURL, IDPMetadata: ed}
			ca, cerr := sp.ParseXMLResponse(doc, []string{c.requestID}, *acsURL)

			if !c.accept {
				if err == nil {
					t.Fatalf("accepted (NameID %q); crewjam err=%v", a.NameID, cerr != nil)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error is not *Error: %v", err)
				}
				if c.wantClass == nil || c.wantReason == "" {
					t.Fatalf("refused case without an expected class and reason: %v", err)
				}
				if !errors.Is(err, c.wantClass) || !strings.Contains(e.Reason, c.wantReason) {
					t.Fatalf("refused with %v, want class %v and reason containing %q", err, c.wantClass, c.wantReason)
				}
				t.Logf("refused: %v (crewjam refused: %v)", err, cerr != nil)
				return
			}
			if err != nil {
				var ire *crewjam.InvalidResponseError
				if errors.As(cerr, &ire) {
					cerr = ire.PrivateErr
				}
				t.Fatalf("refused: %v (crewjam: %v)", err, cerr)
			}
			if cerr == nil && ca.Subject != nil && ca.Subject.NameID != nil && ca.Subject.NameID.Value != a.NameID {
				t.Fatalf("NameID %q, crewjam read %q", a.NameID, ca.Subject.NameID.Value)
			}
			if c.nameID != "" && a.NameID != c.nameID {
				t.Fatalf("NameID %q, want %q", a.NameID, c.nameID)
			}
			// Without allow_sha1 the same (SHA-1 signed) document is refused.
			v.allowSHA1 = false
			v.replay = NewMemoryReplayCache(nil)
			if _, err := v.verify(context.Background(), doc, verifyRequest{idp: trust, requestIDs: []string{c.requestID}}); err == nil {
				t.Logf("accepted without allow_sha1 too (SHA-256 signed)")
			} else if !errors.Is(err, ErrSignature) {
				t.Fatalf("without allow_sha1: %v", err)
			}
		})
	}
}
