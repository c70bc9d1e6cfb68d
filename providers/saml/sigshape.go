package saml

import (
	"slices"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// The signature algorithms and digests a signature may use. SHA-1 is
// accepted only when the provider allows it (allow_sha1).
var (
	strongSignatureMethods = []string{
		dsig.RSASHA256SignatureMethod, dsig.RSASHA384SignatureMethod, dsig.RSASHA512SignatureMethod,
		dsig.ECDSASHA256SignatureMethod, dsig.ECDSASHA384SignatureMethod, dsig.ECDSASHA512SignatureMethod,
	}
	sha1SignatureMethods = []string{dsig.RSASHA1SignatureMethod, dsig.ECDSASHA1SignatureMethod}
	strongDigests        = []string{algSHA256, algSHA384, algSHA512}
)

// checkSignatureShape allows exactly the enveloped, exclusive-C14N, single
// Reference signature over its parent (the Reference is the parent's ID),
// with strong algorithms, and a KeyInfo that holds at most certificates,
// key names or key values. Such a signature covers the whole parent but
// itself, so the element crewjam reads is the element the digest covers.
// It runs before any cryptography: crewjam's verification (goxmldsig)
// allows more (several References, other transforms, SHA-1, HMAC).
func checkSignatureShape(sig, parent *etree.Element, allowSHA1 bool) error {
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
	if !slices.Contains(strongSignatureMethods, alg) && (!allowSHA1 || !slices.Contains(sha1SignatureMethods, alg)) {
		return fail(ErrSignature, "signature method not allowed")
	}
	if uri, _ := attr(ref, "URI"); uri != "#"+parentID {
		return fail(ErrSignature, "signature does not reference the signed element")
	}
	if err := checkReference(ref, allowSHA1); err != nil {
		return err
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

// checkReference allows a Reference with one digest (a strong algorithm)
// and at most the enveloped-signature and exclusive C14N transforms.
func checkReference(ref *etree.Element, allowSHA1 bool) error {
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
	if !slices.Contains(strongDigests, dalg) && (!allowSHA1 || dalg != algSHA1) {
		return fail(ErrSignature, "digest method not allowed")
	}
	if transforms == nil {
		return nil
	}
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
	return nil
}
