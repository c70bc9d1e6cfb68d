package broker

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	crewjam "github.com/crewjam/saml"
	"github.com/google/uuid"
)

// The broker's SAML IdP metadata: its entity ID and signing certificate,
// which the STS registers as SAML provider idbroker and anyone may fetch at
// GET /saml/idp/metadata.

// metadataValidity is how long rendered metadata says it is valid
// (validUntil), as crewjam's own IdP does (saml.DefaultValidDuration).
const metadataValidity = 48 * time.Hour

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
