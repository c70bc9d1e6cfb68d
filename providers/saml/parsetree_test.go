package saml

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/internal/awsspec"
	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// etreeParseTree is parseTree as two passes: scanXML's checks alone, then
// etree's own reader. parseTree must accept exactly what it accepts and
// return the same tree.
func etreeParseTree(doc []byte, limit int, roundTrip bool) (*etree.Element, error) {
	if err := scanXML(doc, limit, roundTrip, nil); err != nil {
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

// treeDiff describes the first difference between two etree tokens and
// everything under them (including the document-level tokens around a
// root), or returns "".
func treeDiff(path string, a, b etree.Token) string {
	switch x := a.(type) {
	case *etree.Element:
		y, ok := b.(*etree.Element)
		if !ok {
			return fmt.Sprintf("%s: element vs %T", path, b)
		}
		if x.Space != y.Space || x.Tag != y.Tag {
			return fmt.Sprintf("%s: element %s:%s vs %s:%s", path, x.Space, x.Tag, y.Space, y.Tag)
		}
		path += "/" + x.FullTag()
		if len(x.Attr) != len(y.Attr) {
			return fmt.Sprintf("%s: %d attributes vs %d", path, len(x.Attr), len(y.Attr))
		}
		for i := range x.Attr {
			p, q := x.Attr[i], y.Attr[i]
			if p.Space != q.Space || p.Key != q.Key || p.Value != q.Value || p.Element() != x || q.Element() != y {
				return fmt.Sprintf("%s: attribute %d %s:%s=%q vs %s:%s=%q", path, i, p.Space, p.Key, p.Value, q.Space, q.Key, q.Value)
			}
		}
		if len(x.Child) != len(y.Child) {
			return fmt.Sprintf("%s: %d children vs %d", path, len(x.Child), len(y.Child))
		}
		for i := range x.Child {
			if x.Child[i].Parent() != x || y.Child[i].Parent() != y || x.Child[i].Index() != i || y.Child[i].Index() != i {
				return fmt.Sprintf("%s: child %d parent or index", path, i)
			}
			if d := treeDiff(fmt.Sprintf("%s[%d]", path, i), x.Child[i], y.Child[i]); d != "" {
				return d
			}
		}
	case *etree.CharData:
		y, ok := b.(*etree.CharData)
		if !ok || x.Data != y.Data || x.IsWhitespace() != y.IsWhitespace() || x.IsCData() != y.IsCData() {
			return fmt.Sprintf("%s: character data %#v vs %#v", path, a, b)
		}
	case *etree.Comment:
		if y, ok := b.(*etree.Comment); !ok || x.Data != y.Data {
			return fmt.Sprintf("%s: comment %#v vs %#v", path, a, b)
		}
	case *etree.ProcInst:
		if y, ok := b.(*etree.ProcInst); !ok || x.Target != y.Target || x.Inst != y.Inst {
			return fmt.Sprintf("%s: processing instruction %#v vs %#v", path, a, b)
		}
	default:
		return fmt.Sprintf("%s: unexpected token %T", path, a)
	}
	return ""
}

// checkParseTree compares parseTree with etreeParseTree on one document.
func checkParseTree(t *testing.T, doc []byte, roundTrip bool) {
	t.Helper()
	got, gotErr := parseTree(doc, maxDecodedXML, roundTrip)
	want, wantErr := etreeParseTree(doc, maxDecodedXML, roundTrip)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("parseTree error %v, two passes %v", gotErr, wantErr)
	}
	if gotErr != nil {
		var g, w *Error
		if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) || g.Class != w.Class || g.Reason != w.Reason {
			t.Fatalf("parseTree error %v, two passes %v", gotErr, wantErr)
		}
		return
	}
	// Compare the documents, so that the tokens around the root count too.
	if d := treeDiff("", got.Parent(), want.Parent()); d != "" {
		t.Fatalf("trees differ at %s", d)
	}
	gs, err := etree.NewDocumentWithRoot(got.Copy()).WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	ws, err := etree.NewDocumentWithRoot(want.Copy()).WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	if gs != ws {
		t.Fatalf("trees serialize differently:\n%s\n%s", gs, ws)
	}
}

