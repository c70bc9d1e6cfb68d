package saml

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// The widest clock settings a configuration may give (Config.Validate,
// NewAWSVerifier).
const (
	maxClockSkew   = 10 * time.Minute
	maxMaxIssueAge = time.Hour
)

// maxCrewjamReason bounds the crewjam error text kept as an Error reason.
const maxCrewjamReason = 300

// crewjam checks IssueInstant ages and NotBefore/NotOnOrAfter windows
// against package globals (MaxIssueDelay, MaxClockSkew, 90 s and 180 s by
// default) and its own clock. This package applies the configured
// MaxIssueAge and ClockSkew itself with the verifier's clock, so crewjam's
// windows are set once to the widest any configuration allows: crewjam then
// never refuses what the configuration accepts, and still bounds every
// Response by the wall clock. They are set in init, not in a constructor:
// the value depends on no configuration, and init runs before any goroutine
// can read them (a sync.Once in New would race with code that reaches
// crewjam without New, such as samltest's IdP in parallel tests), so no
// caller has to remember them.
func init() {
	crewjam.MaxIssueDelay = maxMaxIssueAge + maxClockSkew
	crewjam.MaxClockSkew = maxClockSkew
}

// crewjamVerify hands the decoded document to crewjam v0.5.1's
// (*ServiceProvider).ParseXMLResponse, the one signature check, and returns
// the assertion crewjam verified and read. crewjam verifies the Response's
// signature when it has one (it then covers the assertion) and otherwise
// the assertion's, with the certificates of the IdP's metadata; it opens an
// EncryptedAssertion with the SP key. The SP is built for the call so that
// crewjam's own binding checks cannot refuse what this package decides
// with its own class: its AcsURL is the Recipient the assertion names (the
// Recipient rule is readAssertion's), its current URL the Destination the
// preflight accepted, IdP-initiated parsing is on (the InResponseTo rules
// are readAssertion's) and every audience passes (crewjam keeps one
// Audience per restriction; the audience rule is readAssertion's). The
// signature is validated with the verifier's clock (certificate validity).
// A refusal is ErrSignature with the reason "crewjam: " and what crewjam
// found (crewjamReason), never document content.
func (v *verifier) crewjamVerify(raw []byte, d *document, s *assertionShape, md *IdPMetadata, now time.Time) (out *crewjam.Assertion, err error) {
	acs, err := url.Parse(s.recipient)
	if err != nil {
		return nil, fail(ErrRecipient, "SubjectConfirmationData Recipient is not an accepted URL")
	}
	current := acs
	if d.destination != "" {
		if current, err = url.Parse(d.destination); err != nil {
			return nil, fail(ErrRecipient, "Response Destination is not an accepted URL")
		}
	}
	sig := &clockedVerifier{now: now}
	sp := &crewjam.ServiceProvider{
		AcsURL:                      *acs,
		IDPMetadata:                 md.Descriptor,
		AllowIDPInitiated:           true,
		ValidateAudienceRestriction: func(*crewjam.Assertion) error { return nil },
		SignatureVerifier:           sig,
	}
	if d.encrypted != nil {
		sp.Key = v.decryptKey
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fail(ErrSignature, "crewjam: panic while parsing")
		}
	}()
	a, err := sp.ParseXMLResponse(raw, nil, *current)
	if err != nil {
		return nil, fail(ErrSignature, "crewjam: %s", crewjamReason(err, sig.err))
	}
	return a, nil
}

// clockedVerifier is crewjam's signature check (goxmldsig's Validate with
// the validation context crewjam built from the metadata certificates) on
// the verifier's clock rather than crewjam's package clock. It keeps the
// error of a signature that does not verify, for the refusal's reason.
type clockedVerifier struct {
	now time.Time
	err error
}

// VerifySignature validates el's enveloped signature.
func (c *clockedVerifier) VerifySignature(vc *dsig.ValidationContext, el *etree.Element) error {
	vc.Clock = dsig.NewFakeClockAt(c.now)
	if _, err := vc.Validate(el); err != nil {
		c.err = fmt.Errorf("cannot validate signature on %s: %w", el.Tag, err)
		return c.err
	}
	return nil
}

// crewjamReason is the text kept from a crewjam refusal, which must carry
// no document content: the signature check's error when the signature is
// what failed (goxmldsig's errors name no document value), otherwise the
// leading clause of crewjam's private error, up to the first ':', '(' or
// '"' (after which crewjam formats values, some from the document). It is
// cut to maxCrewjamReason bytes on a rune boundary.
func crewjamReason(err, sigErr error) string {
	if sigErr != nil {
		return truncateUTF8(sigErr.Error(), maxCrewjamReason)
	}
	var ire *crewjam.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		err = ire.PrivateErr
	}
	msg := err.Error()
	if i := strings.IndexAny(msg, ":(\""); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	return truncateUTF8(msg, maxCrewjamReason)
}

// truncateUTF8 returns s cut to at most n bytes, never inside a UTF-8
// sequence, with "..." appended when it was cut.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
