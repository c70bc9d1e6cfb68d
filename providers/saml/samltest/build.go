package samltest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
)

// Namespaces used by the builder.
const (
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig      = "http://www.w3.org/2000/09/xmldsig#"
)

// Signing says which elements the builder signs.
type Signing int

// Signing choices; the zero value signs the Assertion.
const (
	SignAssertion Signing = iota
	SignResponse
	SignBoth
	SignNone
)

// ResponseSpec describes a Response to build. Zero values get defaults
// suitable for an SP-initiated login.
type ResponseSpec struct {
	// Now is the IdP's clock (default time.Now()).
	Now time.Time
	// Lifetime of Conditions and SubjectConfirmationData (default 5m).
	Lifetime time.Duration
	// Issuer overrides the IdP entity ID in both Issuer elements.
	Issuer string
	// ResponseID and AssertionID default to random IDs.
	ResponseID, AssertionID string
	// Destination of the Response ("" omits it).
	Destination string
	// InResponseTo on the Response and SubjectConfirmationData ("" omits it).
	InResponseTo string
	// Recipient of the SubjectConfirmationData.
	Recipient string
	// Audiences, one AudienceRestriction with these Audience children
	// (none: no AudienceRestriction).
	Audiences []string
	// NameID and NameIDFormat (default alice@corp.example, unspecified).
	NameID, NameIDFormat string
	// Attributes of the AttributeStatement.
	Attributes []Attribute
	// AuthnContextClassRef (default PasswordProtectedTransport).
	AuthnContextClassRef string
	// SessionNotOnOrAfter on the AuthnStatement (zero: omitted).
	SessionNotOnOrAfter time.Time
	// Sign chooses the signed elements.
	Sign Signing
	// SHA1 signs with rsa-sha1 and sha1 digests.
	SHA1 bool
	// SignerKey and SignerCert override the IdP key pair (evil signer).
	SignerKey  *rsa.PrivateKey
	SignerCert *x509.Certificate
	// EncryptTo, when set, encrypts the (signed) assertion to this certificate.
	EncryptTo *x509.Certificate
	// Modify runs on the unsigned response and assertion before signing.
	Modify func(response, assertion *etree.Element)
}

// RandomID returns a fresh XML ID.
func RandomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "_" + hex.EncodeToString(b)
}

const timeFormat = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

// BuildResponse builds and signs a Response for spec with the IdP's key
// (or spec.SignerKey) and returns the document.
func (i *IdP) BuildResponse(t testing.TB, spec ResponseSpec) *etree.Document {
	t.Helper()
	doc, err := buildResponse(i.EntityID, i.Key, i.Cert, spec)
	if err != nil {
		t.Fatalf("samltest: %v", err)
	}
	return doc
}

// BuildSignedResponse is BuildResponse without a test: it builds the
// Response for spec as the IdP entityID signing with key and cert (unless
// spec.SignerKey overrides them) and returns the serialised XML. It is for
// load generators that mint many Responses outside a test (each call makes
// fresh IDs unless spec sets them). Safe for concurrent use.
func BuildSignedResponse(entityID string, key *rsa.PrivateKey, cert *x509.Certificate, spec ResponseSpec) ([]byte, error) {
	doc, err := buildResponse(entityID, key, cert, spec)
	if err != nil {
		return nil, err
	}
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("samltest: %w", err)
	}
	return b, nil
}

