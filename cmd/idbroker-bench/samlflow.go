package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// The saml flow: AssumeRoleWithSAML with Responses of a bench IdP the
// driver registers in sts.saml_providers. Every Response is unique (the
// STS refuses a replayed assertion) and signed ahead of the run: signing
// is the IdP's cost, not the server's. Responses are minted right before
// each idbroker run (the STS refuses assertions issued more than 5 minutes
// ago); the floor run that follows re-uses them, cyclically (it keeps no
// replay cache).
const (
	samlProviderName = "bench-idp"
	samlEntityID     = "https://idp.bench.example/saml"
	samlRecipient    = "https://signin.aws.amazon.com/saml"
	samlAudience     = "urn:amazon:webservices"
	samlAttrRole     = "https://aws.amazon.com/SAML/Attributes/Role"
	samlAttrSession  = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
)

var samlProviderARN = "arn:aws:iam::" + benchAccount + ":saml-provider/" + samlProviderName

// samlIdP is the bench IdP: a key pair and the files the server (metadata)
// and the floor (certificate) read.
type samlIdP struct {
	key          *rsa.PrivateKey
	cert         *x509.Certificate
	metadataPath string
	certPath     string
}

func newSAMLIdP(dir string) (*samlIdP, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("saml idp key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "idbroker-bench IdP"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("saml idp certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	s := &samlIdP{key: key, cert: cert,
		metadataPath: filepath.Join(dir, "saml-idp-metadata.xml"), certPath: filepath.Join(dir, "saml-idp.crt")}
	if err := os.WriteFile(s.metadataPath, samlMetadata(cert), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// samlMetadata is the IdP's SAML metadata (signing certificate, SSO URL).
func samlMetadata(cert *x509.Certificate) []byte {
	return []byte(`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="` + samlEntityID + `">
 <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>` +
		base64.StdEncoding.EncodeToString(cert.Raw) + `</X509Certificate></X509Data></KeyInfo></KeyDescriptor>
  <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.bench.example/sso"/>
 </IDPSSODescriptor>
</EntityDescriptor>
`)
}

// mintPool signs n unique Responses (base64) on every core.
func (s *samlIdP) mintPool(ctx context.Context, n int) ([]string, error) {
	out := make([]string, n)
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	now := time.Now()
	for range runtime.NumCPU() {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				doc, err := samltest.BuildSignedResponse(samlEntityID, s.key, s.cert, samltest.ResponseSpec{
					Now: now, Lifetime: 10 * time.Minute, Recipient: samlRecipient, Audiences: []string{samlAudience},
					NameID: fmt.Sprintf("user-%06d@bench.example", i),
					Attributes: []samltest.Attribute{
						{Name: samlAttrRole, Values: []string{benchRoleARN + "," + samlProviderARN}},
						{Name: samlAttrSession, Values: []string{fmt.Sprintf("saml-%06d", i)}},
					},
				})
				if err != nil {
					errOnce.Do(func() { first = err })
					return
				}
				out[i] = base64.StdEncoding.EncodeToString(doc)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, fmt.Errorf("minting SAML Responses: %w", first)
	}
	return out, ctx.Err()
}

func samlBody(b64 string) string {
	return "Action=AssumeRoleWithSAML&Version=" + stsVersion +
		"&RoleArn=" + url.QueryEscape(benchRoleARN) +
		"&PrincipalArn=" + url.QueryEscape(samlProviderARN) +
		"&SAMLAssertion=" + url.QueryEscape(b64)
}

// prepareSAML hands out the pool's Responses once each, across all
// connections; a connection stops when the pool is used up (the run then
// ends early and req/s is taken over the time actually measured). The
// floor, which keeps no replay cache, cycles through the same pool.
func prepareSAML(ctx context.Context, b *bench, t target, _ int) (*prepared, string, error) {
	if b.saml == nil {
		return nil, b.samlSkip, nil
	}
	if t.kind == "idbroker" || b.samlPool == nil {
		b.log.Info("minting SAML Responses", "n", b.opts.samlPool)
		start := time.Now()
		pool, err := b.saml.mintPool(ctx, b.opts.samlPool)
		if err != nil {
			return nil, "", err
		}
		b.log.Info("minted", "n", len(pool), "took", time.Since(start).Round(time.Millisecond))
		b.samlPool = pool
	}
	reqs := make([][]byte, len(b.samlPool))
	for i, a := range b.samlPool {
		reqs[i] = rawPost(t.addr, "/", "application/x-www-form-urlencoded", samlBody(a))
	}
	var next atomic.Int64
	reuse := t.kind == "floor" // the floor keeps no replay cache
	return &prepared{
		newGen: func(int) genFunc {
			return func(buf []byte, _ int) []byte {
				i := next.Add(1) - 1
				if reuse {
					i %= int64(len(reqs))
				} else if i >= int64(len(reqs)) {
					return nil // pool used up: this connection is done
				}
				return append(buf, reqs[i]...)
			}
		},
		check: okWhen("<SessionToken>"),
	}, "", nil
}

// floorSAML is the saml floor: verify the assertion's XML signature with
// goxmldsig against the IdP certificate, check its expiry and that its
// Role attribute names the requested role and provider, then mint.
type floorSAML struct {
	certs *dsig.MemoryX509CertificateStore
}

func loadFloorSAML(certFile string) (*floorSAML, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, errors.New("saml cert: no PEM block")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, err
	}
	return &floorSAML{certs: &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}}}, nil
}

var errFloorSAML = errors.New("invalid SAML response")

// verify returns the session name of a valid Response for roleARN.
func (fs *floorSAML) verify(b64, roleARN, principalARN string, now time.Time) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", errFloorSAML
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return "", errFloorSAML
	}
	as := doc.FindElement("./Response/Assertion")
	if as == nil {
		return "", errFloorSAML
	}
	vctx := dsig.NewDefaultValidationContext(fs.certs)
	vctx.Clock = dsig.NewFakeClockAt(now)
	signed, err := vctx.Validate(as)
	if err != nil {
		return "", errFloorSAML
	}
	cond := signed.FindElement("./Conditions")
	if cond == nil {
		return "", errFloorSAML
	}
	until, err := time.Parse(time.RFC3339, cond.SelectAttrValue("NotOnOrAfter", ""))
	if err != nil || !now.Before(until) {
		return "", errFloorSAML
	}
	var session string
	roleOK := false
	for _, at := range signed.FindElements("./AttributeStatement/Attribute") {
		for _, v := range at.SelectElements("AttributeValue") {
			switch at.SelectAttrValue("Name", "") {
			case samlAttrRole:
				r, p, _ := strings.Cut(v.Text(), ",")
				roleOK = roleOK || (r == roleARN && p == principalARN)
			case samlAttrSession:
				session = v.Text()
			}
		}
	}
	if !roleOK || session == "" {
		return "", errFloorSAML
	}
	return session, nil
}

func (f *floor) serveSAML(w http.ResponseWriter, form url.Values) {
	if f.saml == nil {
		stsError(w, http.StatusBadRequest, "InvalidAction")
		return
	}
	session, err := f.saml.verify(form.Get("SAMLAssertion"), form.Get("RoleArn"), form.Get("PrincipalArn"), f.now())
	if err != nil {
		stsError(w, http.StatusBadRequest, "InvalidIdentityToken")
		return
	}
	f.writeCredentials(w, "AssumeRoleWithSAML", session)
}
