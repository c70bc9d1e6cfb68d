package sts

import (
	"context"
	"regexp"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// SAMLAssertionVerifier verifies SAMLAssertion values (base64 SAML
// Responses) for one registered SAML provider: signature with the
// provider's keys, exactly one assertion, issuer = the provider's entity ID,
// audience, bearer SubjectConfirmation with Recipient and NotOnOrAfter,
// validity window, IssueInstant age. Every error wraps one of awsspec's
// ErrSAML* failure classes, which the STS answers with AWS's own error.
type SAMLAssertionVerifier interface {
	// VerifySAMLAssertion verifies the base64 SAMLAssertion. roleARN is the
	// requested role, for verifiers that scope their own replay checks.
	VerifySAMLAssertion(ctx context.Context, samlAssertion, roleARN string) (*SAMLAssertion, error)
}

// SAMLAssertion is a verified SAML assertion: what the STS needs of it.
type SAMLAssertion struct {
	// ID is the assertion ID (replay key).
	ID string
	// Issuer is the assertion Issuer (the IdP entity ID).
	Issuer string
	// NameID is the Subject NameID value and NameIDFormat its Format ("" = unspecified).
	NameID, NameIDFormat string
	// Recipient is SubjectConfirmationData/@Recipient (returned as Audience, saml:aud).
	Recipient string
	// Audiences are the AudienceRestriction values.
	Audiences []string
	// IssueInstant of the assertion.
	IssueInstant time.Time
	// NotOnOrAfter is the earliest of Conditions and SubjectConfirmationData NotOnOrAfter.
	NotOnOrAfter time.Time
	// SessionNotOnOrAfter of the AuthnStatement (zero when absent); caps the session.
	SessionNotOnOrAfter time.Time
	// SessionIndex of the AuthnStatement ("" when absent): the IdP's login
	// session, carried by the credentials as their SessionID (1 to 256
	// printable ASCII characters, else the assertion is refused).
	SessionIndex string
	// MFAInstant is the AuthnInstant of the latest AuthnStatement whose
	// AuthnContextClassRef states multi-factor authentication (zero when
	// none does): the session is MFA-authenticated from then on. Which
	// classes count is the verifier's rule (providers/saml: REFEDS MFA
	// https://refeds.org/profile/mfa, which the broker's own IdP uses,
	// Microsoft's http://schemas.microsoft.com/claims/multipleauthn, and any
	// class naming mfa, multifactor or multi-factor).
	MFAInstant time.Time
	// Attributes in document order.
	Attributes []SAMLAttribute
}

// SAMLAttribute is one Attribute of the AttributeStatement.
type SAMLAttribute struct {
	Name, FriendlyName string
	Values             []string
}

// SAMLProvider is an IAM SAML provider (arn:<p>:iam::<acct>:saml-provider/<Name>).
// The broker registers its own as Name "idbroker".
type SAMLProvider struct {
	// Name is 1-128 characters of [\w._-].
	Name string
	// Verifier verifies this provider's assertions.
	Verifier SAMLAssertionVerifier
	// KeyPath is where the provider is written in the caller's
	// configuration ("sts.saml_providers[0]"); New names its problems
	// under it (see Config).
	KeyPath string
}

// ReplayCache remembers redeemed keys (internal/store.Store implements it).
// Claim must be an atomic check-and-set: for a key exactly one caller gets
// fresh == true until `until` has passed.
type ReplayCache interface {
	Claim(ctx context.Context, key string, until time.Time) (fresh bool, err error)
}

type samlProvider struct {
	name, arn string
	verifier  SAMLAssertionVerifier
}

// SAMLProviderARN is the IAM ARN of a registered SAML provider ("" if none).
func (s *Service) SAMLProviderARN(name string) string {
	for _, p := range s.samlProviders {
		if p.name == name {
			return p.arn
		}
	}
	return ""
}

func (s *Service) compileSAMLProvider(pc SAMLProvider, path string, errs *configProblems) (*samlProvider, bool) {
	before := len(*errs)
	if !samlProviderNamePattern.MatchString(pc.Name) {
		errs.addf(path+".name", "%q must be 1-128 characters of [\\w._-]", pc.Name)
	}
	if pc.Verifier == nil {
		errs.addf(path+".verifier", "required")
	}
	if len(*errs) > before {
		return nil, false
	}
	return &samlProvider{name: pc.Name, verifier: pc.Verifier, arn: awsspec.SAMLProviderARN(s.partition, s.account, pc.Name)}, true
}

// samlProviderNamePattern: IAM SAMLProviderNameType.
var samlProviderNamePattern = regexp.MustCompile(`^[\w._-]{1,128}$`)
