package saml

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
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
	algRSAOAEP   = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	algRSAOAEP11 = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	algAES128CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	algAES192CBC = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
	algAES256CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	algAES128GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	encTypeElem  = "http://www.w3.org/2001/04/xmlenc#Element"
)

var strongSignatureMethods = []string{
	dsig.RSASHA256SignatureMethod, dsig.RSASHA384SignatureMethod, dsig.RSASHA512SignatureMethod,
	dsig.ECDSASHA256SignatureMethod, dsig.ECDSASHA384SignatureMethod, dsig.ECDSASHA512SignatureMethod,
}
var sha1SignatureMethods = []string{dsig.RSASHA1SignatureMethod, dsig.ECDSASHA1SignatureMethod}
var strongDigests = []string{algSHA256, algSHA384, algSHA512}

// Assertion is the verified content of a SAML assertion.
type Assertion struct {
	// ID is the assertion's ID attribute; ResponseID the enclosing Response's.
	ID, ResponseID string
	// Issuer is the assertion Issuer (equal to the IdP entity ID).
	Issuer string
	// NameID and its attributes.
	NameID, NameIDFormat, NameQualifier, SPNameQualifier string
	// Recipient is SubjectConfirmationData/@Recipient of the (first) bearer confirmation.
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
	// Attributes from all AttributeStatements, in document order.
	Attributes []Attribute
	// ResponseSigned, AssertionSigned and Encrypted describe how it was protected.
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

// idpTrust is what the verifier knows about one IdP.
type idpTrust struct {
	entityID string
	certs    []*x509.Certificate
	// descriptor is the same metadata as crewjam parsed it; the crewjam
	// gate (crewjamGate) trusts exactly this.
	descriptor *crewjam.EntityDescriptor
}

// verifier holds the fixed policy for one endpoint (an ACS or the STS).
type verifier struct {
	recipients        []string // accepted Recipient and Destination values
	audiences         []string // accepted Audience values
	decryptKey        *rsa.PrivateKey
	allowSHA1         bool
	allowIDPInitiated bool
	aws               bool // AssumeRoleWithSAML rules
	skew, maxAge      time.Duration
	now               func() time.Time
	replay            ReplayCache
}

// verifyRequest is the per-call input.
type verifyRequest struct {
	idp         *idpTrust
	requestIDs  []string
	replayScope string
	// callerClaims: the caller claims the replay key itself (AWS mode,
	// WithCallerReplayClaim); verify then claims nothing.
	callerClaims bool
}

// verify checks a decoded SAML Response document and returns its assertion.
func (v *verifier) verify(ctx context.Context, doc []byte, req verifyRequest) (*Assertion, error) {
	now := v.now()
	root, err := parseTree(doc, maxDecodedXML)
	if err != nil {
		return nil, err
	}
	if root.Tag != "Response" || root.NamespaceURI() != nsProtocol {
		return nil, fail(ErrMalformed, "root element is not a SAML protocol Response")
	}
	st, err := inspectResponse(root)
	if err != nil {
		return nil, err
	}
	for _, s := range st.signatures {
		if err := v.checkSignatureShape(s.sig, s.parent); err != nil {
			return nil, err
		}
	}

	// The envelope: the verified copy when the Response is signed, otherwise
	// the raw tree (whose attributes are then treated as untrusted hints).
	resp := root
	out := &Assertion{}
	if st.responseSig != nil {
		resp, err = v.validateSignature(root, req.idp, now)
		if err != nil {
			return nil, err
		}
		out.ResponseSigned = true
	}
	if err := v.checkEnvelope(resp, out, req.idp, now); err != nil {
		return nil, err
	}

	// The single assertion, taken from the (verified) envelope.
	var container *etree.Element
	for _, c := range resp.ChildElements() {
		if c.NamespaceURI() == nsAssertion && (c.Tag == "Assertion" || c.Tag == "EncryptedAssertion") {
			if container != nil {
				return nil, fail(ErrMalformed, "more than one assertion")
			}
			container = c
		}
	}
	if container == nil {
		return nil, fail(ErrMalformed, "no assertion")
	}
	assertionEl := container
	if container.Tag == "EncryptedAssertion" {
		assertionEl, err = v.decrypt(container)
		if err != nil {
			return nil, err
		}
		out.Encrypted = true
	}
	if sigs := kids(assertionEl, nsDSig, "Signature"); len(sigs) > 0 {
		verified, err := v.validateSignature(assertionEl, req.idp, now)
		if err != nil {
			return nil, err
		}
		assertionEl = verified
		out.AssertionSigned = true
	}
	if !out.ResponseSigned && !out.AssertionSigned {
		return nil, fail(ErrSignature, "neither the Response nor the Assertion is signed")
	}
	if err := v.readAssertion(assertionEl, out, req, now); err != nil {
		return nil, err
	}
	if irt, ok := attr(resp, "InResponseTo"); ok && !v.aws && irt != out.InResponseTo {
		return nil, fail(ErrInResponseTo, "Response and assertion InResponseTo differ")
	}

	// crewjam's own verification of the same bytes, after ours and before
	// the replay claim, so that its refusal consumes nothing.
	if err := v.crewjamGate(doc, req, out, assertionEl); err != nil {
		return nil, err
	}

	// Replay: claimed only once everything else holds, unless the caller
	// claims it after its own checks.
	if req.callerClaims {
		return out, nil
	}
	key := req.idp.entityID + "\x00" + out.ID
	if req.replayScope != "" {
		key += "\x00" + req.replayScope
	}
	fresh, err := v.replay.Claim(ctx, key, out.ExpiresAt().Add(v.skew))
	if err != nil {
		return nil, fmt.Errorf("saml: replay cache: %w", err)
	}
	if !fresh {
		return nil, fail(ErrReplay, "assertion ID already used")
	}
	return out, nil
}

type sigSite struct {
	sig, parent *etree.Element
}

type responseStructure struct {
	responseSig *etree.Element
	signatures  []sigSite
}

// inspectResponse enforces the document shape before any cryptography:
// exactly one Assertion or EncryptedAssertion anywhere, as a direct child of
// the Response; no nested Response; Signature elements only as direct
// children of the Response or of that Assertion (at most one each); no
// duplicate ID values (ID, Id, id); no RetrievalMethod.
func inspectResponse(root *etree.Element) (*responseStructure, error) {
	st := &responseStructure{}
	var assertions []*etree.Element
	var sigs []*etree.Element
	ids := map[string]bool{}
	var walk func(el *etree.Element, top bool) error
	walk = func(el *etree.Element, top bool) error {
		if err := checkIDs(el, ids); err != nil {
			return err
		}
		switch el.Tag {
		case "Assertion", "EncryptedAssertion":
			assertions = append(assertions, el)
		case "Signature":
			sigs = append(sigs, el)
		case "Response":
			if !top {
				return fail(ErrMalformed, "nested Response element")
			}
		case "RetrievalMethod":
			if err := checkRetrievalMethod(el); err != nil {
				return err
			}
		}
		for _, c := range el.ChildElements() {
			if err := walk(c, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, true); err != nil {
		return nil, err
	}
	if len(assertions) != 1 {
		return nil, fail(ErrMalformed, "response must contain exactly one assertion, found %d", len(assertions))
	}
	a := assertions[0]
	if a.Parent() != root || a.NamespaceURI() != nsAssertion {
		return nil, fail(ErrMalformed, "assertion is not a direct child of the Response")
	}
	for _, s := range sigs {
		if s.NamespaceURI() != nsDSig {
			return nil, fail(ErrMalformed, "Signature element in a foreign namespace")
		}
		p := s.Parent()
		switch {
		case p == root:
			if st.responseSig != nil {
				return nil, fail(ErrMalformed, "more than one Response signature")
			}
			st.responseSig = s
		case p == a && a.Tag == "Assertion":
			if len(kids(a, nsDSig, "Signature")) > 1 {
				return nil, fail(ErrMalformed, "more than one Assertion signature")
			}
		default:
			return nil, fail(ErrSignature, "signature on an unexpected element")
		}
		st.signatures = append(st.signatures, sigSite{sig: s, parent: p})
	}
	return st, nil
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

// checkIDs records the ID-like attributes of el and refuses duplicates.
func checkIDs(el *etree.Element, seen map[string]bool) error {
	for _, at := range el.Attr {
		if at.Space == "" && strings.EqualFold(at.Key, "id") {
			if seen[at.Value] {
				return fail(ErrMalformed, "duplicate ID attribute value")
			}
			seen[at.Value] = true
		}
	}
	return nil
}

// checkSignatureShape allows exactly the enveloped, exclusive-C14N, single
// Reference signature over its parent, with strong algorithms.
func (v *verifier) checkSignatureShape(sig, parent *etree.Element) error {
	parentID, _ := attr(parent, "ID")
	if parentID == "" {
		return fail(ErrSignature, "signed element has no ID")
	}
	var signedInfo, sigValue, keyInfo *etree.Element
	for _, c := range sig.ChildElements() {
		if c.NamespaceURI() != nsDSig {
			return fail(ErrSignature, "unexpected element in Signature")
		}
		switch c.Tag {
		case "SignedInfo":
			if signedInfo != nil {
				return fail(ErrSignature, "more than one SignedInfo")
			}
			signedInfo = c
		case "SignatureValue":
			if sigValue != nil {
				return fail(ErrSignature, "more than one SignatureValue")
			}
			sigValue = c
		case "KeyInfo":
			if keyInfo != nil {
				return fail(ErrSignature, "more than one KeyInfo")
			}
			keyInfo = c
		default:
			return fail(ErrSignature, "unexpected element in Signature")
		}
	}
	if signedInfo == nil || sigValue == nil {
		return fail(ErrSignature, "incomplete Signature")
	}
	if t, ok := text(sigValue); !ok || strings.TrimSpace(t) == "" {
		return fail(ErrSignature, "empty SignatureValue")
	}
	var c14n, method, ref *etree.Element
	for _, c := range signedInfo.ChildElements() {
		if c.NamespaceURI() != nsDSig {
			return fail(ErrSignature, "unexpected element in SignedInfo")
		}
		switch c.Tag {
		case "CanonicalizationMethod":
			if c14n != nil {
				return fail(ErrSignature, "more than one CanonicalizationMethod")
			}
			c14n = c
		case "SignatureMethod":
			if method != nil {
				return fail(ErrSignature, "more than one SignatureMethod")
			}
			method = c
		case "Reference":
			if ref != nil {
				return fail(ErrSignature, "signature must have exactly one Reference")
			}
			ref = c
		default:
			return fail(ErrSignature, "unexpected element in SignedInfo")
		}
	}
	if c14n == nil || method == nil || ref == nil {
		return fail(ErrSignature, "incomplete SignedInfo")
	}
	if a, _ := attr(c14n, "Algorithm"); a != algExcC14N {
		return fail(ErrSignature, "canonicalization method not allowed")
	}
	alg, _ := attr(method, "Algorithm")
	if len(method.ChildElements()) != 0 {
		return fail(ErrSignature, "SignatureMethod parameters refused")
	}
	if !slices.Contains(strongSignatureMethods, alg) && !(v.allowSHA1 && slices.Contains(sha1SignatureMethods, alg)) {
		return fail(ErrSignature, "signature method not allowed")
	}
	if uri, _ := attr(ref, "URI"); uri != "#"+parentID {
		return fail(ErrSignature, "signature does not reference the signed element")
	}
	var transforms, digestMethod, digestValue *etree.Element
	for _, c := range ref.ChildElements() {
		if c.NamespaceURI() != nsDSig {
			return fail(ErrSignature, "unexpected element in Reference")
		}
		switch {
		case c.Tag == "Transforms" && transforms == nil:
			transforms = c
		case c.Tag == "DigestMethod" && digestMethod == nil:
			digestMethod = c
		case c.Tag == "DigestValue" && digestValue == nil:
			digestValue = c
		default:
			return fail(ErrSignature, "unexpected element in Reference")
		}
	}
	if digestMethod == nil || digestValue == nil {
		return fail(ErrSignature, "incomplete Reference")
	}
	if t, ok := text(digestValue); !ok || strings.TrimSpace(t) == "" {
		return fail(ErrSignature, "empty DigestValue")
	}
	dalg, _ := attr(digestMethod, "Algorithm")
	if !slices.Contains(strongDigests, dalg) && !(v.allowSHA1 && dalg == algSHA1) {
		return fail(ErrSignature, "digest method not allowed")
	}
	if transforms != nil {
		ts := transforms.ChildElements()
		if len(ts) > 2 {
			return fail(ErrSignature, "too many transforms")
		}
		for _, t := range ts {
			a, _ := attr(t, "Algorithm")
			if t.Tag != "Transform" || t.NamespaceURI() != nsDSig || (a != algEnveloped && a != algExcC14N) {
				return fail(ErrSignature, "transform not allowed")
			}
			for _, p := range t.ChildElements() {
				if p.Tag != "InclusiveNamespaces" || a != algExcC14N {
					return fail(ErrSignature, "transform parameter not allowed")
				}
			}
		}
	}
	if keyInfo != nil {
		for _, c := range keyInfo.ChildElements() {
			switch c.Tag {
			case "X509Data", "KeyName", "KeyValue":
			default:
				return fail(ErrSignature, "KeyInfo content not allowed")
			}
		}
	}
	return nil
}

// validateSignature verifies the enveloped signature of el against the IdP's
// certificates and returns the verified element, re-parsed from the exact
// canonical bytes the digest covered: everything read afterwards comes from it.
func (v *verifier) validateSignature(el *etree.Element, idp *idpTrust, now time.Time) (*etree.Element, error) {
	nsCtx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, fail(ErrMalformed, "namespace context")
	}
	detached, err := etreeutils.NSDetatch(nsCtx, el)
	if err != nil {
		return nil, fail(ErrMalformed, "namespace context")
	}
	// A KeyInfo without a certificate (bare RSAKeyValue) says nothing we can
	// trust: drop it so that only the metadata keys are tried (as crewjam does).
	for _, sig := range kids(detached, nsDSig, "Signature") {
		for _, ki := range kids(sig, nsDSig, "KeyInfo") {
			if ki.FindElement("./X509Data/X509Certificate") == nil {
				sig.RemoveChild(ki)
			}
		}
	}
	if len(idp.certs) == 0 {
		return nil, fail(ErrSignature, "no trusted IdP certificate")
	}
	for _, cert := range idp.certs {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		vc.IdAttribute = "ID"
		vc.Clock = dsig.NewFakeClockAt(now)
		verified, err := vc.Validate(detached)
		if err == nil && verified != nil {
			return verified, nil
		}
	}
	return nil, fail(ErrSignature, "signature does not verify with any trusted IdP certificate")
}

// checkEnvelope checks the Response attributes and status.
func (v *verifier) checkEnvelope(resp *etree.Element, out *Assertion, idp *idpTrust, now time.Time) error {
	if ver, _ := attr(resp, "Version"); ver != "2.0" {
		return fail(ErrMalformed, "Response Version is not 2.0")
	}
	out.ResponseID, _ = attr(resp, "ID")
	if out.ResponseID == "" {
		return fail(ErrMalformed, "Response has no ID")
	}
	issuers := kids(resp, nsAssertion, "Issuer")
	if len(issuers) > 1 {
		return fail(ErrMalformed, "more than one Response Issuer")
	}
	hasEncrypted := len(kids(resp, nsAssertion, "EncryptedAssertion")) > 0
	if len(issuers) == 1 {
		if iss, ok := text(issuers[0]); !ok || strings.TrimSpace(iss) != idp.entityID {
			return fail(ErrIssuer, "Response Issuer is not the IdP entity ID")
		}
	} else if out.ResponseSigned || hasEncrypted {
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
	if hasDest || out.ResponseSigned {
		if !slices.Contains(v.recipients, dest) {
			return fail(ErrRecipient, "Response Destination is missing or not an accepted URL")
		}
	}
	out.Destination = dest
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

func (v *verifier) checkIssueInstant(ii, now time.Time) error {
	if ii.After(now.Add(v.skew)) {
		return fail(ErrNotYetValid, "IssueInstant is in the future")
	}
	if now.After(ii.Add(v.maxAge + v.skew)) {
		return fail(ErrExpired, "IssueInstant is older than %s", v.maxAge)
	}
	return nil
}

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

// decrypt opens an EncryptedAssertion with our key. Every failure has the
// same class (ErrSignature) so that padding, format and signature errors are
// indistinguishable from outside (THREATS SAML-50).
func (v *verifier) decrypt(container *etree.Element) (el *etree.Element, err error) {
	bad := func(reason string) error { return fail(ErrSignature, "encrypted assertion: %s", reason) }
	if v.decryptKey == nil {
		return nil, bad("no decryption key configured")
	}
	defer func() {
		if r := recover(); r != nil {
			el, err = nil, bad("decryption failed")
		}
	}()
	data := kids(container, nsXMLEnc, "EncryptedData")
	if len(data) != 1 {
		return nil, bad("need exactly one EncryptedData")
	}
	for _, c := range container.ChildElements() {
		if !(c.NamespaceURI() == nsXMLEnc && (c.Tag == "EncryptedData" || c.Tag == "EncryptedKey")) {
			return nil, bad("unexpected element")
		}
	}
	ed := data[0]
	if t, ok := attr(ed, "Type"); ok && t != encTypeElem {
		return nil, bad("EncryptedData Type is not Element")
	}
	keys := kids(container, nsXMLEnc, "EncryptedKey")
	for _, ki := range kids(ed, nsDSig, "KeyInfo") {
		keys = append(keys, kids(ki, nsXMLEnc, "EncryptedKey")...)
	}
	if len(keys) != 1 {
		return nil, bad("need exactly one EncryptedKey")
	}
	ek := keys[0]
	if alg := encMethod(ek); alg != algRSAOAEP && alg != algRSAOAEP11 {
		return nil, bad("key transport not allowed")
	}
	dataAlg := encMethod(ed)
	switch dataAlg {
	case algAES128CBC, algAES192CBC, algAES256CBC, algAES128GCM:
	default:
		return nil, bad("data encryption algorithm not allowed")
	}
	cv := ed.FindElement("./CipherData/CipherValue")
	if cv == nil {
		return nil, bad("no CipherValue")
	}
	ct, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(cv.Text()), ""))
	if err != nil {
		return nil, bad("CipherValue is not base64")
	}
	if dataAlg == algAES128GCM {
		if len(ct) < 12+16 {
			return nil, bad("ciphertext too short")
		}
	} else if len(ct) < 32 || len(ct)%16 != 0 {
		return nil, bad("ciphertext length")
	}
	symKey, err := xmlenc.Decrypt(v.decryptKey, ek)
	if err != nil {
		return nil, bad("key decryption failed")
	}
	// Decrypt the data with the symmetric key; when the EncryptedKey sits in
	// EncryptedData/KeyInfo, xmlenc would try to unwrap it again, so detach it.
	edCopy := ed.Copy()
	for _, ki := range kids(edCopy, nsDSig, "KeyInfo") {
		edCopy.RemoveChild(ki)
	}
	plain, err := xmlenc.Decrypt(symKey, edCopy)
	if err != nil {
		return nil, bad("data decryption failed")
	}
	root, err := parseTree(plain, maxDecodedXML)
	if err != nil {
		return nil, bad("plaintext is not acceptable XML")
	}
	if root.Tag != "Assertion" || root.NamespaceURI() != nsAssertion {
		return nil, bad("plaintext is not an Assertion")
	}
	if err := inspectAssertion(root); err != nil {
		return nil, err
	}
	for _, s := range kids(root, nsDSig, "Signature") {
		if err := v.checkSignatureShape(s, root); err != nil {
			return nil, err
		}
	}
	return root, nil
}

func encMethod(el *etree.Element) string {
	m := kids(el, nsXMLEnc, "EncryptionMethod")
	if len(m) != 1 {
		return ""
	}
	a, _ := attr(m[0], "Algorithm")
	return a
}

// inspectAssertion applies the document-shape rules to a decrypted assertion.
func inspectAssertion(root *etree.Element) error {
	ids := map[string]bool{}
	var walk func(el *etree.Element, top bool) error
	walk = func(el *etree.Element, top bool) error {
		if err := checkIDs(el, ids); err != nil {
			return err
		}
		switch el.Tag {
		case "Assertion", "EncryptedAssertion", "Response":
			if !top {
				return fail(ErrMalformed, "nested assertion")
			}
		case "Signature":
			if el.Parent() != root || el.NamespaceURI() != nsDSig {
				return fail(ErrSignature, "signature on an unexpected element")
			}
		case "RetrievalMethod":
			if err := checkRetrievalMethod(el); err != nil {
				return err
			}
		}
		for _, c := range el.ChildElements() {
			if err := walk(c, false); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, true); err != nil {
		return err
	}
	if len(kids(root, nsDSig, "Signature")) > 1 {
		return fail(ErrMalformed, "more than one Assertion signature")
	}
	return nil
}

// readAssertion checks the verified assertion and fills out.
func (v *verifier) readAssertion(a *etree.Element, out *Assertion, req verifyRequest, now time.Time) error {
	if a.Tag != "Assertion" || a.NamespaceURI() != nsAssertion {
		return fail(ErrMalformed, "not an Assertion")
	}
	if ver, _ := attr(a, "Version"); ver != "2.0" {
		return fail(ErrMalformed, "Assertion Version is not 2.0")
	}
	out.ID, _ = attr(a, "ID")
	if out.ID == "" {
		return fail(ErrMalformed, "Assertion has no ID")
	}
	ii, err := timeAttr(a, "IssueInstant", true)
	if err != nil {
		return err
	}
	if err := v.checkIssueInstant(ii, now); err != nil {
		return err
	}
	out.IssueInstant = ii

	var issuer, subject, conditions *etree.Element
	var authnStmts, attrStmts []*etree.Element
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
			authnStmts = append(authnStmts, c)
		case ns == nsAssertion && c.Tag == "AttributeStatement":
			attrStmts = append(attrStmts, c)
		default:
			return fail(ErrMalformed, "unexpected or repeated element in Assertion")
		}
	}
	if issuer == nil {
		return fail(ErrIssuer, "Assertion Issuer missing")
	}
	if iss, ok := text(issuer); !ok || strings.TrimSpace(iss) != req.idp.entityID {
		return fail(ErrIssuer, "Assertion Issuer is not the IdP entity ID")
	}
	out.Issuer = req.idp.entityID
	if subject == nil {
		return fail(ErrMalformed, "Assertion has no Subject")
	}
	if err := v.readSubject(subject, out, req, now); err != nil {
		return err
	}
	if conditions == nil {
		return fail(ErrAudience, "Assertion has no Conditions")
	}
	if err := v.readConditions(conditions, out, now); err != nil {
		return err
	}
	if len(authnStmts) == 0 && !v.aws {
		return fail(ErrMalformed, "Assertion has no AuthnStatement")
	}
	for _, s := range authnStmts {
		at, err := timeAttr(s, "AuthnInstant", true)
		if err != nil {
			return err
		}
		if at.After(out.AuthnInstant) {
			out.AuthnInstant = at
		}
		snoa, err := timeAttr(s, "SessionNotOnOrAfter", false)
		if err != nil {
			return err
		}
		if !snoa.IsZero() {
			if !now.Before(snoa.Add(v.skew)) {
				return fail(ErrExpired, "SessionNotOnOrAfter has passed")
			}
			if out.SessionNotOnOrAfter.IsZero() || snoa.Before(out.SessionNotOnOrAfter) {
				out.SessionNotOnOrAfter = snoa
			}
		}
		if out.SessionIndex == "" {
			out.SessionIndex, _ = attr(s, "SessionIndex")
		}
		for _, ctxEl := range kids(s, nsAssertion, "AuthnContext") {
			for _, ref := range kids(ctxEl, nsAssertion, "AuthnContextClassRef") {
				if t, ok := text(ref); ok {
					out.AuthnContextClassRefs = append(out.AuthnContextClassRefs, strings.TrimSpace(t))
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, s := range attrStmts {
		for _, c := range s.ChildElements() {
			if c.NamespaceURI() != nsAssertion || c.Tag != "Attribute" {
				return fail(ErrMalformed, "unsupported element in AttributeStatement")
			}
			name, _ := attr(c, "Name")
			if name == "" {
				return fail(ErrMalformed, "Attribute without Name")
			}
			if seen[name] {
				return fail(ErrMalformed, "Attribute repeated")
			}
			seen[name] = true
			at := Attribute{Name: name}
			at.FriendlyName, _ = attr(c, "FriendlyName")
			at.NameFormat, _ = attr(c, "NameFormat")
			for _, val := range c.ChildElements() {
				if val.NamespaceURI() != nsAssertion || val.Tag != "AttributeValue" {
					return fail(ErrMalformed, "unsupported element in Attribute")
				}
				at.Values = append(at.Values, deepText(val))
			}
			out.Attributes = append(out.Attributes, at)
		}
	}
	return nil
}

func (v *verifier) readSubject(subject *etree.Element, out *Assertion, req verifyRequest, now time.Time) error {
	var nameID *etree.Element
	var confirmations []*etree.Element
	for _, c := range subject.ChildElements() {
		switch {
		case c.NamespaceURI() == nsAssertion && c.Tag == "NameID" && nameID == nil:
			nameID = c
		case c.NamespaceURI() == nsAssertion && c.Tag == "SubjectConfirmation":
			confirmations = append(confirmations, c)
		default:
			return fail(ErrMalformed, "unexpected or repeated element in Subject")
		}
	}
	if nameID == nil {
		return fail(ErrMalformed, "Subject has no NameID")
	}
	nid, ok := text(nameID)
	nid = strings.TrimSpace(nid)
	if !ok || nid == "" {
		return fail(ErrMalformed, "NameID is empty or not text")
	}
	out.NameID = nid
	out.NameIDFormat, _ = attr(nameID, "Format")
	out.NameQualifier, _ = attr(nameID, "NameQualifier")
	out.SPNameQualifier, _ = attr(nameID, "SPNameQualifier")

	if len(confirmations) == 0 {
		return fail(ErrRecipient, "no SubjectConfirmation")
	}
	if v.aws && len(confirmations) != 1 {
		return fail(ErrMalformed, "need exactly one SubjectConfirmation")
	}
	respIRT := ""
	for i, sc := range confirmations {
		if m, _ := attr(sc, "Method"); m != methodBearer {
			return fail(ErrMalformed, "SubjectConfirmation Method is not bearer")
		}
		data := kids(sc, nsAssertion, "SubjectConfirmationData")
		if len(data) != 1 {
			return fail(ErrRecipient, "bearer SubjectConfirmation needs exactly one SubjectConfirmationData")
		}
		scd := data[0]
		rcpt, _ := attr(scd, "Recipient")
		if !slices.Contains(v.recipients, rcpt) {
			return fail(ErrRecipient, "SubjectConfirmationData Recipient is missing or not an accepted URL")
		}
		noa, err := timeAttr(scd, "NotOnOrAfter", false)
		if err != nil {
			return err
		}
		if noa.IsZero() {
			return fail(ErrMalformed, "SubjectConfirmationData NotOnOrAfter missing")
		}
		if !now.Before(noa.Add(v.skew)) {
			return fail(ErrExpired, "SubjectConfirmationData NotOnOrAfter has passed")
		}
		nb, err := timeAttr(scd, "NotBefore", false)
		if err != nil {
			return err
		}
		if !nb.IsZero() && now.Add(v.skew).Before(nb) {
			return fail(ErrNotYetValid, "SubjectConfirmationData NotBefore is in the future")
		}
		irt, _ := attr(scd, "InResponseTo")
		if i == 0 {
			out.Recipient = rcpt
			out.InResponseTo = irt
			respIRT = irt
		} else if irt != respIRT {
			return fail(ErrInResponseTo, "SubjectConfirmations disagree on InResponseTo")
		}
		if out.SubjectNotOnOrAfter.IsZero() || noa.Before(out.SubjectNotOnOrAfter) {
			out.SubjectNotOnOrAfter = noa
		}
	}
	if v.aws {
		return nil
	}
	// Request binding uses the value inside the signed assertion (SAML-16).
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

func (v *verifier) readConditions(c *etree.Element, out *Assertion, now time.Time) error {
	nb, err := timeAttr(c, "NotBefore", false)
	if err != nil {
		return err
	}
	noa, err := timeAttr(c, "NotOnOrAfter", false)
	if err != nil {
		return err
	}
	if !nb.IsZero() && now.Add(v.skew).Before(nb) {
		return fail(ErrNotYetValid, "Conditions NotBefore is in the future")
	}
	if !noa.IsZero() && !now.Before(noa.Add(v.skew)) {
		return fail(ErrExpired, "Conditions NotOnOrAfter has passed")
	}
	out.NotBefore, out.NotOnOrAfter = nb, noa
	restrictions := 0
	for _, el := range c.ChildElements() {
		if el.NamespaceURI() != nsAssertion {
			return fail(ErrMalformed, "unsupported condition")
		}
		switch el.Tag {
		case "AudienceRestriction":
			restrictions++
			ok := false
			for _, au := range el.ChildElements() {
				if au.NamespaceURI() != nsAssertion || au.Tag != "Audience" {
					return fail(ErrMalformed, "unexpected element in AudienceRestriction")
				}
				t, isText := text(au)
				t = strings.TrimSpace(t)
				if !isText {
					return fail(ErrMalformed, "Audience is not text")
				}
				out.Audiences = append(out.Audiences, t)
				if slices.Contains(v.audiences, t) {
					ok = true
				}
			}
			if !ok {
				return fail(ErrAudience, "an AudienceRestriction names none of the accepted audiences")
			}
		case "OneTimeUse", "ProxyRestriction":
		default:
			return fail(ErrMalformed, "unsupported condition")
		}
	}
	if restrictions == 0 {
		return fail(ErrAudience, "no AudienceRestriction")
	}
	return nil
}

// decodeBase64 decodes a base64 SAML message, tolerating line breaks and
// spaces (IdPs wrap long lines).
func decodeBase64(s string, limit int) ([]byte, error) {
	if len(s) > limit {
		return nil, fail(ErrTooLarge, "base64 input is %d characters, limit %d", len(s), limit)
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fail(ErrMalformed, "input is not base64")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fail(ErrMalformed, "empty input")
	}
	return b, nil
}
