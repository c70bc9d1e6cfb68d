// Package saml is idbroker's SAML 2.0 service provider for upstream IdPs, and
// the hardened SAML Response verifier that both the browser ACS and the STS's
// AssumeRoleWithSAML use.
//
// crewjam/saml supplies the metadata and AuthnRequest machinery and the one
// signature check of every Response: its (*ServiceProvider).ParseXMLResponse
// verifies the Response's or the Assertion's signature with the IdP's
// metadata certificates (goxmldsig, on this package's clock), opens an
// EncryptedAssertion and returns the assertion it verified. Around it, this
// package enforces what crewjam leaves out (THREATS.md §0.4):
//
//   - before crewjam, a preflight that does no cryptography: hostile XML
//     (DTDs, depth and size caps, round-trip instability), the document
//     shape that decides what a signature covers (exactly one assertion,
//     signatures only on the Response or that assertion, one enveloped,
//     exclusive-C14N Reference to the parent's ID, strong algorithms, no
//     duplicate IDs), the envelope (issuer, destination, status, issue
//     instant), an encrypted assertion's algorithms, and the assertion's
//     shape, so that crewjam's reading of the element is faithful and the
//     element it verifies is the element it reads; the plaintext of an
//     encrypted assertion passes the same gates;
//   - after crewjam, on the assertion it verified: every AudienceRestriction,
//     the bearer confirmation and its Recipient, InResponseTo, the clock
//     windows with the configured skew and MaxIssueAge and a per-instance
//     clock, SessionNotOnOrAfter; then the assertion ID is claimed in the
//     replay cache.
//
// crewjam's own clock windows are package globals; this package widens them
// once (see crewjam.go) so that the configured ones decide.
package saml
