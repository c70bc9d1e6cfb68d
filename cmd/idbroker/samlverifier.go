package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/providers/saml"
	"github.com/idbroker/idbroker/sts"
)

// samlAssertionVerifier adapts a providers/saml AWSVerifier (where the SAML
// hardening lives: exactly one assertion, signature placement, SHA-1 policy,
// AudienceRestriction, bearer SubjectConfirmation, issuer, issue window) to
// the STS's SAMLAssertionVerifier, translating its error classes. The replay
// claim is the STS's (see VerifySAMLAssertion).
type samlAssertionVerifier struct {
	v *saml.AWSVerifier
}

var _ sts.SAMLAssertionVerifier = (*samlAssertionVerifier)(nil)

// stsSAMLEndpoints are the Recipient and Audience values an IdP may target
// when it posts to this STS: AWS's own (so IdPs configured for AWS work
// unchanged) and this STS's public URL + "/saml" and entity ID (the public URL).
func stsSAMLEndpoints(publicURL, region string) (recipients, audiences []string) {
	pub := strings.TrimSuffix(publicURL, "/")
	recipients = []string{saml.AWSRecipient, pub + "/saml"}
	if region != "" && region != "us-east-1" {
		recipients = append(recipients, "https://"+region+".signin.aws.amazon.com/saml")
	}
	audiences = []string{saml.AWSAudience, saml.AWSRecipient, pub + "/saml", pub}
	return recipients, audiences
}

// newSAMLAssertionVerifier builds the verifier of one sts.saml_providers
// entry. Metadata from a file is read now; a URL is fetched on first use.
func newSAMLAssertionVerifier(p stsSAMLProvider, publicURL, region string, replay saml.ReplayCache, log *slog.Logger) (*samlAssertionVerifier, error) {
	recipients, audiences := stsSAMLEndpoints(publicURL, region)
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
		return nil, stsSAMLError(err)
	}
	out := &sts.SAMLAssertion{
		ID: as.ID, Issuer: as.Issuer, NameID: as.NameID, NameIDFormat: as.NameIDFormat,
		Recipient: as.Recipient, Audiences: as.Audiences, IssueInstant: as.IssueInstant,
		NotOnOrAfter: as.ExpiresAt(), SessionNotOnOrAfter: as.SessionNotOnOrAfter,
	}
	for _, at := range as.Attributes {
		out.Attributes = append(out.Attributes, sts.SAMLAttribute{Name: at.Name, FriendlyName: at.FriendlyName, Values: at.Values})
	}
	return out, nil
}

// stsSAMLError maps providers/saml error classes to the STS's.
func stsSAMLError(err error) error {
	var se *saml.Error
	isIssueAge := errors.As(err, &se) && strings.HasPrefix(se.Reason, "IssueInstant")
	var class error
	switch {
	case errors.Is(err, saml.ErrSignature):
		class = awsspec.ErrSAMLSignature
	case errors.Is(err, saml.ErrExpired) && isIssueAge:
		class = awsspec.ErrSAMLIssuedTooLongAgo
	case errors.Is(err, saml.ErrExpired):
		class = awsspec.ErrSAMLExpired
	case errors.Is(err, saml.ErrNotYetValid):
		class = awsspec.ErrSAMLNotYetValid
	case errors.Is(err, saml.ErrAudience):
		class = awsspec.ErrSAMLAudience
	case errors.Is(err, saml.ErrRecipient):
		class = awsspec.ErrSAMLRecipient
	case errors.Is(err, saml.ErrIssuer):
		class = awsspec.ErrSAMLIssuer
	case errors.Is(err, saml.ErrReplay):
		class = awsspec.ErrSAMLReplay
	case errors.Is(err, saml.ErrStatus):
		class = awsspec.ErrSAMLStatus
	case errors.Is(err, saml.ErrTooLarge):
		class = awsspec.ErrSAMLTooLarge
	case errors.Is(err, saml.ErrMalformed):
		class = awsspec.ErrSAMLMalformed
	case errors.Is(err, providers.ErrUnavailable), se == nil:
		// Metadata or replay store unreachable: transient.
		class = awsspec.ErrSAMLUnavailable
	default:
		class = awsspec.ErrSAMLMalformed
	}
	return fmt.Errorf("%w: %w", class, err)
}
