package saml

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/idbroker/idbroker/providers/saml/samltest"
)

// fuzzSeeds are the documents the package's tests use: Responses built by
// samltest in every signing and encryption layout, with the wrapping and
// parser-differential mutations of THREATS.md §1, and crewjam's own XSW
// and real-world captures.
func fuzzSeeds(f testing.TB) [][]byte {
	f.Helper()
	var seeds [][]byte
	idp := samltest.NewIdP(f)
	_, spCert := samltest.NewKeyPair(f, "fuzz sp")
	build := func(mod func(*samltest.ResponseSpec), mutate func(*etree.Document)) {
		s := samltest.ResponseSpec{
			Destination: "https://sp.example/acs", Recipient: "https://sp.example/acs", InResponseTo: "REQ1",
			Audiences: []string{"https://sp.example/metadata"}, NameID: "alice@corp.example",
			Attributes: []samltest.Attribute{{Name: "groups", Values: []string{"dev"}}},
		}
		if mod != nil {
			mod(&s)
		}
		doc := idp.BuildResponse(f, s)
		if mutate != nil {
			mutate(doc)
		}
		seeds = append(seeds, samltest.XML(f, doc))
	}
	for _, sign := range []samltest.Signing{samltest.SignAssertion, samltest.SignResponse, samltest.SignBoth, samltest.SignNone} {
		build(func(s *samltest.ResponseSpec) { s.Sign = sign }, nil)
		build(func(s *samltest.ResponseSpec) { s.Sign, s.EncryptTo = sign, spCert }, nil)
	}
	assertion := func(d *etree.Document) *etree.Element { return d.Root().SelectElement("Assertion") }
	for _, mutate := range []func(*etree.Document){
		func(d *etree.Document) { // XSW3: an unsigned copy before the signed assertion
			c := assertion(d).Copy()
			c.SelectAttr("ID").Value = "_evil"
			d.Root().InsertChildAt(assertion(d).Index(), c)
		},
		func(d *etree.Document) { // XSW4: the signed assertion inside an evil one
			orig := assertion(d)
			c := orig.Copy()
			c.SelectAttr("ID").Value = "_evil"
			d.Root().RemoveChild(orig)
			c.AddChild(orig)
			d.Root().AddChild(c)
		},
		func(d *etree.Document) { // XSW7: a copy in Extensions
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(assertion(d).Copy())
			d.Root().InsertChildAt(assertion(d).Index(), ext)
		},
		func(d *etree.Document) { // duplicate NameID
			subj := assertion(d).SelectElement("Subject")
			subj.AddChild(subj.SelectElement("NameID").Copy())
		},
		func(d *etree.Document) { // signature moved into Subject
			a := assertion(d)
			s := a.SelectElement("Signature")
			a.RemoveChild(s)
			a.SelectElement("Subject").AddChild(s)
		},
		func(d *etree.Document) { // two References
			si := assertion(d).FindElement("./Signature/SignedInfo")
			si.AddChild(si.SelectElement("Reference").Copy())
		},
	} {
		build(nil, mutate)
	}
	dir := crewjamModuleDir(f)
	for _, glob := range []string{"testdata/TestXswPermutation*", "testdata/TestSP*_response", "xmlenc/crashers/*"} {
		files, _ := filepath.Glob(filepath.Join(dir, glob))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil || len(b) == 0 {
				continue
			}
			if b[0] != '<' {
				if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err == nil {
					b = dec
				}
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// crewjamModuleDir is crewjam/saml's directory in the module cache.
func crewjamModuleDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Dir(crewjamTestdata(tb))
}

// FuzzPreflight feeds documents to the preflight and the assertion's shape
// check (everything before crewjam; no cryptography). They must never
// panic, refuse only with an *Error, and accept only a document that a
// second parser (encoding/xml, which crewjam reads with) also sees as one
// samlp:Response holding exactly one Assertion or EncryptedAssertion, as its
// direct child, with Signatures only directly under the Response or that
// Assertion, one each, each referencing its parent's ID, and no ID value
// twice. The accepted recipients, audiences and issuer are taken from the
// document itself, so that the fuzzer reaches past the envelope.
func FuzzPreflight(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	k, _ := samltest.NewKeyPair(f, "fuzz decryption")
	f.Fuzz(func(t *testing.T, doc []byte) {
		hint := fuzzHints(doc)
		v := &verifier{
			recipients: []string{hint.destination, hint.recipient}, audiences: []string{hint.audience},
			decryptKey: k, allowSHA1: true,
			skew: 100 * 365 * 24 * time.Hour, maxAge: time.Hour,
		}
		now := time.Now()
		d, err := v.preflight(doc, hint.issuer, now)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("refusal is not an *Error: %v", err)
			}
			return
		}
		checkOneAssertion(t, doc, d)
		if d.assertion == nil {
			return
		}
		if _, err := shapeAssertion(d.assertion, hint.issuer); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("shape refusal is not an *Error: %v", err)
			}
		}
	})
}

