package saml

import (
	"net/url"
	"strings"

	"github.com/beevik/etree"
)

// assertionShape is the preflight's reading of the assertion (plain, or the
// decrypted plaintext): what crewjam must be told, the audiences as
// written, and the first content-shape problem.
type assertionShape struct {
	// recipient is the SubjectConfirmationData Recipient, the same on every
	// confirmation ("" when there is none): crewjam compares each
	// confirmation with the one AcsURL it is given.
	recipient string
	// restrictions are the trimmed Audience values of each
	// AudienceRestriction. crewjam's schema keeps one Audience per
	// restriction (the last), so the audience rule reads them here.
	restrictions [][]string
	// content is the first content-shape problem (an element repeated or
	// out of place, a value that is not plain text). It is reported once
	// crewjam has verified the signature, so that content changed after
	// signing reads as a signature failure, as it is.
	content error
}

// shapeAssertion checks the assertion before crewjam reads it. It refuses
// at once what would make crewjam's verdict or reading meaningless: an
// Issuer that is not this IdP's (the issuer names the trust the assertion
// is judged under, THREATS SAML-21), a missing Subject or Conditions or
// SubjectConfirmationData (crewjam dereferences them), a time that is not
// an xs:dateTime or a required one that is absent, and confirmations that
// disagree on the Recipient. It records the content rules that make
// crewjam's struct a faithful reading of the element (Go's encoding/xml
// merges a repeated element into one and matches names in any namespace):
// each child of Assertion, Subject, SubjectConfirmation, AuthnStatement
// and AuthnContext where the schema allows it and at most once where the
// schema says so, NameID and Audience as plain text, Attributes named and
// unique, no condition but AudienceRestriction, OneTimeUse and
// ProxyRestriction.
func shapeAssertion(a *etree.Element, entityID string) (*assertionShape, error) {
	s := &assertionShape{}
	content := func(format string, args ...any) {
		if s.content == nil {
			s.content = fail(ErrMalformed, format, args...)
		}
	}
	if _, err := timeAttr(a, "IssueInstant", true); err != nil {
		return nil, err
	}
	var issuer, subject, conditions *etree.Element
	var authn, attrs []*etree.Element
	for _, c := range a.ChildElements() {
		ns := c.NamespaceURI()
		switch {
		case ns == nsDSig && c.Tag == "Signature":
		case ns == nsAssertion && c.Tag == "Issuer" && issuer == nil:
			issuer = c
		case ns == nsAssertion && c.Tag == "Subject" && subject == nil:
			subject = c
		case ns == nsAssertion && c.Tag == "Conditions" && conditions == nil:
			conditions = c
		case ns == nsAssertion && c.Tag == "Advice":
		case ns == nsAssertion && c.Tag == "AuthnStatement":
			authn = append(authn, c)
		case ns == nsAssertion && c.Tag == "AttributeStatement":
			attrs = append(attrs, c)
		default:
			content("unexpected or repeated element in Assertion")
		}
	}
	if issuer == nil {
		return nil, fail(ErrIssuer, "Assertion Issuer missing")
	}
	if iss, ok := text(issuer); !ok || strings.TrimSpace(iss) != entityID {
		return nil, fail(ErrIssuer, "Assertion Issuer is not the IdP entity ID")
	}
	if subject == nil {
		return nil, fail(ErrMalformed, "Assertion has no Subject")
	}
	if err := s.shapeSubject(subject, content); err != nil {
		return nil, err
	}
	if conditions == nil {
		return nil, fail(ErrAudience, "Assertion has no Conditions")
	}
	if err := s.shapeConditions(conditions, content); err != nil {
		return nil, err
	}
	for _, st := range authn {
		if err := shapeAuthnStatement(st, content); err != nil {
			return nil, err
		}
	}
	shapeAttributes(attrs, content)
	return s, nil
}

func (s *assertionShape) shapeSubject(subject *etree.Element, content func(string, ...any)) error {
	var nameID *etree.Element
	first := true
	for _, c := range subject.ChildElements() {
		switch {
		case c.NamespaceURI() == nsAssertion && c.Tag == "NameID" && nameID == nil:
			nameID = c
		case c.NamespaceURI() == nsAssertion && c.Tag == "SubjectConfirmation":
			rcpt, err := shapeConfirmation(c, content)
			if err != nil {
				return err
			}
			if first {
				s.recipient, first = rcpt, false
			} else if rcpt != s.recipient {
				return fail(ErrRecipient, "SubjectConfirmations disagree on Recipient")
			}
		default:
			content("unexpected or repeated element in Subject")
		}
	}
	if u, err := url.Parse(s.recipient); err != nil || u.String() != s.recipient {
		return fail(ErrRecipient, "SubjectConfirmationData Recipient is not an accepted URL")
	}
	if nameID == nil {
		content("Subject has no NameID")
	} else if nid, ok := text(nameID); !ok || strings.TrimSpace(nid) == "" {
		content("NameID is empty or not text")
	}
	return nil
}

