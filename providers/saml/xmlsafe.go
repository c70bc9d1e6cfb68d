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

// scanXML rejects documents that are not a single, plain XML element tree:
// any DTD or other directive (so no entities, external or internal), any
// processing instruction other than the XML declaration, text or a second
// element outside the root, nesting deeper than maxDepth, more than maxElements
// elements, names that are not well-formed qualified names, duplicate
// attributes (by raw name or by namespace URI and local name), namespace
// declarations that XML 1.0 forbids, and, when roundTrip is set, anything
// Go's encoding/xml does not round-trip (xrv).
//
// When into is not nil, the document's tree is built under it from the
// tokens the checks read (see treeBuilder), so that a document is tokenized
// once; an end tag that does not close the open element is then refused
// too, as etree's reader refuses it, after every other check.
func scanXML(doc []byte, limit int, roundTrip bool, into *etree.Element) error {
	if len(doc) > limit {
		return fail(ErrTooLarge, "document is %d bytes, limit %d", len(doc), limit)
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	depth, elements, roots := 0, 0, 0
	first := true
	var scope nsScope
	var tree *treeBuilder
	if into != nil {
		tree = &treeBuilder{open: []*etree.Element{into}}
	}
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
			if err := scope.push(t); err != nil {
				return err
			}
			tree.start(t)
		case xml.EndElement:
			depth--
			if depth < 0 {
				return fail(ErrMalformed, "unbalanced end element")
			}
			scope.pop()
			tree.end(t)
		case xml.Directive:
			return fail(ErrMalformed, "DTD or other directive refused")
		case xml.ProcInst:
			if !first || t.Target != "xml" {
				return fail(ErrMalformed, "processing instruction refused")
			}
			tree.procInst(t)
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) != 0 {
				return fail(ErrMalformed, "text outside the root element")
			}
			// Only an empty CDATA section makes an empty token, and
			// encoding/xml does not round-trip it: xrv (crewjam's, when
			// roundTrip is off) would refuse it later, as a crewjam refusal.
			if len(t) == 0 {
				return fail(ErrMalformed, "empty CDATA section")
			}
			tree.text(t)
		case xml.Comment:
			// Comments are harmless here: exclusive C14N drops them, and
			// encoding/xml (crewjam's reader) joins the text around them,
			// so a value split by a comment reads whole (THREATS SAML-25).
			tree.comment(t)
		}
		first = false
	}
	if depth != 0 || roots != 1 {
		return fail(ErrMalformed, "document is not a single element")
	}
	if roundTrip {
		if err := xrv.Validate(bytes.NewReader(doc)); err != nil {
			return fail(ErrMalformed, "xml does not round-trip")
		}
	}
	if tree != nil && tree.mismatch {
		return fail(ErrMalformed, "xml syntax error")
	}
	return nil
}

// treeBuilder builds an etree from the raw tokens scanXML reads, as etree's
// reader (Document.ReadFromBytes with the default ReadSettings) builds it
// from the raw tokens of its own strict encoding/xml decoder: an element per
// start tag with its raw prefix as Space, its attributes in document order,
// character data (flagged when it is white space only), comments and the
// XML declaration, each appended to the open element. It relies on what
// scanXML has checked before each call: names are well-formed QNames (no
// colon in the prefix or local part, so a "prefix:local" key splits back as
// etree splits it) and no element repeats an attribute name (etree's reader
// would keep the last value of a repeated one). An end tag that does not
// match the open element stops the building and is a mismatch, as it is an
// error for etree's reader (RawToken does not check it). Directives never
// reach it: scanXML refuses them. Reading a document once instead of twice
// (the checks, then etree) is the point (BenchmarkParseTree).
type treeBuilder struct {
	open     []*etree.Element // the document element, then the open elements
	mismatch bool
}

func (b *treeBuilder) top() *etree.Element {
	if b == nil || b.mismatch {
		return nil
	}
	return b.open[len(b.open)-1]
}

func (b *treeBuilder) start(t xml.StartElement) {
	top := b.top()
	if top == nil {
		return
	}
	e := top.CreateElement(t.Name.Local)
	e.Space = t.Name.Space
	for _, a := range t.Attr {
		key := a.Name.Local
		if a.Name.Space != "" {
			key = a.Name.Space + ":" + key
		}
		e.CreateAttr(key, a.Value)
	}
	b.open = append(b.open, e)
}

func (b *treeBuilder) end(t xml.EndElement) {
	top := b.top()
	if top == nil {
		return
	}
	if len(b.open) == 1 || top.Tag != t.Name.Local || top.Space != t.Name.Space {
		b.mismatch = true
		return
	}
	b.open = b.open[:len(b.open)-1]
}

func (b *treeBuilder) text(t xml.CharData) {
	if top := b.top(); top != nil {
		s := string(t)
		top.CreateText(s).SetData(s) // SetData flags white space as the reader does
	}
}

