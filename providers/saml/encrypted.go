package saml

import (
	"encoding/base64"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
)

// XML Encryption algorithms an EncryptedAssertion may use: RSA-OAEP key
// transport (never RSA PKCS#1 v1.5, THREATS SAML-51) and AES data encryption.
const (
	algRSAOAEP   = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	algRSAOAEP11 = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	algAES128CBC = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	algAES192CBC = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
	algAES256CBC = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	algAES128GCM = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	encTypeElem  = "http://www.w3.org/2001/04/xmlenc#Element"
)

// encryptedParts are the elements of an EncryptedAssertion that the
// decryption reads.
type encryptedParts struct {
	data, key    *etree.Element // EncryptedData and its one EncryptedKey
	keyInKeyInfo bool           // the EncryptedKey sits in EncryptedData/KeyInfo
	dataAlg      string
	ciphertext   []byte
}

// badEncrypted is the one failure class of an encrypted assertion: a
// refused shape, a failed decryption and a bad signature inside answer
// alike, so that none of them is an oracle (THREATS SAML-50).
func badEncrypted(reason string) error {
	return fail(ErrSignature, "encrypted assertion: %s", reason)
}

// checkEncryptedShape is the preflight of an EncryptedAssertion: one
// EncryptedData of Type Element, exactly one EncryptedKey (beside it or in
// its KeyInfo), RSA-OAEP key transport, an allowed data algorithm and a
// ciphertext of a possible length, every element where it belongs and at
// most once. xmlenc (crewjam's, which opens it) finds these elements by
// local name and takes the first; with one of each, it takes these.
func (v *verifier) checkEncryptedShape(container *etree.Element) error {
	if v.decryptKey == nil {
		return badEncrypted("no decryption key configured")
	}
	_, err := readEncrypted(container)
	return err
}

func readEncrypted(container *etree.Element) (*encryptedParts, error) {
	top, ok := onlyChildren(container, nsXMLEnc, "EncryptedData", "EncryptedKey")
	if !ok || top["EncryptedData"] == nil {
		return nil, badEncrypted("need exactly one EncryptedData and at most one EncryptedKey")
	}
	p := &encryptedParts{data: top["EncryptedData"], key: top["EncryptedKey"]}
	if t, ok := attr(p.data, "Type"); ok && t != encTypeElem {
		return nil, badEncrypted("EncryptedData Type is not Element")
	}
	ed, ok := childrenOf(p.data, map[string]string{"EncryptionMethod": nsXMLEnc, "KeyInfo": nsDSig, "CipherData": nsXMLEnc})
	if !ok {
		return nil, badEncrypted("unexpected or repeated element in EncryptedData")
	}
	if ki := ed["KeyInfo"]; ki != nil {
		kc, ok := childrenOf(ki, map[string]string{"EncryptedKey": nsXMLEnc, "RetrievalMethod": nsDSig, "KeyName": nsDSig})
		if !ok {
			return nil, badEncrypted("unexpected or repeated element in EncryptedData KeyInfo")
		}
		if kc["EncryptedKey"] != nil {
			if p.key != nil {
				return nil, badEncrypted("need exactly one EncryptedKey")
			}
			p.key, p.keyInKeyInfo = kc["EncryptedKey"], true
		}
	}
	if p.key == nil {
		return nil, badEncrypted("need exactly one EncryptedKey")
	}
	ek, ok := childrenOf(p.key, map[string]string{"EncryptionMethod": nsXMLEnc, "KeyInfo": nsDSig, "CipherData": nsXMLEnc,
		"ReferenceList": nsXMLEnc, "CarriedKeyName": nsXMLEnc})
	if !ok {
		return nil, badEncrypted("unexpected or repeated element in EncryptedKey")
	}
	if alg := algorithmOf(ek["EncryptionMethod"]); alg != algRSAOAEP && alg != algRSAOAEP11 {
		return nil, badEncrypted("key transport not allowed")
	}
	if _, err := cipherValue(ek["CipherData"]); err != nil {
		return nil, err
	}
	p.dataAlg = algorithmOf(ed["EncryptionMethod"])
	switch p.dataAlg {
	case algAES128CBC, algAES192CBC, algAES256CBC, algAES128GCM:
	default:
		return nil, badEncrypted("data encryption algorithm not allowed")
	}
	ct, err := cipherValue(ed["CipherData"])
	if err != nil {
		return nil, err
	}
	if p.dataAlg == algAES128GCM {
		if len(ct) < 12+16 {
			return nil, badEncrypted("ciphertext too short")
		}
	} else if len(ct) < 32 || len(ct)%16 != 0 {
		return nil, badEncrypted("ciphertext length")
	}
	p.ciphertext = ct
	return p, nil
}

