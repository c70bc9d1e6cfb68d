package saml

import (
	"strings"
	"time"

	crewjam "github.com/crewjam/saml"
)

// Assertion is the verified content of a SAML assertion.
type Assertion struct {
	// ID is the assertion's ID attribute; ResponseID the enclosing Response's.
	ID, ResponseID string
	// Issuer is the assertion Issuer (equal to the IdP entity ID).
	Issuer string
	// NameID and its attributes.
	NameID, NameIDFormat, NameQualifier, SPNameQualifier string
	// Recipient is SubjectConfirmationData/@Recipient (every bearer
	// confirmation names the same one).
	Recipient string
	// Destination is Response/@Destination (may be empty when the Response is unsigned).
	Destination string
	// InResponseTo is SubjectConfirmationData/@InResponseTo ("" when unsolicited).
	InResponseTo string
	// Audiences lists every Audience of every AudienceRestriction.
	Audiences []string
	// IssueInstant of the assertion.
	IssueInstant time.Time
	// NotBefore and NotOnOrAfter of Conditions (zero when absent).
	NotBefore, NotOnOrAfter time.Time
	// SubjectNotOnOrAfter is the earliest SubjectConfirmationData/@NotOnOrAfter.
	SubjectNotOnOrAfter time.Time
	// SessionNotOnOrAfter is the earliest AuthnStatement/@SessionNotOnOrAfter (zero when absent).
	SessionNotOnOrAfter time.Time
	// AuthnInstant is the latest AuthnStatement/@AuthnInstant (zero when absent).
	AuthnInstant time.Time
	// SessionIndex of the first AuthnStatement.
	SessionIndex string
	// AuthnContextClassRefs from all AuthnStatements.
	AuthnContextClassRefs []string
	// MFAInstant is the latest AuthnInstant of an AuthnStatement whose
	// AuthnContextClassRef states multi-factor authentication (zero when
	// none does).
	MFAInstant time.Time
	// Attributes from all AttributeStatements, in document order.
	Attributes []Attribute
	// ResponseSigned and AssertionSigned say which elements carry a
	// signature (crewjam verifies the Response's when there is one, which
	// covers the assertion, else the Assertion's); Encrypted that the
	// assertion came encrypted.
	ResponseSigned, AssertionSigned, Encrypted bool
}

// Attribute is one SAML Attribute.
type Attribute struct {
	Name, FriendlyName, NameFormat string
	Values                         []string
}

// ExpiresAt is when the assertion stops being acceptable: the earliest of
// the Conditions and SubjectConfirmationData NotOnOrAfter values.
func (a *Assertion) ExpiresAt() time.Time {
	t := a.SubjectNotOnOrAfter
	if !a.NotOnOrAfter.IsZero() && (t.IsZero() || a.NotOnOrAfter.Before(t)) {
		t = a.NotOnOrAfter
	}
	return t
}

// readAssertion applies the rules crewjam leaves out to the assertion
// crewjam verified (the clock windows with the configured skew and
// MaxIssueAge, the bearer confirmation and its Recipient, the InResponseTo
// rules, every AudienceRestriction, SessionNotOnOrAfter) and reads the
// Assertion from it. Every value comes from crewjam's reading, which the
// preflight's shape rules make faithful; only the audiences come from the
// preflight's reading of the same element, because crewjam keeps one
// Audience per restriction. crewjam rounds times to the millisecond.
func (v *verifier) readAssertion(ca *crewjam.Assertion, d *document, s *assertionShape, req verifyRequest, now time.Time) (*Assertion, error) {
	out := &Assertion{
		ResponseID: d.responseID, Destination: d.destination, Issuer: req.idp.EntityID,
		ResponseSigned: d.responseSigned, AssertionSigned: d.assertionSigned, Encrypted: d.encrypted != nil,
	}
	if ca.Version != "2.0" {
		return nil, fail(ErrMalformed, "Assertion Version is not 2.0")
	}
	if out.ID = ca.ID; out.ID == "" {
		return nil, fail(ErrMalformed, "Assertion has no ID")
	}
	out.IssueInstant = ca.IssueInstant.UTC()
	if err := v.checkIssueInstant(out.IssueInstant, now); err != nil {
		return nil, err
	}
	if ca.Subject == nil || ca.Subject.NameID == nil || strings.TrimSpace(ca.Subject.NameID.Value) == "" {
		return nil, fail(ErrMalformed, "Subject has no NameID")
	}
	nid := ca.Subject.NameID
	out.NameID = strings.TrimSpace(nid.Value)
	out.NameIDFormat, out.NameQualifier, out.SPNameQualifier = nid.Format, nid.NameQualifier, nid.SPNameQualifier
	if err := v.checkConfirmations(ca.Subject.SubjectConfirmations, out, req, now); err != nil {
		return nil, err
	}
	if ca.Conditions == nil {
		return nil, fail(ErrAudience, "Assertion has no Conditions")
	}
	if err := v.checkConditions(ca.Conditions, s.restrictions, out, now); err != nil {
		return nil, err
	}
	if err := v.checkAuthnStatements(ca.AuthnStatements, out, now); err != nil {
		return nil, err
	}
	for _, st := range ca.AttributeStatements {
		for _, at := range st.Attributes {
			a := Attribute{Name: at.Name, FriendlyName: at.FriendlyName, NameFormat: at.NameFormat}
			for _, val := range at.Values {
				if val.NameID != nil {
					a.Values = append(a.Values, val.NameID.Value)
				} else {
					a.Values = append(a.Values, val.Value)
				}
			}
			out.Attributes = append(out.Attributes, a)
		}
	}
	if d.hasInResponseTo && !v.aws && d.inResponseTo != out.InResponseTo {
		return nil, fail(ErrInResponseTo, "Response and assertion InResponseTo differ")
	}
	return out, nil
}
