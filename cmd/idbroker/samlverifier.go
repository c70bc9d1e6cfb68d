package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/sts"
)

// samlAssertionVerifier adapts a providers/saml AWSVerifier (where the SAML
// hardening lives: exactly one assertion, signature placement, SHA-1 policy,
// AudienceRestriction, bearer SubjectConfirmation, issuer, issue window) to
// the STS's SAMLAssertionVerifier. Its errors carry awsspec's SAML failure
// classes, which the STS answers directly; the replay claim is the STS's
// (see VerifySAMLAssertion).
type samlAssertionVerifier struct {
	v *saml.AWSVerifier
}

var _ sts.SAMLAssertionVerifier = (*samlAssertionVerifier)(nil)

// newSAMLAssertionVerifier builds the verifier of one sts.saml_providers
// entry, accepting the Recipient and Audience values of an STS reached at
// publicURL (awsspec.SAMLEndpoints). Metadata from a file is read now; a
// URL is fetched on first use.
func newSAMLAssertionVerifier(p stsSAMLProvider, publicURL, region string, replay saml.ReplayCache, log *slog.Logger) (*samlAssertionVerifier, error) {
	recipients, audiences := awsspec.SAMLEndpoints(publicURL, region)
	v, err := saml.NewAWSVerifier(saml.AWSVerifierConfig{
		Metadata:    saml.MetadataSource{File: p.MetadataFile, URL: p.MetadataURL, Timeout: 10 * time.Second},
		Recipients:  recipients,
		Audiences:   audiences,
		AllowSHA1:   p.AllowSHA1,
		ReplayCache: replay,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("saml provider %s: %w", p.Name, err)
	}
	return &samlAssertionVerifier{v: v}, nil
}

// VerifySAMLAssertion verifies the base64 SAML Response without claiming
// it: the STS claims (provider, assertion ID, role) itself as the last step
// before issuing, after the role pairing, trust policy and DurationSeconds
// checks, so a refused call does not use the assertion up and can be retried
// as AWS allows (STS-SPEC §5.4). The scope stays the requested role (CLI
// tools redeem one assertion for several roles).
func (a *samlAssertionVerifier) VerifySAMLAssertion(ctx context.Context, b64, roleARN string) (*sts.SAMLAssertion, error) {
	as, err := a.v.Verify(ctx, b64, saml.WithReplayScope(roleARN), saml.WithCallerReplayClaim())
	if err != nil {
		return nil, err
	}
	out := &sts.SAMLAssertion{
		ID: as.ID, Issuer: as.Issuer, NameID: as.NameID, NameIDFormat: as.NameIDFormat,
		Recipient: as.Recipient, Audiences: as.Audiences, IssueInstant: as.IssueInstant,
		NotOnOrAfter: as.ExpiresAt(), SessionNotOnOrAfter: as.SessionNotOnOrAfter, SessionIndex: as.SessionIndex,
		MFAInstant: as.MFAInstant,
	}
	for _, at := range as.Attributes {
		out.Attributes = append(out.Attributes, sts.SAMLAttribute{Name: at.Name, FriendlyName: at.FriendlyName, Values: at.Values})
	}
	return out, nil
}
