package samltest_test

import (
	"bytes"
	"crypto/x509"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// TestBuildSignedResponse: the TB-free builder's Responses carry a valid
// assertion signature by the given key, fresh IDs per call, and the spec's
// content; a changed byte in the signed content breaks the signature.
func TestBuildSignedResponse(t *testing.T) {
	key, cert := samltest.NewKeyPair(t, "bench-idp")
	spec := samltest.ResponseSpec{Now: time.Now(), Recipient: "https://signin.aws.amazon.com/saml",
		Audiences: []string{"urn:amazon:webservices"}, NameID: "user-1",
		Attributes: []samltest.Attribute{{Name: "https://aws.amazon.com/SAML/Attributes/RoleSessionName", Values: []string{"bench-1"}}}}
	a, err := samltest.BuildSignedResponse("https://idp.bench.example/saml", key, cert, spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := samltest.BuildSignedResponse("https://idp.bench.example/saml", key, cert, spec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two Responses are identical (IDs must be fresh)")
	}
	validate := func(doc []byte) error {
		d := etree.NewDocument()
		if err := d.ReadFromBytes(doc); err != nil {
			return err
		}
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		_, err := ctx.Validate(d.FindElement("//Assertion"))
		return err
	}
	if err := validate(a); err != nil {
		t.Fatalf("signature does not validate: %v", err)
	}
	for _, want := range []string{"https://idp.bench.example/saml", "user-1", "bench-1", "urn:amazon:webservices"} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("Response lacks %q", want)
		}
	}
	tampered := bytes.Replace(a, []byte("bench-1"), []byte("bench-2"), 1)
	if err := validate(tampered); err == nil {
		t.Fatal("tampered Response validates")
	}
	other, otherCert := samltest.NewKeyPair(t, "evil")
	spec.SignerKey, spec.SignerCert = other, otherCert
	evil, err := samltest.BuildSignedResponse("https://idp.bench.example/saml", key, cert, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(evil); err == nil {
		t.Fatal("Response signed by another key validates")
	}
}