// TestParseTreeMatchesEtree: the tree parseTree builds from scanXML's tokens
// is the one etree's reader builds, and both refuse the same documents with
// the same reason, on the fuzz seeds and on the shapes the builder has to
// get right (prefixes, attributes that share a local name, white space,
// comments and the declaration around the root, CDATA, mismatched ends).
func TestParseTreeMatchesEtree(t *testing.T) {
	docs := [][]byte{
		[]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<!-- c --><a xmlns=\"urn:x\" xmlns:p=\"urn:p\" id=\"1\" p:id=\"2\">\n  <p:b p:x=\"1\" x=\"2\"> t <![CDATA[ c ]]><!-- in --> u </p:b>\t<c/></a>\n<!-- after -->\n"),
		[]byte(`<a><b></a></b>`),
		[]byte(`<a><b></c></a>`),
		[]byte(`<p:a xmlns:p="urn:p"></q:a>`),
		[]byte(`<a></a><b/>`),
		[]byte(`<a>`),
		[]byte(`</a>`),
		[]byte(`<a><![CDATA[]]></a>`),
		[]byte(`<a>&amp;&#x41;&lt;</a>`),
		[]byte(`<a>&ent;</a>`),
		[]byte(`<!DOCTYPE a><a/>`),
		[]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`),
		[]byte(`<a x="1" x="2"/>`),
		[]byte(`<a xmlns:p="urn:p" xmlns:q="urn:p" p:x="1" q:x="2"/>`),
		[]byte("<a>\r\n</a>"),
		[]byte(`  `),
		{},
	}
	for _, s := range fuzzSeeds(t) {
		docs = append(docs, s)
	}
	for i, doc := range docs {
		for _, rt := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/roundtrip=%v", i, rt), func(t *testing.T) { checkParseTree(t, doc, rt) })
		}
	}
}

// FuzzParseTree: on any input, parseTree (one tokenization) and scanXML
// followed by etree's reader (two) accept and refuse alike and build the
// same tree.
func FuzzParseTree(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`<a xmlns:p="urn:p" p:x="1" x="2"><p:b> t <!-- c --></p:b></a>`))
	f.Add([]byte(`<a><b></c></a>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkParseTree(t, doc, false)
	})
}

// BenchmarkParseTree is the preflight's parse of the bench driver's
// Response: parseTree (one tokenization) and, for comparison, scanXML then
// etree's reader (two).
func BenchmarkParseTree(b *testing.B) {
	doc := benchDocument(b)
	for _, tc := range []struct {
		name  string
		parse func([]byte, int, bool) (*etree.Element, error)
	}{
		{"one-pass", parseTree},
		{"scan-then-etree", etreeParseTree},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.parse(doc, maxDecodedXML, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchDocument is a Response of the bench driver's shape (AWS recipient and
// audience, Role and RoleSessionName attributes, the assertion signed).
func benchDocument(b *testing.B) []byte {
	b.Helper()
	idp := samltest.NewIdP(b)
	return samltest.XML(b, idp.BuildResponse(b, samltest.ResponseSpec{
		Now:         time.Now().UTC(),
		Destination: awsspec.SAMLRecipient, Recipient: awsspec.SAMLRecipient,
		Audiences: []string{awsspec.SAMLAudience}, NameID: "alice",
		NameIDFormat: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		Sign:         samltest.SignAssertion,
		Attributes: []samltest.Attribute{
			{Name: awsspec.SAMLAttrRole, Values: []string{"arn:aws:iam::123456789012:role/Dev,arn:aws:iam::123456789012:saml-provider/Corp"}},
			{Name: awsspec.SAMLAttrRoleSessionName, Values: []string{"alice"}},
		},
	}))
}