type hints struct{ issuer, destination, recipient, audience string }

// fuzzHints reads, leniently, the values a document names for itself.
func fuzzHints(doc []byte) hints {
	var h hints
	d := etree.NewDocument()
	if d.ReadFromBytes(doc) != nil || d.Root() == nil {
		return h
	}
	r := d.Root()
	h.destination = r.SelectAttrValue("Destination", "")
	if iss := r.SelectElement("Issuer"); iss != nil {
		h.issuer = strings.TrimSpace(iss.Text())
	}
	if a := r.SelectElement("Assertion"); a != nil {
		if iss := a.SelectElement("Issuer"); iss != nil {
			h.issuer = strings.TrimSpace(iss.Text())
		}
		if scd := a.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData"); scd != nil {
			h.recipient = scd.SelectAttrValue("Recipient", "")
		}
		if au := a.FindElement("./Conditions/AudienceRestriction/Audience"); au != nil {
			h.audience = strings.TrimSpace(au.Text())
		}
	}
	return h
}

// checkOneAssertion re-reads an accepted document with encoding/xml and
// checks the shape the preflight promises.
func checkOneAssertion(t *testing.T, doc []byte, d *document) {
	t.Helper()
	if (d.assertion == nil) == (d.encrypted == nil) {
		t.Fatalf("accepted with assertion %v and encrypted %v", d.assertion != nil, d.encrypted != nil)
	}
	type open struct {
		name xml.Name
		id   string
	}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var stack []open
	assertions, sigs := 0, 0
	ids := map[string]bool{}
	var sigParent string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("accepted, but encoding/xml cannot read it: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			id := ""
			for _, a := range el.Attr {
				if a.Name.Space == "" && strings.EqualFold(a.Name.Local, "id") {
					if ids[a.Value] {
						t.Fatalf("accepted with the ID %q twice", a.Value)
					}
					ids[a.Value] = true
				}
				if a.Name.Space == "" && a.Name.Local == "ID" {
					id = a.Value
				}
			}
			switch {
			case len(stack) == 0:
				if el.Name.Space != nsProtocol || el.Name.Local != "Response" {
					t.Fatalf("accepted a root %v", el.Name)
				}
			case el.Name.Local == "Assertion" || el.Name.Local == "EncryptedAssertion":
				assertions++
				if len(stack) != 1 || el.Name.Space != nsAssertion {
					t.Fatalf("accepted an assertion %v at depth %d", el.Name, len(stack))
				}
			case el.Name.Local == "Signature":
				sigs++
				parent := stack[len(stack)-1]
				if el.Name.Space != nsDSig || len(stack) > 2 || (len(stack) == 2 && parent.name.Local != "Assertion") {
					t.Fatalf("accepted a signature %v under %v", el.Name, parent.name)
				}
				sigParent = parent.id
			case el.Name.Space == nsDSig && el.Name.Local == "Reference" && stack[len(stack)-1].name.Local == "SignedInfo":
				for _, a := range el.Attr {
					if a.Name.Local == "URI" && a.Value != "#"+sigParent {
						t.Fatalf("accepted a Reference to %q in a signature over %q", a.Value, sigParent)
					}
				}
			}
			stack = append(stack, open{name: el.Name, id: id})
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if assertions != 1 {
		t.Fatalf("accepted with %d assertions", assertions)
	}
	if sigs > 2 {
		t.Fatalf("accepted with %d signatures", sigs)
	}
}