func buildResponse(entityID string, key *rsa.PrivateKey, cert *x509.Certificate, spec ResponseSpec) (*etree.Document, error) {
	if spec.Now.IsZero() {
		spec.Now = time.Now()
	}
	if spec.Lifetime == 0 {
		spec.Lifetime = 5 * time.Minute
	}
	if spec.Issuer == "" {
		spec.Issuer = entityID
	}
	if spec.ResponseID == "" {
		spec.ResponseID = RandomID()
	}
	if spec.AssertionID == "" {
		spec.AssertionID = RandomID()
	}
	if spec.NameID == "" {
		spec.NameID = "alice@corp.example"
	}
	if spec.NameIDFormat == "" {
		spec.NameIDFormat = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	}
	if spec.AuthnContextClassRef == "" {
		spec.AuthnContextClassRef = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	}
	if spec.SignerKey != nil {
		key, cert = spec.SignerKey, spec.SignerCert
	}
	now, until := ts(spec.Now), ts(spec.Now.Add(spec.Lifetime))

	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", NSProtocol)
	resp.CreateAttr("xmlns:saml", NSAssertion)
	resp.CreateAttr("ID", spec.ResponseID)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", now)
	if spec.Destination != "" {
		resp.CreateAttr("Destination", spec.Destination)
	}
	if spec.InResponseTo != "" {
		resp.CreateAttr("InResponseTo", spec.InResponseTo)
	}
	resp.CreateElement("saml:Issuer").SetText(spec.Issuer)
	resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Success")

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", NSAssertion)
	a.CreateAttr("ID", spec.AssertionID)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", now)
	a.CreateElement("saml:Issuer").SetText(spec.Issuer)
	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", spec.NameIDFormat)
	nid.SetText(spec.NameID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if spec.InResponseTo != "" {
		scd.CreateAttr("InResponseTo", spec.InResponseTo)
	}
	scd.CreateAttr("NotOnOrAfter", until)
	if spec.Recipient != "" {
		scd.CreateAttr("Recipient", spec.Recipient)
	}
	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", ts(spec.Now.Add(-time.Minute)))
	cond.CreateAttr("NotOnOrAfter", until)
	if len(spec.Audiences) > 0 {
		ar := cond.CreateElement("saml:AudienceRestriction")
		for _, au := range spec.Audiences {
			ar.CreateElement("saml:Audience").SetText(au)
		}
	}
	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", now)
	as.CreateAttr("SessionIndex", "_session1")
	if !spec.SessionNotOnOrAfter.IsZero() {
		as.CreateAttr("SessionNotOnOrAfter", ts(spec.SessionNotOnOrAfter))
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(spec.AuthnContextClassRef)
	if len(spec.Attributes) > 0 {
		st := a.CreateElement("saml:AttributeStatement")
		for _, at := range spec.Attributes {
			el := st.CreateElement("saml:Attribute")
			el.CreateAttr("Name", at.Name)
			if at.FriendlyName != "" {
				el.CreateAttr("FriendlyName", at.FriendlyName)
			}
			el.CreateAttr("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:basic")
			for _, v := range at.Values {
				el.CreateElement("saml:AttributeValue").SetText(v)
			}
		}
	}
	if spec.Modify != nil {
		spec.Modify(resp, a)
	}
	var err error
	if spec.Sign == SignAssertion || spec.Sign == SignBoth {
		if a, err = sign(a, key, cert, spec.SHA1); err != nil {
			return nil, err
		}
	}
	if spec.EncryptTo != nil {
		ea, err := encrypt(a, spec.EncryptTo)
		if err != nil {
			return nil, err
		}
		resp.AddChild(ea)
	} else {
		resp.AddChild(a)
	}
	if spec.Sign == SignResponse || spec.Sign == SignBoth {
		if resp, err = sign(resp, key, cert, spec.SHA1); err != nil {
			return nil, err
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(resp)
	return doc, nil
}

// Sign returns el with an enveloped signature (exclusive C14N, RSA-SHA256 or
// RSA-SHA1) placed right after its Issuer, as the SAML schema wants.
func Sign(t testing.TB, el *etree.Element, key *rsa.PrivateKey, cert *x509.Certificate, sha1 bool) *etree.Element {
	t.Helper()
	out, err := sign(el, key, cert, sha1)
	if err != nil {
		t.Fatalf("samltest: %v", err)
	}
	return out
}

func sign(el *etree.Element, key *rsa.PrivateKey, cert *x509.Certificate, sha1 bool) (*etree.Element, error) {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert,
	}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if sha1 {
		ctx.Hash = crypto.SHA1
		if err := ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod); err != nil {
			return nil, err
		}
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	// goxmldsig appends the Signature to a copy without fixing etree's
	// parent/index bookkeeping: re-insert it into a fresh copy of el.
	sig, ok := signed.Child[len(signed.Child)-1].(*etree.Element)
	if !ok {
		return nil, errors.New("no signature produced")
	}
	out := el.Copy()
	pos := 0
	for idx, c := range out.Child {
		if e, ok := c.(*etree.Element); ok && e.Tag == "Issuer" {
			pos = idx + 1
			break
		}
	}
	out.InsertChildAt(pos, sig)
	return out, nil
}

// Encrypt wraps a (signed) assertion in an EncryptedAssertion for cert
// (RSA-OAEP key transport, AES-256-CBC data encryption; crewjam's GCM encrypter is unusable).
func Encrypt(t testing.TB, assertion *etree.Element, cert *x509.Certificate) *etree.Element {
	t.Helper()
	ea, err := encrypt(assertion, cert)
	if err != nil {
		t.Fatalf("samltest: %v", err)
	}
	return ea
}

// EncryptPlaintext wraps arbitrary bytes in an EncryptedAssertion for cert
// (RSA-OAEP, AES-256-CBC), for tests of what an SP does with a hostile
// decrypted plaintext (THREATS.md SAML-53).
func EncryptPlaintext(t testing.TB, plain []byte, cert *x509.Certificate) *etree.Element {
	t.Helper()
	ea, err := encryptBytes(plain, cert)
	if err != nil {
		t.Fatalf("samltest: %v", err)
	}
	return ea
}

func encrypt(assertion *etree.Element, cert *x509.Certificate) (*etree.Element, error) {
	d := etree.NewDocument()
	d.SetRoot(assertion.Copy())
	plain, err := d.WriteToBytes()
	if err != nil {
		return nil, err
	}
	return encryptBytes(plain, cert)
}

func encryptBytes(plain []byte, cert *x509.Certificate) (*etree.Element, error) {
	enc := xmlenc.OAEP()
	enc.BlockCipher = xmlenc.AES256CBC
	ed, err := enc.Encrypt(cert, plain, nil)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	ed.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", NSAssertion)
	ea.AddChild(ed)
	return ea, nil
}

// XML serialises doc.
func XML(t testing.TB, doc *etree.Document) []byte {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatalf("samltest: %v", err)
	}
	return b
}

// Find returns the first element at path (etree path syntax) or fails the test.
func Find(t testing.TB, doc *etree.Document, path string) *etree.Element {
	t.Helper()
	el := doc.FindElement(path)
	if el == nil {
		t.Fatalf("samltest: no element at %s", path)
	}
	return el
}