func (b *treeBuilder) comment(t xml.Comment) {
	if top := b.top(); top != nil {
		top.CreateComment(string(t))
	}
}

func (b *treeBuilder) procInst(t xml.ProcInst) {
	if top := b.top(); top != nil {
		top.CreateProcInst(t.Target, string(t.Inst))
	}
}

// Namespace names fixed by the Namespaces in XML recommendation.
const (
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

// nsScope tracks the in-scope prefix bindings of the elements scanXML is
// inside, so that attributes can be compared by namespace URI.
type nsScope struct {
	bindings []nsBinding // declarations of all open elements, outermost first
	marks    []int       // len(bindings) before each open element's declarations
}

type nsBinding struct{ prefix, uri string }

// qname reports whether n is a well-formed QName as RawToken splits it:
// encoding/xml leaves the whole name in Local when the prefix or the local
// part is empty (":", ":a", "a:", "xmlns:"), so a colon there, or an empty
// Local, is a malformed name.
func qname(n xml.Name) bool {
	return n.Local != "" && !strings.Contains(n.Local, ":") && !strings.Contains(n.Space, ":")
}

// push checks the names, namespace declarations and attribute uniqueness of
// one start element and opens its scope. The checks are quadratic in the
// number of attributes, which the caller has already capped at maxAttrsPerEl.
func (s *nsScope) push(t xml.StartElement) error {
	if !qname(t.Name) {
		return fail(ErrMalformed, "malformed element name")
	}
	s.marks = append(s.marks, len(s.bindings))
	for _, a := range t.Attr {
		if !qname(a.Name) {
			return fail(ErrMalformed, "malformed attribute name")
		}
		switch {
		case a.Name.Space == "xmlns":
			// XML 1.0 has no prefix undeclaration, and the reserved
			// prefixes may not be (re)bound to anything else.
			if a.Value == "" {
				return fail(ErrMalformed, "empty namespace prefix declaration")
			}
			if a.Name.Local == "xmlns" || (a.Name.Local == "xml") != (a.Value == nsXML) || a.Value == nsXMLNS {
				return fail(ErrMalformed, "reserved namespace prefix or name rebound")
			}
			s.bindings = append(s.bindings, nsBinding{a.Name.Local, a.Value})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			if a.Value == nsXML || a.Value == nsXMLNS {
				return fail(ErrMalformed, "reserved namespace name as default namespace")
			}
		}
	}
	for i, a := range t.Attr {
		ai := s.resolve(a.Name)
		for _, b := range t.Attr[:i] {
			if a.Name == b.Name {
				return fail(ErrMalformed, "duplicate attribute (same name)")
			}
			if ai == s.resolve(b.Name) {
				return fail(ErrMalformed, "duplicate attribute (same namespace and local name)")
			}
		}
	}
	return nil
}

// pop closes the innermost element's scope.
func (s *nsScope) pop() {
	if n := len(s.marks); n > 0 {
		s.bindings = s.bindings[:s.marks[n-1]]
		s.marks = s.marks[:n-1]
	}
}

// resolve returns an attribute's expanded name: unprefixed attributes are in
// no namespace; an undeclared prefix stays distinct from every namespace URI.
func (s *nsScope) resolve(n xml.Name) xml.Name {
	switch n.Space {
	case "":
		if n.Local == "xmlns" {
			return xml.Name{Space: nsXMLNS}
		}
		return n
	case "xml":
		return xml.Name{Space: nsXML, Local: n.Local}
	case "xmlns":
		return xml.Name{Space: nsXMLNS, Local: n.Local}
	}
	for i := len(s.bindings) - 1; i >= 0; i-- {
		if s.bindings[i].prefix == n.Space {
			return xml.Name{Space: s.bindings[i].uri, Local: n.Local}
		}
	}
	return xml.Name{Space: "\x00undeclared:" + n.Space, Local: n.Local}
}

// parseTree runs scanXML and returns the etree root, built from the tokens
// scanXML read: the tree etree.Document.ReadFromBytes would return for a
// document scanXML accepts (FuzzParseTree compares the two). roundTrip runs
// xrv too: a SAML Response and a decrypted assertion skip it here because
// crewjam's ParseXMLResponse runs the same xrv.Validate on both before it
// reads them (it refuses what xrv refuses), and it is the costliest pass.
func parseTree(doc []byte, limit int, roundTrip bool) (*etree.Element, error) {
	d := etree.NewDocument()
	if err := scanXML(doc, limit, roundTrip, &d.Element); err != nil {
		return nil, err
	}
	root := d.Root()
	if root == nil {
		return nil, fail(ErrMalformed, "no root element")
	}
	return root, nil
}

// text returns the concatenated character data of el, skipping comments
// as exclusive C14N and encoding/xml do. It refuses element content, so a
// value cannot be split across children.
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
