package saml

import (
	"errors"
	"net/url"
	"slices"
	"unicode/utf8"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
)

// maxCrewjamReason bounds the crewjam error text kept as an Error reason.
const maxCrewjamReason = 300

// crewjamGate runs crewjam's (*ServiceProvider).ParseXMLResponse over the
// same decoded document the project's verifier has just accepted, with an SP
// built for this call from the same trust: the IdP metadata, the Recipient
// and Destination values already validated, an Audience already validated,
// and the SP decryption key. crewjam must accept it too; its refusal is an
// ErrSignature with the reason "crewjam: " and its private error (never the
// document). It runs before the replay claim, so a refusal consumes nothing.
//
// crewjam reads its package clock (crewjam.TimeNow, crewjam.Clock) and its
// fixed windows (crewjam.MaxIssueDelay, 90s since IssueInstant; and
// crewjam.MaxClockSkew, 180s for NotBefore/NotOnOrAfter): production leaves
// them at crewjam's defaults, so an IssueInstant older than 90s is refused
// even when MaxIssueAge is longer.
func (v *verifier) crewjamGate(doc []byte, req verifyRequest, out *Assertion, assertionEl *etree.Element) (err error) {
	if req.idp == nil || req.idp.descriptor == nil {
		return fail(ErrSignature, "crewjam: no IdP metadata for crewjam")
	}
	acs, perr := url.Parse(out.Recipient)
	if perr != nil {
		return fail(ErrSignature, "crewjam: accepted Recipient is not a URL")
	}
	current := acs
	if out.Destination != "" {
		if current, perr = url.Parse(out.Destination); perr != nil {
			return fail(ErrSignature, "crewjam: accepted Destination is not a URL")
		}
	}
	sp := &crewjam.ServiceProvider{
		EntityID:    crewjamAudience(assertionEl, v.audiences),
		AcsURL:      *acs,
		IDPMetadata: req.idp.descriptor,
		// IdP-initiated parsing for the STS, and for an unsolicited response
		// where the provider allows it; a solicited response is bound to the
		// tracked request IDs by crewjam as well.
		AllowIDPInitiated: v.aws || (v.allowIDPInitiated && out.InResponseTo == ""),
	}
	if severalAudiencesInOneRestriction(assertionEl) {
		// crewjam's schema keeps one Audience per AudienceRestriction (the
		// last), so it cannot judge a restriction that lists several
		// (SAML-34d, valid per SAML Core §2.5.1.4): the project's
		// readConditions has checked every one of them; crewjam still runs
		// all its other checks.
		sp.ValidateAudienceRestriction = func(a *crewjam.Assertion) error {
			if a.Conditions == nil || len(a.Conditions.AudienceRestrictions) == 0 {
				return errors.New("no AudienceRestriction")
			}
			return nil
		}
	}
	if v.decryptKey != nil {
		sp.Key = v.decryptKey
	}
	var ids []string
	if !v.aws {
		ids = req.requestIDs
	}
	defer func() {
		if r := recover(); r != nil {
			err = fail(ErrSignature, "crewjam: panic while parsing")
		}
	}()
	if _, cerr := sp.ParseXMLResponse(doc, ids, *current); cerr != nil {
		return fail(ErrSignature, "crewjam: %s", crewjamReason(cerr))
	}
	return nil
}

// crewjamReason is the text kept from a crewjam refusal: its private error
// when it has one, cut to maxCrewjamReason bytes on a rune boundary.
func crewjamReason(err error) string {
	var ire *crewjam.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		err = ire.PrivateErr
	}
	return truncateUTF8(err.Error(), maxCrewjamReason)
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

// crewjamAudience returns the SP entity ID to give crewjam: an accepted
// audience among the values crewjam reads (it keeps one Audience per
// AudienceRestriction, the last one, untrimmed), else the first accepted one
// (and crewjam refuses).
func crewjamAudience(assertionEl *etree.Element, accepted []string) string {
	for _, cond := range kids(assertionEl, nsAssertion, "Conditions") {
		for _, ar := range kids(cond, nsAssertion, "AudienceRestriction") {
			auds := kids(ar, nsAssertion, "Audience")
			if len(auds) == 0 {
				continue
			}
			if t := auds[len(auds)-1].Text(); slices.Contains(accepted, t) {
				return t
			}
		}
	}
	if len(accepted) > 0 {
		return accepted[0]
	}
	return ""
}

func severalAudiencesInOneRestriction(assertionEl *etree.Element) bool {
	for _, cond := range kids(assertionEl, nsAssertion, "Conditions") {
		for _, ar := range kids(cond, nsAssertion, "AudienceRestriction") {
			if len(kids(ar, nsAssertion, "Audience")) > 1 {
				return true
			}
		}
	}
	return false
}
