package saml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/beevik/etree"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// Limits applied to every XML document before it is parsed into a tree
// (THREATS.md SAML-42/44): the caps hold before canonicalization or
// signature checking spend any time on it.
const (
	maxDepth       = 64
	maxElements    = 50000
	maxAttrsPerEl  = 64
	maxACSBase64   = 1 << 20 // SAMLResponse form value at the ACS
	maxSTSBase64   = 100000  // AssumeRoleWithSAML SAMLAssertion (AWS limit)
	maxDecodedXML  = 1 << 20
	maxMetadataXML = 5 << 20
)

// preflight rejects documents that are not a single, plain XML element tree:
// any DTD or other directive (so no entities, external or internal), any
// processing instruction other than the XML declaration, text or a second
// element outside the root, nesting deeper than maxDepth, more than maxElements
// elements, and anything Go's encoding/xml does not round-trip (xrv).
func preflight(doc []byte, limit int) error {
	if len(doc) > limit {
		return fail(ErrTooLarge, "document is %d bytes, limit %d", len(doc), limit)
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	depth, elements, roots := 0, 0, 0
	first := true
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(ErrMalformed, "xml syntax error")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if roots > 1 {
					return fail(ErrMalformed, "more than one root element")
				}
			}
			depth++
			elements++
			if depth > maxDepth {
				return fail(ErrMalformed, "nesting deeper than %d", maxDepth)
			}
			if elements > maxElements {
				return fail(ErrMalformed, "more than %d elements", maxElements)
			}
			if len(t.Attr) > maxAttrsPerEl {
				return fail(ErrMalformed, "more than %d attributes on one element", maxAttrsPerEl)
			}
		case xml.EndElement:
			depth--
			if depth < 0 {
				return fail(ErrMalformed, "unbalanced end element")
			}
		case xml.Directive:
			return fail(ErrMalformed, "DTD or other directive refused")
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return fail(ErrMalformed, "processing instruction refused")
			}
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) != 0 {
				return fail(ErrMalformed, "text outside the root element")
			}
		case xml.Comment:
			// Comments are harmless here: exclusive C14N drops them and all
			// values are read from the canonical (verified) form.
		}
		first = false
	}
	if depth != 0 || roots != 1 {
		return fail(ErrMalformed, "document is not a single element")
	}
	if err := xrv.Validate(bytes.NewReader(doc)); err != nil {
		return fail(ErrMalformed, "xml does not round-trip")
	}
	return nil
}

// parseTree runs preflight and returns the etree root.
func parseTree(doc []byte, limit int) (*etree.Element, error) {
	if err := preflight(doc, limit); err != nil {
		return nil, err
	}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return nil, fail(ErrMalformed, "xml syntax error")
	}
	root := d.Root()
	if root == nil {
		return nil, fail(ErrMalformed, "no root element")
	}
	return root, nil
}

// text returns the concatenated character data of el. It refuses element
// content, so a value cannot be split across children. (Comments are absent
// in the canonical form the values are read from.)
func text(el *etree.Element) (string, bool) {
	var b strings.Builder
	for _, c := range el.Child {
		switch t := c.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		case *etree.Element:
			return "", false
		}
	}
	return b.String(), true
}

// deepText concatenates all character data under el (for complex attribute values).
func deepText(el *etree.Element) string {
	var b strings.Builder
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.Child {
			switch t := c.(type) {
			case *etree.CharData:
				b.WriteString(t.Data)
			case *etree.Element:
				walk(t)
			}
		}
	}
	walk(el)
	return b.String()
}

// kids returns the child elements of el with the given namespace URI and local name.
func kids(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// attr returns the value of an unprefixed attribute.
func attr(el *etree.Element, key string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}
