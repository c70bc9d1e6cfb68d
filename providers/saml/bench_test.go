package saml_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// everFresh is a ReplayCache that accepts every ID, so that one signed
// Response can be verified b.N times (the replay cache is not what is measured).
type everFresh struct{}

func (everFresh) Claim(context.Context, string, time.Time) (bool, error) { return true, nil }

// benchResponse is the bench driver's Response shape (AWS recipient and
// audience, Role and RoleSessionName attributes, RSA-SHA256), base64.
func benchResponse(b *testing.B, idp *samltest.IdP, now time.Time, sign samltest.Signing, encryptTo *x509.Certificate) string {
	return samltest.Encode(samltest.XML(b, idp.BuildResponse(b, samltest.ResponseSpec{
		Now:          now,
		Destination:  awsspec.SAMLRecipient,
		Recipient:    awsspec.SAMLRecipient,
		Audiences:    []string{awsspec.SAMLAudience},
		NameID:       userID,
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		Sign:         sign,
		EncryptTo:    encryptTo,
		Attributes: []samltest.Attribute{
			{Name: awsspec.SAMLAttrRole, Values: []string{"arn:aws:iam::123456789012:role/Dev,arn:aws:iam::123456789012:saml-provider/Corp"}},
			{Name: awsspec.SAMLAttrRoleSessionName, Values: []string{"alice"}},
		},
	})))
}

// BenchmarkAWSVerify measures AWSVerifier.Verify on the bench driver's
// Response shape, for each signing layout, and encrypted.
func BenchmarkAWSVerify(b *testing.B) {
	k, c := cachedKey(b, "idp")
	spKey, spCert := cachedKey(b, "sp")
	idp := samltest.NewIdP(b, samltest.WithKeyPair(k, c))
	now := time.Now().UTC().Truncate(time.Second)
	v, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata:      saml.MetadataSource{XML: string(idp.Metadata())},
		ReplayCache:   everFresh{},
		DecryptionKey: spKey,
		Now:           func() time.Time { return now },
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		sign    samltest.Signing
		encrypt *x509.Certificate
	}{
		{"assertion-signed", samltest.SignAssertion, nil},
		{"response-signed", samltest.SignResponse, nil},
		{"assertion-signed-encrypted", samltest.SignAssertion, spCert},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b64 := benchResponse(b, idp, now, tc.sign, tc.encrypt)
			ctx := context.Background()
			if _, err := v.Verify(ctx, b64); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := v.Verify(ctx, b64); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGoxmldsigFloor is the in-process part of the bench driver's saml
// floor (cmd/idbroker-bench): one etree parse and one goxmldsig validation
// of the assertion, nothing else. BenchmarkAWSVerify/assertion-signed over
// it is the verifier's cost relative to the floor's.
func BenchmarkGoxmldsigFloor(b *testing.B) {
	k, c := cachedKey(b, "idp")
	idp := samltest.NewIdP(b, samltest.WithKeyPair(k, c))
	now := time.Now().UTC().Truncate(time.Second)
	raw, err := base64.StdEncoding.DecodeString(benchResponse(b, idp, now, samltest.SignAssertion, nil))
	if err != nil {
		b.Fatal(err)
	}
	store := &dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{c}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(raw); err != nil {
			b.Fatal(err)
		}
		vc := dsig.NewDefaultValidationContext(store)
		vc.Clock = dsig.NewFakeClockAt(now)
		if _, err := vc.Validate(doc.FindElement("./Response/Assertion")); err != nil {
			b.Fatal(err)
		}
	}
}