// cipherValue returns the decoded CipherData/CipherValue (the only child).
// It is a length check: xmlenc decodes the value itself.
func cipherValue(cd *etree.Element) ([]byte, error) {
	if cd == nil {
		return nil, badEncrypted("no CipherData")
	}
	vals, ok := onlyChildren(cd, nsXMLEnc, "CipherValue")
	cv := vals["CipherValue"]
	if !ok || cv == nil {
		return nil, badEncrypted("CipherData must hold one CipherValue")
	}
	// xmlenc reads the first text node only: one text node, so that this
	// check reads what it decrypts.
	if len(cv.Child) != 1 {
		return nil, badEncrypted("CipherValue is not one text node")
	}
	t, isText := cv.Child[0].(*etree.CharData)
	if !isText {
		return nil, badEncrypted("CipherValue is not text")
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(t.Data), ""))
	if err != nil {
		return nil, badEncrypted("CipherValue is not base64")
	}
	return b, nil
}

// algorithmOf is the Algorithm of an EncryptionMethod ("" when absent).
func algorithmOf(m *etree.Element) string {
	if m == nil {
		return ""
	}
	a, _ := attr(m, "Algorithm")
	return a
}

// onlyChildren reports whether every child element of el is one of tags in
// namespace ns, each at most once, and returns them by tag.
func onlyChildren(el *etree.Element, ns string, tags ...string) (map[string]*etree.Element, bool) {
	allowed := make(map[string]string, len(tags))
	for _, t := range tags {
		allowed[t] = ns
	}
	return childrenOf(el, allowed)
}

// childrenOf reports whether every child element of el is allowed (local
// name -> namespace), each at most once, and returns them by local name.
func childrenOf(el *etree.Element, allowed map[string]string) (map[string]*etree.Element, bool) {
	out := map[string]*etree.Element{}
	for _, c := range el.ChildElements() {
		ns, ok := allowed[c.Tag]
		if !ok || c.NamespaceURI() != ns || out[c.Tag] != nil {
			return nil, false
		}
		out[c.Tag] = c
	}
	return out, true
}

// decrypt opens the EncryptedAssertion with the SP key and returns the
// plaintext Assertion after the same XML gates as the Response (scanXML)
// and the shape rules of a plain assertion. crewjam decrypts the same
// ciphertext again when it verifies the Response (it exposes neither the
// plaintext nor a hook on it), so these gates hold for what it reads: the
// decryption is deterministic and the shape checked here makes xmlenc pick
// the same key and data. Every failure is one class (badEncrypted).
func (v *verifier) decrypt(container *etree.Element) (el *etree.Element, err error) {
	p, err := readEncrypted(container)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			el, err = nil, badEncrypted("decryption failed")
		}
	}()
	symKey, err := xmlenc.Decrypt(v.decryptKey, p.key)
	if err != nil {
		return nil, badEncrypted("key decryption failed")
	}
	// xmlenc would unwrap an EncryptedKey in EncryptedData/KeyInfo again:
	// decrypt a copy without it.
	data := p.data
	if p.keyInKeyInfo {
		data = p.data.Copy()
		for _, ki := range kids(data, nsDSig, "KeyInfo") {
			data.RemoveChild(ki)
		}
	}
	plain, err := xmlenc.Decrypt(symKey, data)
	if err != nil {
		return nil, badEncrypted("data decryption failed")
	}
	root, err := parseTree(plain, maxDecodedXML, false)
	if err != nil {
		return nil, badEncrypted("plaintext is not acceptable XML")
	}
	if root.Tag != "Assertion" || root.NamespaceURI() != nsAssertion {
		return nil, badEncrypted("plaintext is not an Assertion")
	}
	if err := inspectPlaintext(root); err != nil {
		return nil, err
	}
	for _, s := range kids(root, nsDSig, "Signature") {
		if err := checkSignatureShape(s, root, v.allowSHA1); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// inspectPlaintext applies the document-shape rules of the Response to a
// decrypted assertion: no Assertion, EncryptedAssertion or Response inside
// it, a Signature only as a direct child of the root (at most one), and
// inspectTree's rules.
func inspectPlaintext(root *etree.Element) error {
	assertions, sigs, err := inspectTree(root)
	if err != nil {
		return err
	}
	if len(assertions) != 0 {
		return fail(ErrMalformed, "nested assertion")
	}
	for _, s := range sigs {
		if s.Parent() != root || s.NamespaceURI() != nsDSig {
			return fail(ErrSignature, "signature on an unexpected element")
		}
	}
	if len(sigs) > 1 {
		return fail(ErrMalformed, "more than one Assertion signature")
	}
	return nil
}
