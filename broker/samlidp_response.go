package broker

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// The broker's signed SAML Responses, which follow AWS's assertion
// requirements (STS-SPEC §5) and which AssumeRoleWithSAML redeems.

// SAML 2.0 names the broker's Responses use.
const (
	nsSAMLP         = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsSAML          = "urn:oasis:names:tc:SAML:2.0:assertion"
	nameIDUnspec    = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	attrFormatURI   = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	statusSuccess   = "urn:oasis:names:tc:SAML:2.0:status:Success"
	bearer          = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	acPassword      = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	acMFA           = "https://refeds.org/profile/mfa"
	samlTimeLayout  = "2006-01-02T15:04:05.000Z"
	samlIDPrefix    = "_idb"
	samlIDRandBytes = 20
)

// SAMLAssertionRequest is what the broker vouches for in one Response.
type SAMLAssertionRequest struct {
	// RoleARN is the granted role; it is paired with the IdP's provider ARN
	// in the Role attribute.
	RoleARN string
	// NameID names the subject; Subject(roleName, provider, username) puts
	// the role name first so a trust condition on SAML:sub binds an
	// assertion to one role.
	NameID            string
	SessionName       string
	SessionTags       map[string]string
	TransitiveTagKeys []string
	SourceIdentity    string
	// Duration becomes the SessionDuration attribute (0: omitted).
	Duration time.Duration
	// MFA selects the AuthnContextClassRef.
	MFA bool
	// AuthTime is the upstream authentication time (zero: now).
	AuthTime time.Time
	// SessionNotOnOrAfter ends the upstream session (zero: omitted).
	SessionNotOnOrAfter time.Time
	// SessionIndex is the AuthnStatement's SessionIndex: the broker session
	// the Response is issued from ("": omitted).
	SessionIndex string
}

// Sign returns the base64 of a signed SAML Response for req (what
// AssumeRoleWithSAML takes as SAMLAssertion). The Assertion and the
// Response are both signed (RSA-SHA256, exclusive C14N, SHA-256 digests).
func (i *SAMLIdP) Sign(req SAMLAssertionRequest) (string, error) {
	doc, err := i.Response(req)
	if err != nil {
		return "", err
	}
	raw, err := doc.WriteToBytes()
	if err != nil {
		return "", fmt.Errorf("saml idp: serialise: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// Response builds and signs the Response document for req.
func (i *SAMLIdP) Response(req SAMLAssertionRequest) (*etree.Document, error) {
	if req.RoleARN == "" || req.NameID == "" || req.SessionName == "" {
		return nil, errors.New("saml idp: role, NameID and session name are required")
	}
	now := i.now().UTC()
	until := now.Add(SAMLAssertionLifetime)
	respID, err := newSAMLID()
	if err != nil {
		return nil, err
	}
	assertionID, err := newSAMLID()
	if err != nil {
		return nil, err
	}
	authTime := req.AuthTime
	if authTime.IsZero() || authTime.After(now) {
		authTime = now
	}

	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", nsSAMLP)
	resp.CreateAttr("xmlns:saml", nsSAML)
	resp.CreateAttr("ID", respID)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", samlTime(now))
	resp.CreateAttr("Destination", i.recipient)
	resp.CreateElement("saml:Issuer").SetText(i.entityID)
	resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", statusSuccess)

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", nsSAML)
	a.CreateAttr("ID", assertionID)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", samlTime(now))
	a.CreateElement("saml:Issuer").SetText(i.entityID)
	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", nameIDUnspec)
	nid.SetText(req.NameID)
	scd := subj.CreateElement("saml:SubjectConfirmation")
	scd.CreateAttr("Method", bearer)
	data := scd.CreateElement("saml:SubjectConfirmationData")
	data.CreateAttr("NotOnOrAfter", samlTime(until))
	data.CreateAttr("Recipient", i.recipient)
	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", samlTime(now))
	cond.CreateAttr("NotOnOrAfter", samlTime(until))
	ar := cond.CreateElement("saml:AudienceRestriction")
	for _, au := range i.Audiences() {
		ar.CreateElement("saml:Audience").SetText(au)
	}
	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", samlTime(authTime))
	if req.SessionIndex != "" {
		as.CreateAttr("SessionIndex", req.SessionIndex)
	}
	if !req.SessionNotOnOrAfter.IsZero() {
		as.CreateAttr("SessionNotOnOrAfter", samlTime(req.SessionNotOnOrAfter.UTC()))
	}
	ac := acPassword
	if req.MFA {
		ac = acMFA
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(ac)

	st := a.CreateElement("saml:AttributeStatement")
	addAttr := func(name string, values ...string) {
		el := st.CreateElement("saml:Attribute")
		el.CreateAttr("Name", name)
		el.CreateAttr("NameFormat", attrFormatURI)
		for _, v := range values {
			el.CreateElement("saml:AttributeValue").SetText(v)
		}
	}
	addAttr(awsspec.SAMLAttrRole, req.RoleARN+","+i.providerARN)
	addAttr(awsspec.SAMLAttrRoleSessionName, req.SessionName)
	if req.Duration > 0 {
		addAttr(awsspec.SAMLAttrSessionDuration, strconv.Itoa(int(req.Duration/time.Second)))
	}
	keys := make([]string, 0, len(req.SessionTags))
	for k := range req.SessionTags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		addAttr(awsspec.SAMLAttrPrincipalTag+k, req.SessionTags[k])
	}
	if len(req.TransitiveTagKeys) > 0 {
		addAttr(awsspec.SAMLAttrTransitiveTagKeys, req.TransitiveTagKeys...)
	}
	if req.SourceIdentity != "" {
		addAttr(awsspec.SAMLAttrSourceIdentity, req.SourceIdentity)
	}

	signed, err := i.sign(a)
	if err != nil {
		return nil, err
	}
	resp.AddChild(signed)
	signedResp, err := i.sign(resp)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.SetRoot(signedResp)
	return doc, nil
}

// sign returns a copy of el with an enveloped signature placed right after
// its Issuer, as the SAML schema requires.
func (i *SAMLIdP) sign(el *etree.Element) (*etree.Element, error) {
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{
		Certificate: [][]byte{i.cert.Raw}, PrivateKey: i.key, Leaf: i.cert,
	}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, fmt.Errorf("saml idp: %w", err)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return nil, fmt.Errorf("saml idp: sign: %w", err)
	}
	out := el.Copy()
	pos := 0
	for idx, c := range out.Child {
		if e, ok := c.(*etree.Element); ok && e.Tag == "Issuer" {
			pos = idx + 1
			break
		}
	}
	out.InsertChildAt(pos, sig)
	return out, nil
}

func samlTime(t time.Time) string { return t.UTC().Format(samlTimeLayout) }

// newSAMLID returns a fresh xs:ID (it must not start with a digit).
func newSAMLID() (string, error) {
	b := make([]byte, samlIDRandBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("saml idp: id: %w", err)
	}
	return samlIDPrefix + hex.EncodeToString(b), nil
}