// shapeConfirmation checks one SubjectConfirmation and returns its Recipient.
func shapeConfirmation(sc *etree.Element, content func(string, ...any)) (string, error) {
	scd := kids(sc, nsAssertion, "SubjectConfirmationData")
	if len(scd) != 1 {
		return "", fail(ErrRecipient, "bearer SubjectConfirmation needs exactly one SubjectConfirmationData")
	}
	ids := 0
	for _, c := range sc.ChildElements() {
		switch {
		case c.NamespaceURI() != nsAssertion:
			content("unexpected element in SubjectConfirmation")
		case c.Tag == "BaseID", c.Tag == "NameID", c.Tag == "EncryptedID":
			ids++
		case c.Tag != "SubjectConfirmationData":
			content("unexpected element in SubjectConfirmation")
		}
	}
	if ids > 1 {
		content("more than one identifier in SubjectConfirmation")
	}
	if _, err := timeAttr(scd[0], "NotBefore", false); err != nil {
		return "", err
	}
	if _, err := timeAttr(scd[0], "NotOnOrAfter", true); err != nil {
		return "", err
	}
	rcpt, _ := attr(scd[0], "Recipient")
	return rcpt, nil
}

func (s *assertionShape) shapeConditions(c *etree.Element, content func(string, ...any)) error {
	for _, name := range []string{"NotBefore", "NotOnOrAfter"} {
		if _, err := timeAttr(c, name, false); err != nil {
			return err
		}
	}
	for _, el := range c.ChildElements() {
		if el.NamespaceURI() != nsAssertion {
			content("unsupported condition")
			continue
		}
		switch el.Tag {
		case "AudienceRestriction":
			var auds []string
			for _, au := range el.ChildElements() {
				if au.NamespaceURI() != nsAssertion || au.Tag != "Audience" {
					content("unexpected element in AudienceRestriction")
					continue
				}
				t, isText := text(au)
				if !isText {
					content("Audience is not text")
				}
				auds = append(auds, strings.TrimSpace(t))
			}
			s.restrictions = append(s.restrictions, auds)
		case "OneTimeUse", "ProxyRestriction":
		default:
			content("unsupported condition")
		}
	}
	return nil
}

func shapeAuthnStatement(st *etree.Element, content func(string, ...any)) error {
	if _, err := timeAttr(st, "AuthnInstant", true); err != nil {
		return err
	}
	if _, err := timeAttr(st, "SessionNotOnOrAfter", false); err != nil {
		return err
	}
	parts, ok := childrenOf(st, map[string]string{"SubjectLocality": nsAssertion, "AuthnContext": nsAssertion})
	if !ok {
		content("unexpected or repeated element in AuthnStatement")
		return nil
	}
	if ac := parts["AuthnContext"]; ac != nil {
		shapeAuthnContext(ac, content)
	}
	return nil
}

// shapeAuthnContext allows at most one AuthnContextClassRef (plain text),
// AuthnContextDecl and AuthnContextDeclRef, and any AuthenticatingAuthority.
func shapeAuthnContext(ac *etree.Element, content func(string, ...any)) {
	seen := map[string]bool{}
	for _, c := range ac.ChildElements() {
		if c.NamespaceURI() != nsAssertion {
			content("unexpected element in AuthnContext")
			continue
		}
		switch c.Tag {
		case "AuthenticatingAuthority":
		case "AuthnContextClassRef", "AuthnContextDecl", "AuthnContextDeclRef":
			if seen[c.Tag] {
				content("repeated element in AuthnContext")
			}
			seen[c.Tag] = true
			if _, isText := text(c); c.Tag == "AuthnContextClassRef" && !isText {
				content("AuthnContextClassRef is not text")
			}
		default:
			content("unexpected element in AuthnContext")
		}
	}
}

func shapeAttributes(stmts []*etree.Element, content func(string, ...any)) {
	seen := map[string]bool{}
	for _, s := range stmts {
		for _, c := range s.ChildElements() {
			if c.NamespaceURI() != nsAssertion || c.Tag != "Attribute" {
				content("unsupported element in AttributeStatement")
				continue
			}
			name, _ := attr(c, "Name")
			if name == "" {
				content("Attribute without Name")
			} else if seen[name] {
				content("Attribute repeated")
			}
			seen[name] = true
			for _, val := range c.ChildElements() {
				if val.NamespaceURI() != nsAssertion || val.Tag != "AttributeValue" {
					content("unsupported element in Attribute")
				}
			}
		}
	}
}
