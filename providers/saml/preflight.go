package saml

import (
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// XML namespaces and algorithm identifiers.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsXMLEnc    = "http://www.w3.org/2001/04/xmlenc#"

	statusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
	methodBearer  = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

	algExcC14N   = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	algSHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
	algSHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	algSHA384    = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	algSHA512    = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// document is a Response that passed the preflight: its tree and what the
// later phases need of it.
type document struct {
	root *etree.Element // the samlp:Response
	// assertion is the saml:Assertion: the Response's child, or the root of
	// the decrypted plaintext once decrypt has run.
	assertion *etree.Element
	// encrypted is the saml:EncryptedAssertion child (nil for a plain assertion).
	encrypted *etree.Element
	// responseSigned and assertionSigned: which elements carry a Signature.
	responseSigned, assertionSigned bool
	// Response attributes read by the envelope checks.
	responseID, destination string
	inResponseTo            string
	hasInResponseTo         bool
}

// preflight is every check of a decoded Response that needs no
// cryptography, run before crewjam verifies it:
//
//   - the XML itself (scanXML: size, DTDs and other directives, depth and
//     element caps, names, duplicate attributes, round-trip stability);
//   - the document shape that decides what a signature covers: a samlp
//     Response root holding exactly one Assertion or EncryptedAssertion
//     (anywhere in the document, and that one a direct child of the
//     Response), no nested Response, Signatures only directly under the
//     Response or that Assertion (one each), no duplicate ID values, no
//     two attributes of one element with the same local name, no
//     RetrievalMethod but the same-document key pointer of an
//     EncryptedData;
//   - each signature's shape and algorithms (checkSignatureShape);
//   - the envelope (checkEnvelope), which crewjam does not return;
//   - the shape and algorithms of an EncryptedAssertion.
//
// With this shape, a signature that crewjam accepts covers exactly the
// element crewjam then reads: there is no second candidate to wrap.
func (v *verifier) preflight(raw []byte, entityID string, now time.Time) (*document, error) {
	root, err := parseTree(raw, maxDecodedXML, false)
	if err != nil {
		return nil, err
	}
	if root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return nil, fail(ErrMalformed, "root element is not a SAML protocol Response")
	}
	d := &document{root: root}
	if err := inspectResponse(d); err != nil {
		return nil, err
	}
	for _, s := range kids(root, nsDSig, "Signature") {
		if err := checkSignatureShape(s, root, v.allowSHA1); err != nil {
			return nil, err
		}
	}
	if d.assertion != nil {
		for _, s := range kids(d.assertion, nsDSig, "Signature") {
			if err := checkSignatureShape(s, d.assertion, v.allowSHA1); err != nil {
				return nil, err
			}
		}
	}
	if err := v.checkEnvelope(d, entityID, now); err != nil {
		return nil, err
	}
	if d.encrypted != nil {
		if err := v.checkEncryptedShape(d.encrypted); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// inspectResponse checks the document shape of the Response and records
// its assertion (or encrypted assertion) and signatures in d.
func inspectResponse(d *document) error {
	root := d.root
	assertions, sigs, err := inspectTree(root)
	if err != nil {
		return err
	}
	if len(assertions) != 1 {
		return fail(ErrMalformed, "response must contain exactly one assertion, found %d", len(assertions))
	}
	a := assertions[0]
	if a.Parent() != root || a.NamespaceURI() != nsAssertion {
		return fail(ErrMalformed, "assertion is not a direct child of the Response")
	}
	if a.Tag == "Assertion" {
		d.assertion = a
	} else {
		d.encrypted = a
	}
	for _, s := range sigs {
		if s.NamespaceURI() != nsDSig {
			return fail(ErrMalformed, "Signature element in a foreign namespace")
		}
		switch p := s.Parent(); {
		case p == root:
			if d.responseSigned {
				return fail(ErrMalformed, "more than one Response signature")
			}
			d.responseSigned = true
		case p == a && a.Tag == "Assertion":
			if d.assertionSigned {
				return fail(ErrMalformed, "more than one Assertion signature")
			}
			d.assertionSigned = true
		default:
			return fail(ErrSignature, "signature on an unexpected element")
		}
	}
	return nil
}

// inspectTree walks the tree under root (a Response, or a decrypted
// Assertion) and returns every Assertion or EncryptedAssertion and every
// Signature in it, by local name in any namespace, root aside. On the way
// it refuses a Response below root, an ID value seen twice, two attributes
// of one element with one local name, and a RetrievalMethod other than an
// EncryptedData's same-document key pointer.
func inspectTree(root *etree.Element) (assertions, sigs []*etree.Element, err error) {
	ids := map[string]bool{}
	var walk func(el *etree.Element) error
	walk = func(el *etree.Element) error {
		if err := checkAttributes(el, ids); err != nil {
			return err
		}
		if el != root {
			switch el.Tag {
			case "Assertion", "EncryptedAssertion":
				assertions = append(assertions, el)
			case "Signature":
				sigs = append(sigs, el)
			case "Response":
				return fail(ErrMalformed, "nested Response element")
			case "RetrievalMethod":
				if err := checkRetrievalMethod(el); err != nil {
					return err
				}
			}
		}
		for _, c := range el.ChildElements() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, nil, err
	}
	return assertions, sigs, nil
}

// checkRetrievalMethod allows only the same-document pointer from
// EncryptedData/KeyInfo to its EncryptedKey (as Okta sends); it is never
// dereferenced. Anything else (remote URIs, signature KeyInfo) is refused.
func checkRetrievalMethod(el *etree.Element) error {
	uri, _ := attr(el, "URI")
	ki := el.Parent()
	if !strings.HasPrefix(uri, "#") || ki == nil || ki.Tag != "KeyInfo" || ki.Parent() == nil ||
		ki.Parent().Tag != "EncryptedData" || ki.Parent().NamespaceURI() != nsXMLEnc {
		return fail(ErrMalformed, "RetrievalMethod refused")
	}
	return nil
}

// checkAttributes records the ID-like attribute values of el (ID, Id, id)
// and refuses one seen before, and refuses two attributes of el with the
// same local name. Go's encoding/xml, which crewjam reads the document
// with, and etree's SelectAttr, which goxmldsig finds the ID with, match an
// attribute by its local name in any namespace, while this package reads
// unprefixed attributes: one local name per element keeps all three
// readings the same. Namespace declarations are not attributes here.
func checkAttributes(el *etree.Element, seen map[string]bool) error {
	for i, at := range el.Attr {
		if at.Space == "xmlns" || (at.Space == "" && at.Key == "xmlns") {
			continue
		}
		for _, prev := range el.Attr[:i] {
			if prev.Key == at.Key && prev.Space != "xmlns" {
				return fail(ErrMalformed, "two attributes with the same local name")
			}
		}
		if at.Space == "" && strings.EqualFold(at.Key, "id") {
			if seen[at.Value] {
				return fail(ErrMalformed, "duplicate ID attribute value")
			}
			seen[at.Value] = true
		}
	}
	return nil
}

// checkEnvelope checks the Response's own attributes and status. crewjam
// does not return the Response, so these checks read the tree; when the
// Response is signed, the shape rules make the tree the signed one (and
// crewjam verifies it), otherwise its attributes are untrusted hints
// checked for consistency and the decisions rest on the signed assertion.
func (v *verifier) checkEnvelope(d *document, entityID string, now time.Time) error {
	resp := d.root
	if ver, _ := attr(resp, "Version"); ver != "2.0" {
		return fail(ErrMalformed, "Response Version is not 2.0")
	}
	d.responseID, _ = attr(resp, "ID")
	if d.responseID == "" {
		return fail(ErrMalformed, "Response has no ID")
	}
	issuers := kids(resp, nsAssertion, "Issuer")
	if len(issuers) > 1 {
		return fail(ErrMalformed, "more than one Response Issuer")
	}
	if len(issuers) == 1 {
		if iss, ok := text(issuers[0]); !ok || strings.TrimSpace(iss) != entityID {
			return fail(ErrIssuer, "Response Issuer is not the IdP entity ID")
		}
	} else if d.responseSigned || d.encrypted != nil {
		return fail(ErrIssuer, "Response Issuer missing")
	}
	ii, err := timeAttr(resp, "IssueInstant", true)
	if err != nil {
		return err
	}
	if err := v.checkIssueInstant(ii, now); err != nil {
		return err
	}
	dest, hasDest := attr(resp, "Destination")
	if hasDest || d.responseSigned {
		if !slices.Contains(v.recipients, dest) {
			return fail(ErrRecipient, "Response Destination is missing or not an accepted URL")
		}
	}
	d.destination = dest
	d.inResponseTo, d.hasInResponseTo = attr(resp, "InResponseTo")
	statuses := kids(resp, nsProtocol, "Status")
	if len(statuses) != 1 {
		return fail(ErrMalformed, "Response must have exactly one Status")
	}
	codes := kids(statuses[0], nsProtocol, "StatusCode")
	if len(codes) != 1 {
		return fail(ErrStatus, "Status must have exactly one StatusCode")
	}
	if val, _ := attr(codes[0], "Value"); val != statusSuccess {
		return fail(ErrStatus, "non-success status")
	}
	if len(codes[0].ChildElements()) != 0 {
		return fail(ErrStatus, "second-level status code on a success response")
	}
	return nil
}

// checkIssueInstant applies the clock window to an IssueInstant: not after
// now (plus the skew), not older than MaxIssueAge (plus the skew).
func (v *verifier) checkIssueInstant(ii, now time.Time) error {
	if ii.After(now.Add(v.skew)) {
		return fail(ErrNotYetValid, "IssueInstant is in the future")
	}
	if now.After(ii.Add(v.maxAge + v.skew)) {
		return fail(ErrIssuedTooLongAgo, "IssueInstant is older than %s", v.maxAge)
	}
	return nil
}

// timeAttr reads an xs:dateTime attribute (RFC 3339). An absent optional
// attribute is the zero time.
func timeAttr(el *etree.Element, name string, required bool) (time.Time, error) {
	s, ok := attr(el, name)
	if !ok || s == "" {
		if required {
			return time.Time{}, fail(ErrMalformed, "%s %s missing", el.Tag, name)
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fail(ErrMalformed, "%s %s is not a dateTime", el.Tag, name)
	}
	return t.UTC(), nil
}
