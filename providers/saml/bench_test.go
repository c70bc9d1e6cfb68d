package saml_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// everFresh is a ReplayCache that accepts every ID, so that one signed
// Response can be verified b.N times (the replay cache is not what is measured).
type everFresh struct{}

func (everFresh) Claim(context.Context, string, time.Time) (bool, error) { return true, nil }

// BenchmarkAWSVerify measures AWSVerifier.Verify on the bench driver's
// Response shape (AWS recipient and audience, Role and RoleSessionName
// attributes, RSA-SHA256), for each signing layout.
func BenchmarkAWSVerify(b *testing.B) {
	k, c := cachedKey(b, "idp")
	idp := samltest.NewIdP(b, samltest.WithKeyPair(k, c))
	now := time.Now().UTC().Truncate(time.Second)
	v, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata:    saml.MetadataSource{XML: string(idp.Metadata())},
		ReplayCache: everFresh{},
		Now:         func() time.Time { return now },
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sign samltest.Signing
	}{
		{"assertion-signed", samltest.SignAssertion},
		{"response-signed", samltest.SignResponse},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b64 := samltest.Encode(samltest.XML(b, idp.BuildResponse(b, samltest.ResponseSpec{
				Now:          now,
				Destination:  awsspec.SAMLRecipient,
				Recipient:    awsspec.SAMLRecipient,
				Audiences:    []string{awsspec.SAMLAudience},
				NameID:       userID,
				NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
				Sign:         tc.sign,
				Attributes: []samltest.Attribute{
					{Name: "https://aws.amazon.com/SAML/Attributes/Role", Values: []string{"arn:aws:iam::123456789012:role/Dev,arn:aws:iam::123456789012:saml-provider/Corp"}},
					{Name: "https://aws.amazon.com/SAML/Attributes/RoleSessionName", Values: []string{"alice"}},
				},
			})))
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
