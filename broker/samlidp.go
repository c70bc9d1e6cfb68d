package broker

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	crewjam "github.com/crewjam/saml"
	"github.com/google/uuid"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/providers"
	"github.com/idbroker/idbroker/sts"
)

// The broker as a SAML identity provider towards its own STS: for a SAML
// login it vouches for the chosen role the way ADFS vouches to AWS, with a
// signed SAML Response that follows AWS's assertion requirements, and
// redeems it with AssumeRoleWithSAML in process.

// SAMLIdPProviderName is the name the broker's SAML provider has in the STS
// (arn:<partition>:iam::<account>:saml-provider/idbroker).
const SAMLIdPProviderName = "idbroker"

// SAMLAssertionLifetime bounds the broker's assertions (AWS: redeem within 5 minutes).
const SAMLAssertionLifetime = 5 * time.Minute

// AWS SAML attribute names (STS-SPEC §5.2).
const (
	awsAttrPrefix         = "https://aws.amazon.com/SAML/Attributes/"
	awsAttrRole           = awsAttrPrefix + "Role"
	awsAttrSessionName    = awsAttrPrefix + "RoleSessionName"
	awsAttrDuration       = awsAttrPrefix + "SessionDuration"
	awsAttrTag            = awsAttrPrefix + "PrincipalTag:"
	awsAttrTransitiveTags = awsAttrPrefix + "TransitiveTagKeys"
	awsAttrSourceIdentity = awsAttrPrefix + "SourceIdentity"
	// awsAudience is AWS's service-provider entity ID.
	awsAudience = "urn:amazon:webservices"

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

// SAMLIdPConfig configures the broker's IdP side.
type SAMLIdPConfig struct {
	// PublicURL is the broker's public URL: the entity ID is
	// <PublicURL>/saml/idp/metadata and the Recipient <PublicURL>/saml.
	PublicURL string
	// ProviderARN is the STS's ARN for this IdP (saml-provider/idbroker).
	ProviderARN string
	// Key and Certificate sign the Responses (RSA-SHA256, exclusive C14N).
	Key         *rsa.PrivateKey
	Certificate *x509.Certificate
	// Now defaults to time.Now.
	Now func() time.Time
}

// SAMLIdP signs the broker's SAML Responses and serves its IdP metadata.
type SAMLIdP struct {
	entityID, recipient, providerARN string
	key                              *rsa.PrivateKey
	cert                             *x509.Certificate
	now                              func() time.Time
	// descriptor is the IdP metadata without its validUntil, which
	// metadataAt sets on every rendering.
	descriptor crewjam.EntityDescriptor
}

// metadataValidity is how long rendered metadata says it is valid
// (validUntil), as crewjam's own IdP does (saml.DefaultValidDuration).
const metadataValidity = 48 * time.Hour

// NewSAMLIdP builds the broker's IdP.
func NewSAMLIdP(cfg SAMLIdPConfig) (*SAMLIdP, error) {
	if cfg.Key == nil || cfg.Certificate == nil {
		return nil, errors.New("saml idp: a key and certificate are required")
	}
	if pub, ok := cfg.Certificate.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&cfg.Key.PublicKey) {
		return nil, errors.New("saml idp: the certificate does not certify the key")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("saml idp: public URL must be an absolute http(s) URL")
	}
	if !strings.HasPrefix(cfg.ProviderARN, "arn:") || !strings.Contains(cfg.ProviderARN, ":saml-provider/") {
		return nil, errors.New("saml idp: provider ARN must be arn:<partition>:iam::<account>:saml-provider/<name>")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	i := &SAMLIdP{
		entityID: base + "/saml/idp/metadata", recipient: base + "/saml", providerARN: cfg.ProviderARN,
		key: cfg.Key, cert: cfg.Certificate, now: cfg.Now,
	}
	i.descriptor = i.buildDescriptor(base)
	if _, err := i.metadataAt(i.now()); err != nil {
		return nil, err
	}
	return i, nil
}

// EntityID is the IdP entity ID (the Issuer of every Response).
func (i *SAMLIdP) EntityID() string { return i.entityID }

// Recipient is SubjectConfirmationData/@Recipient and Response/@Destination
// of every Response: the broker's STS SAML endpoint (<public_url>/saml).
// The STS reports it as Audience and as the saml:aud condition key.
func (i *SAMLIdP) Recipient() string { return i.recipient }

// Audiences are the AudienceRestriction values: AWS's SP entity ID and the
// broker's STS endpoint.
func (i *SAMLIdP) Audiences() []string { return []string{awsAudience, i.recipient} }

// ProviderARN is the STS's ARN for the broker's SAML provider.
func (i *SAMLIdP) ProviderARN() string { return i.providerARN }

// Metadata is the IdP metadata (entity ID, signing certificate), which the
// STS registers as SAML provider idbroker, valid for 48 hours from now.
// NewSAMLIdP rendered it once, so it does not fail; nil if it ever did.
func (i *SAMLIdP) Metadata() []byte {
	md, err := i.metadataAt(i.now())
	if err != nil {
		return nil
	}
	return md
}

// metadataAt renders the metadata with validUntil now + 48 hours. The
// descriptor's ValidUntil is a time.Time, which omitempty does not drop
// when zero: left unset, the metadata would say it expired in year 1.
func (i *SAMLIdP) metadataAt(now time.Time) ([]byte, error) {
	ed := i.descriptor
	ed.ValidUntil = now.Add(metadataValidity).UTC()
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml idp metadata: %w", err)
	}
	return out, nil
}

