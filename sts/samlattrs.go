package sts

import (
	"crypto/sha1" // #nosec G505 -- AWS defines NameQualifier as Base64(SHA1(...)); not a security use.
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/idbroker/idbroker/internal/awsspec"
)

const (
	nameIDFormat20 = "urn:oasis:names:tc:SAML:2.0:nameid-format:"
	nameIDUnspec   = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
)

// NameQualifier computes AWS's NameQualifier (STS-SPEC §5.6):
// Base64(SHA1(issuer + account + "/" + providerName)).
func NameQualifier(issuer, account, providerName string) string {
	sum := sha1.Sum([]byte(issuer + account + "/" + providerName)) // #nosec G401 -- AWS-defined identifier, not a MAC.
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SubjectType is the NameID Format as AWS reports it: the SAML 2.0
// nameid-format prefix stripped, any other URI unchanged.
func SubjectType(format string) string {
	if format == "" {
		format = nameIDUnspec
	}
	return strings.TrimPrefix(format, nameIDFormat20)
}

// samlAttrs are the AWS attributes of an assertion (STS-SPEC §5.2).
type samlAttrs struct {
	roles          []string
	sessionName    string
	hasSessionName bool
	duration       *int64
	tags           sessionTags
	sourceIdentity string
	byName         map[string][]string
}

// readSAMLAttrs extracts and validates the AWS attributes (STS-SPEC §5.2).
// AWS attribute names are exact; an AWS attribute given twice is refused.
func readSAMLAttrs(list []SAMLAttribute) (*samlAttrs, error) {
	out := &samlAttrs{byName: map[string][]string{}}
	seen := map[string]bool{}
	var transitive []string
	for _, at := range list {
		if strings.HasPrefix(at.Name, awsspec.SAMLAttributePrefix) {
			if seen[at.Name] {
				return nil, errInvalidIdentityToken("Invalid SAML response: attribute " + at.Name + " is given more than once")
			}
			seen[at.Name] = true
		}
		out.byName[at.Name] = append(out.byName[at.Name], at.Values...)
		if at.FriendlyName != "" && at.FriendlyName != at.Name {
			out.byName[at.FriendlyName] = append(out.byName[at.FriendlyName], at.Values...)
		}
		switch {
		case at.Name == awsspec.SAMLAttrRole:
			out.roles = append(out.roles, at.Values...)
		case at.Name == awsspec.SAMLAttrRoleSessionName:
			if len(at.Values) != 1 || !validName(at.Values[0]) {
				return nil, errInvalidIdentityToken("RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}")
			}
			out.sessionName, out.hasSessionName = at.Values[0], true
		case at.Name == awsspec.SAMLAttrSessionDuration:
			msg := "SessionDuration in AuthnResponse must be an integer between " +
				strconv.FormatInt(awsspec.MinDurationSeconds, 10) + " and " + strconv.FormatInt(awsspec.MaxDurationSeconds, 10)
			if len(at.Values) != 1 || !integerPattern.MatchString(at.Values[0]) {
				return nil, errValidation(msg)
			}
			n, err := strconv.ParseInt(at.Values[0], 10, 64)
			if err != nil || !awsspec.ValidDurationSeconds(n) {
				return nil, errValidation(msg)
			}
			out.duration = &n
		case strings.HasPrefix(at.Name, awsspec.SAMLAttrPrincipalTag):
			key := strings.TrimPrefix(at.Name, awsspec.SAMLAttrPrincipalTag)
			if len(at.Values) != 1 {
				return nil, errInvalidIdentityToken("PrincipalTag attribute " + key + " must have exactly one value")
			}
			if err := checkFederatedTag(key, at.Values[0]); err != nil {
				return nil, errInvalidIdentityToken("Invalid session tag in AuthnResponse: " + err.Error())
			}
			switch err := out.tags.add(key, at.Values[0]); {
			case errors.Is(err, errTagReserved):
				return nil, errInvalidIdentityToken("Invalid session tag in AuthnResponse: invalid tag key " + strconv.Quote(key))
			case err != nil:
				return nil, errInvalidIdentityToken("Duplicate session tag key " + key + " in AuthnResponse (keys are case-insensitive)")
			}
		case at.Name == awsspec.SAMLAttrTransitiveTagKeys:
			transitive = append(transitive, at.Values...)
		case at.Name == awsspec.SAMLAttrSourceIdentity:
			if len(at.Values) != 1 || checkSourceIdentity(at.Values[0]) != nil {
				return nil, errInvalidIdentityToken("Source Identity must match [a-zA-Z_0-9+=,.@-]{2,64} and not begin with \"aws:\"")
			}
			out.sourceIdentity = at.Values[0]
		}
	}
	if len(out.tags.tags) > awsspec.MaxSessionTags {
		return nil, errInvalidIdentityToken("The number of session tags in AuthnResponse exceeds 50")
	}
	if len(transitive) > awsspec.MaxSessionTags {
		return nil, errInvalidIdentityToken("The number of transitive tag keys in AuthnResponse exceeds 50")
	}
	for _, k := range transitive {
		if out.tags.addTransitive(k) != nil {
			return nil, errInvalidIdentityToken("Transitive tag key " + k + " is not a session tag in AuthnResponse")
		}
	}
	return out, nil
}

// samlRolePaired reports whether some Role value is the pair (roleARN,
// providerARN) in either order. Matching is exact: no trimming, no case folding.
func samlRolePaired(values []string, roleARN, providerARN string) bool {
	for _, v := range values {
		a, b, ok := strings.Cut(v, ",")
		if !ok || strings.Contains(b, ",") {
			continue
		}
		if (a == roleARN && b == providerARN) || (a == providerARN && b == roleARN) {
			return true
		}
	}
	return false
}

// samlKeyByAttr maps attribute names (OIDs, claim URIs) to the saml: context
// keys AWS fills from them (STS-SPEC §5.5). Only one claim per key is mapped.
var samlKeyByAttr = map[string]string{
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.1":                                        "saml:edupersonaffiliation",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.2":                                        "saml:edupersonnickname",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.3":                                        "saml:edupersonorgdn",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.4":                                        "saml:edupersonorgunitdn",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.5":                                        "saml:edupersonprimaryaffiliation",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.6":                                        "saml:edupersonprincipalname",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.7":                                        "saml:edupersonentitlement",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.8":                                        "saml:edupersonprimaryorgunitdn",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.9":                                        "saml:edupersonscopedaffiliation",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.10":                                       "saml:edupersontargetedid",
	"urn:oid:1.3.6.1.4.1.5923.1.1.1.11":                                       "saml:edupersonassurance",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.2":                                        "saml:eduorghomepageuri",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.3":                                        "saml:eduorgidentityauthnpolicyuri",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.4":                                        "saml:eduorglegalname",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.5":                                        "saml:eduorgsuperioruri",
	"urn:oid:1.3.6.1.4.1.5923.1.2.1.6":                                        "saml:eduorgwhitepagesuri",
	"urn:oid:2.5.4.3":                                                         "saml:cn",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":              "saml:name",
	"http://schemas.xmlsoap.org/claims/CommonName":                            "saml:commonName",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname":         "saml:givenName",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname":           "saml:surname",
	"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress":      "saml:mail",
	"http://schemas.microsoft.com/ws/2008/06/identity/claims/primarygroupsid": "saml:uid",
	"urn:oid:2.5.4.4":                                                         "saml:surname",
	"urn:oid:2.5.4.42":                                                        "saml:givenName",
	"urn:oid:2.5.4.45":                                                        "saml:x500UniqueIdentifier",
	"urn:oid:0.9.2342.19200300.100.1.1":                                       "saml:uid",
	"urn:oid:0.9.2342.19200300.100.1.3":                                       "saml:mail",
	"urn:oid:0.9.2342.19200300.100.1.45":                                      "saml:organizationStatus",
}

// samlContextAttrs returns the saml: context keys filled from attributes.
func samlContextAttrs(byName map[string][]string) map[string][]string {
	out := map[string][]string{}
	for name, key := range samlKeyByAttr {
		if vals, ok := byName[name]; ok && len(vals) > 0 {
			if _, dup := out[key]; !dup {
				out[key] = vals
			}
		}
	}
	return out
}
