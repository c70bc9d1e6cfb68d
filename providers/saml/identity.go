package saml

import (
	"strings"

	crewjam "github.com/crewjam/saml"

	"github.com/idbroker/idbroker/providers"
)

// AttrNameIDFormat is the Identity.Attributes key holding the Format of the
// assertion's NameID (absent when the NameID has no Format).
const AttrNameIDFormat = "saml:nameid_format"

// identity maps a verified assertion to providers.Identity.
func (p *Provider) identity(a *Assertion) providers.Identity {
	attrs := map[string][]string{}
	for _, at := range a.Attributes {
		attrs[at.Name] = append(attrs[at.Name], at.Values...)
		if at.FriendlyName != "" && at.FriendlyName != at.Name {
			attrs[at.FriendlyName] = append(attrs[at.FriendlyName], at.Values...)
		}
	}
	first := func(name string) string {
		if name == "" {
			return ""
		}
		for _, v := range lookup(a, name) {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
		return ""
	}
	// The NameID Format rides in Attributes under a reserved key (Identity
	// has no field for it); it always reflects the NameID, never an IdP
	// attribute that happens to carry the same name.
	delete(attrs, AttrNameIDFormat)
	if a.NameIDFormat != "" {
		attrs[AttrNameIDFormat] = []string{a.NameIDFormat}
	}
	id := providers.Identity{
		Provider:   p.name,
		Subject:    a.Issuer + "!" + a.NameID,
		Username:   a.NameID,
		Attributes: attrs,
		AuthTime:   a.AuthnInstant,
		Expiry:     a.SessionNotOnOrAfter,
	}
	if u := first(p.cfg.UsernameAttribute); u != "" {
		id.Username = u
	}
	id.Email = first(p.cfg.EmailAttribute)
	if id.Email == "" && p.cfg.EmailAttribute == "" && a.NameIDFormat == string(crewjam.EmailAddressNameIDFormat) {
		id.Email = a.NameID
	}
	// The IdP vouches for the attribute inside a signed assertion (as dex does).
	id.EmailVerified = id.Email != ""
	id.DisplayName = first(p.cfg.NameAttribute)
	if p.cfg.GroupsAttribute != "" {
		for _, v := range lookup(a, p.cfg.GroupsAttribute) {
			parts := []string{v}
			if p.cfg.GroupsDelimiter != "" {
				parts = strings.Split(v, p.cfg.GroupsDelimiter)
			}
			for _, g := range parts {
				if g = strings.TrimSpace(g); g != "" {
					id.Groups = append(id.Groups, g)
				}
			}
		}
	}
	for _, ref := range a.AuthnContextClassRefs {
		if isMFA(ref) {
			id.MFA = true
		}
	}
	// When the multi-factor authentication happened: its own statement's
	// AuthnInstant, which a later single-factor statement does not move.
	id.MFATime = a.MFAInstant
	return id
}

// lookup returns the values of the attribute whose Name or FriendlyName is name.
func lookup(a *Assertion, name string) []string {
	var out []string
	for _, at := range a.Attributes {
		if at.Name == name || (at.FriendlyName != "" && at.FriendlyName == name) {
			out = append(out, at.Values...)
		}
	}
	return out
}

// isMFA recognises AuthnContextClassRefs that state multi-factor
// authentication (REFEDS MFA, Azure "multipleauthn", vendor "MFA"/"multifactor").
func isMFA(ref string) bool {
	r := strings.ToLower(ref)
	for _, s := range []string{"mfa", "multifactor", "multi-factor", "multipleauthn"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}
