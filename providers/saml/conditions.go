package saml

import (
	"slices"
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
)

// checkConfirmations requires bearer SubjectConfirmations (exactly one for
// AssumeRoleWithSAML), each with an accepted Recipient, a NotOnOrAfter that
// has not passed and a NotBefore that has, all naming the same
// InResponseTo; then binds the browser's Response to its request: the
// InResponseTo inside the signed assertion (never the envelope's, SAML-16)
// must be an outstanding request ID, and an unsolicited Response is
// accepted only where IdP-initiated login is allowed. The STS takes
// IdP-initiated Responses only and has no request to bind to.
func (v *verifier) checkConfirmations(scs []crewjam.SubjectConfirmation, out *Assertion, req verifyRequest, now time.Time) error {
	if len(scs) == 0 {
		return fail(ErrRecipient, "no SubjectConfirmation")
	}
	if v.aws && len(scs) != 1 {
		return fail(ErrMalformed, "need exactly one SubjectConfirmation")
	}
	for i, sc := range scs {
		if sc.Method != methodBearer {
			return fail(ErrMalformed, "SubjectConfirmation Method is not bearer")
		}
		scd := sc.SubjectConfirmationData
		if scd == nil {
			return fail(ErrRecipient, "bearer SubjectConfirmation needs exactly one SubjectConfirmationData")
		}
		if !slices.Contains(v.recipients, scd.Recipient) {
			return fail(ErrRecipient, "SubjectConfirmationData Recipient is missing or not an accepted URL")
		}
		noa := scd.NotOnOrAfter.UTC()
		if noa.IsZero() {
			return fail(ErrMalformed, "SubjectConfirmationData NotOnOrAfter missing")
		}
		if !now.Before(noa.Add(v.skew)) {
			return fail(ErrExpired, "SubjectConfirmationData NotOnOrAfter has passed")
		}
		if nb := scd.NotBefore; !nb.IsZero() && now.Add(v.skew).Before(nb) {
			return fail(ErrNotYetValid, "SubjectConfirmationData NotBefore is in the future")
		}
		if i == 0 {
			out.Recipient, out.InResponseTo = scd.Recipient, scd.InResponseTo
		} else if scd.InResponseTo != out.InResponseTo {
			return fail(ErrInResponseTo, "SubjectConfirmations disagree on InResponseTo")
		}
		if out.SubjectNotOnOrAfter.IsZero() || noa.Before(out.SubjectNotOnOrAfter) {
			out.SubjectNotOnOrAfter = noa
		}
	}
	if v.aws {
		return nil
	}
	if out.InResponseTo == "" {
		if !v.allowIDPInitiated {
			return fail(ErrInResponseTo, "unsolicited response and IdP-initiated login is off")
		}
		return nil
	}
	if !slices.Contains(req.requestIDs, out.InResponseTo) {
		return fail(ErrInResponseTo, "InResponseTo does not match an outstanding request")
	}
	return nil
}

// checkConditions applies the Conditions window and requires at least one
// AudienceRestriction, every one of which names an accepted audience
// (SAML Core §2.5.1.4: the restrictions are AND-ed, the Audiences of one
// restriction OR-ed). restrictions are the preflight's reading of them.
func (v *verifier) checkConditions(c *crewjam.Conditions, restrictions [][]string, out *Assertion, now time.Time) error {
	nb, noa := c.NotBefore.UTC(), c.NotOnOrAfter.UTC()
	if !c.NotBefore.IsZero() && now.Add(v.skew).Before(nb) {
		return fail(ErrNotYetValid, "Conditions NotBefore is in the future")
	}
	if !c.NotOnOrAfter.IsZero() && !now.Before(noa.Add(v.skew)) {
		return fail(ErrExpired, "Conditions NotOnOrAfter has passed")
	}
	if !c.NotBefore.IsZero() {
		out.NotBefore = nb
	}
	if !c.NotOnOrAfter.IsZero() {
		out.NotOnOrAfter = noa
	}
	if len(restrictions) == 0 {
		return fail(ErrAudience, "no AudienceRestriction")
	}
	for _, auds := range restrictions {
		out.Audiences = append(out.Audiences, auds...)
		if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(v.audiences, a) }) {
			return fail(ErrAudience, "an AudienceRestriction names none of the accepted audiences")
		}
	}
	return nil
}

// checkAuthnStatements requires an AuthnStatement at the browser ACS (the
// STS accepts attribute-only assertions, as AWS does), refuses a passed
// SessionNotOnOrAfter, and reads the authentication time, session limit,
// session index, context class references and the time of a multi-factor
// authentication.
func (v *verifier) checkAuthnStatements(stmts []crewjam.AuthnStatement, out *Assertion, now time.Time) error {
	if len(stmts) == 0 && !v.aws {
		return fail(ErrMalformed, "Assertion has no AuthnStatement")
	}
	for _, s := range stmts {
		if s.AuthnInstant.IsZero() {
			return fail(ErrMalformed, "AuthnStatement AuthnInstant missing")
		}
		if at := s.AuthnInstant.UTC(); at.After(out.AuthnInstant) {
			out.AuthnInstant = at
		}
		if s.SessionNotOnOrAfter != nil && !s.SessionNotOnOrAfter.IsZero() {
			snoa := s.SessionNotOnOrAfter.UTC()
			if !now.Before(snoa.Add(v.skew)) {
				return fail(ErrExpired, "SessionNotOnOrAfter has passed")
			}
			if out.SessionNotOnOrAfter.IsZero() || snoa.Before(out.SessionNotOnOrAfter) {
				out.SessionNotOnOrAfter = snoa
			}
		}
		if out.SessionIndex == "" {
			out.SessionIndex = s.SessionIndex
		}
		if ref := s.AuthnContext.AuthnContextClassRef; ref != nil {
			v := strings.TrimSpace(ref.Value)
			out.AuthnContextClassRefs = append(out.AuthnContextClassRefs, v)
			if at := s.AuthnInstant.UTC(); isMFA(v) && at.After(out.MFAInstant) {
				out.MFAInstant = at
			}
		}
	}
	return nil
}