func (i *SAMLIdP) buildDescriptor(base string) crewjam.EntityDescriptor {
	certB64 := base64.StdEncoding.EncodeToString(i.cert.Raw)
	ed := crewjam.EntityDescriptor{
		EntityID: i.entityID,
		IDPSSODescriptors: []crewjam.IDPSSODescriptor{{
			SSODescriptor: crewjam.SSODescriptor{
				RoleDescriptor: crewjam.RoleDescriptor{
					ProtocolSupportEnumeration: nsSAMLP,
					KeyDescriptors: []crewjam.KeyDescriptor{{
						Use: "signing",
						KeyInfo: crewjam.KeyInfo{X509Data: crewjam.X509Data{
							X509Certificates: []crewjam.X509Certificate{{Data: certB64}},
						}},
					}},
				},
				NameIDFormats: []crewjam.NameIDFormat{nameIDUnspec},
			},
			WantAuthnRequestsSigned: new(bool),
			// The broker answers no AuthnRequests: every Response is
			// unsolicited, made after a sign-in on its own pages, which
			// start here.
			SingleSignOnServices: []crewjam.Endpoint{{Binding: crewjam.HTTPRedirectBinding, Location: base + "/"}},
		}},
	}
	return ed
}

func (s *Server) serveSAMLIdPMetadata(w http.ResponseWriter, r *http.Request) {
	if s.cfg.SAMLIdP == nil {
		http.NotFound(w, r)
		return
	}
	md, err := s.cfg.SAMLIdP.metadataAt(s.cfg.SAMLIdP.now())
	if err != nil {
		rid := uuid.NewString()
		s.log.ErrorContext(r.Context(), "saml idp metadata not rendered", slog.String("request_id", rid), slog.Any("err", err))
		writeAPIError(w, http.StatusInternalServerError, "InternalError", "the metadata could not be rendered (broker request id "+rid+")")
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(md)
}

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
	as.CreateAttr("SessionIndex", assertionID)
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
	addAttr(awsAttrRole, req.RoleARN+","+i.providerARN)
	addAttr(awsAttrSessionName, req.SessionName)
	if req.Duration > 0 {
		addAttr(awsAttrDuration, strconv.Itoa(int(req.Duration/time.Second)))
	}
	keys := make([]string, 0, len(req.SessionTags))
	for k := range req.SessionTags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		addAttr(awsAttrTag+k, req.SessionTags[k])
	}
	if len(req.TransitiveTagKeys) > 0 {
		addAttr(awsAttrTransitiveTags, req.TransitiveTagKeys...)
	}
	if req.SourceIdentity != "" {
		addAttr(awsAttrSourceIdentity, req.SourceIdentity)
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

// SAMLRedeemer redeems a broker-signed SAML Response at the STS with
// AssumeRoleWithSAML, in process, and returns the credentials and the
// assumed-role ARN. cmd/idbroker adapts sts.Service.AssumeRoleWithSAML.
type SAMLRedeemer func(ctx context.Context, roleARN, principalARN, samlResponse string, duration time.Duration) (sts.Credentials, string, error)

// issueBrowser issues one grant for a browser sign-in: SAML logins go
// through the broker's own SAML IdP and AssumeRoleWithSAML when both are
// configured, every other login through issue (a JWT and
// AssumeRoleWithWebIdentity).
func (s *Server) issueBrowser(ctx context.Context, id providers.Identity, g mapping.Grant) (*issued, error) {
	if s.cfg.SAMLIdP == nil || s.cfg.SAMLRedeem == nil || !s.isSAMLIdentity(id) {
		return s.issue(ctx, id, g, 0)
	}
	return s.issueSAML(ctx, id, g, 0)
}

// issueSAML signs a SAML Response for the grant and redeems it at the STS.
func (s *Server) issueSAML(ctx context.Context, id providers.Identity, g mapping.Grant, requested time.Duration) (*issued, error) {
	d, note, err := s.effectiveDuration(id, g, requested)
	if err != nil {
		return nil, err
	}
	roleName := roleNameFromARN(g.RoleARN)
	b64, err := s.cfg.SAMLIdP.Sign(SAMLAssertionRequest{
		RoleARN:             g.RoleARN,
		NameID:              Subject(roleName, id.Provider, id.Username),
		SessionName:         g.SessionName,
		SessionTags:         g.SessionTags,
		TransitiveTagKeys:   g.TransitiveTagKeys,
		SourceIdentity:      g.SourceIdentity,
		Duration:            d,
		MFA:                 id.MFA,
		AuthTime:            id.AuthTime,
		SessionNotOnOrAfter: id.Expiry,
	})
	if err != nil {
		return nil, err
	}
	creds, assumed, err := s.cfg.SAMLRedeem(ctx, g.RoleARN, s.cfg.SAMLIdP.ProviderARN(), b64, d)
	if err != nil {
		s.audit(ctx, "issue.refused", id, slog.String("role", g.RoleARN), slog.String("rule", g.Rule), slog.Int("rule_index", g.RuleIndex), slog.String("via", "saml"), slog.Any("reason", err))
		return nil, err
	}
	s.audit(ctx, "issue", id,
		slog.String("role", g.RoleARN), slog.String("rule", g.Rule), slog.Int("rule_index", g.RuleIndex), slog.String("via", "saml"),
		slog.String("access_key_id", creds.AccessKeyID), slog.Duration("duration", d))
	return &issued{
		Grant:          g,
		RoleARN:        g.RoleARN,
		AssumedRoleARN: assumed,
		Creds:          creds,
		Duration:       d,
		DurationNote:   note,
	}, nil
}
