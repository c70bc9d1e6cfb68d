package sts

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendResultXML renders the hot results (AssumeRoleWithWebIdentity,
// AssumeRoleWithSAML, GetCallerIdentity) from a byte template instead of
// encoding/xml's reflection. It produces exactly the bytes writeResult's
// encoding/xml path produces (TestResultTemplateMatchesEncodingXML,
// FuzzResultTemplate) and reports false for any other result type.
func appendResultXML(dst []byte, op string, result any, reqID string) ([]byte, bool) {
	var ok bool
	switch r := result.(type) {
	case *AssumeRoleWithWebIdentityOutput:
		if r == nil || op != actionWebIdentity {
			return dst, false
		}
		dst = append(dst, `<AssumeRoleWithWebIdentityResponse xmlns="`+xmlNamespace+`"><AssumeRoleWithWebIdentityResult>`...)
		if dst, ok = appendCredentialsXML(dst, r.Credentials); !ok {
			return dst, false
		}
		dst = append(dst, `<SubjectFromWebIdentityToken>`...)
		dst = appendEscaped(dst, r.SubjectFromWebIdentityToken)
		dst = append(dst, `</SubjectFromWebIdentityToken>`...)
		dst = appendAssumedRoleUserXML(dst, r.AssumedRoleUser, r.PackedPolicySize)
		dst = append(dst, `<Provider>`...)
		dst = appendEscaped(dst, r.Provider)
		dst = append(dst, `</Provider><Audience>`...)
		dst = appendEscaped(dst, r.Audience)
		dst = append(dst, `</Audience>`...)
		dst = appendSourceIdentityXML(dst, r.SourceIdentity)
		dst = append(dst, `</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>`...)
		dst = appendEscaped(dst, reqID)
		return append(dst, `</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`...), true
	case *AssumeRoleWithSAMLOutput:
		if r == nil || op != actionSAML {
			return dst, false
		}
		dst = append(dst, `<AssumeRoleWithSAMLResponse xmlns="`+xmlNamespace+`"><AssumeRoleWithSAMLResult>`...)
		if dst, ok = appendCredentialsXML(dst, r.Credentials); !ok {
			return dst, false
		}
		dst = appendAssumedRoleUserXML(dst, r.AssumedRoleUser, r.PackedPolicySize)
		dst = append(dst, `<Subject>`...)
		dst = appendEscaped(dst, r.Subject)
		dst = append(dst, `</Subject><SubjectType>`...)
		dst = appendEscaped(dst, r.SubjectType)
		dst = append(dst, `</SubjectType><Issuer>`...)
		dst = appendEscaped(dst, r.Issuer)
		dst = append(dst, `</Issuer><Audience>`...)
		dst = appendEscaped(dst, r.Audience)
		dst = append(dst, `</Audience><NameQualifier>`...)
		dst = appendEscaped(dst, r.NameQualifier)
		dst = append(dst, `</NameQualifier>`...)
		dst = appendSourceIdentityXML(dst, r.SourceIdentity)
		dst = append(dst, `</AssumeRoleWithSAMLResult><ResponseMetadata><RequestId>`...)
		dst = appendEscaped(dst, reqID)
		return append(dst, `</RequestId></ResponseMetadata></AssumeRoleWithSAMLResponse>`...), true
	case *GetCallerIdentityOutput:
		if r == nil || op != "GetCallerIdentity" {
			return dst, false
		}
		dst = append(dst, `<GetCallerIdentityResponse xmlns="`+xmlNamespace+`"><GetCallerIdentityResult><Arn>`...)
		dst = appendEscaped(dst, r.Arn)
		dst = append(dst, `</Arn><UserId>`...)
		dst = appendEscaped(dst, r.UserID)
		dst = append(dst, `</UserId><Account>`...)
		dst = appendEscaped(dst, r.Account)
		dst = append(dst, `</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>`...)
		dst = appendEscaped(dst, reqID)
		return append(dst, `</RequestId></ResponseMetadata></GetCallerIdentityResponse>`...), true
	}
	return dst, false
}

// appendCredentialsXML renders a Credentials element; false when the
// expiration is one encoding/xml cannot write either (appendTimeXML).
func appendCredentialsXML(dst []byte, c Credentials) ([]byte, bool) {
	dst = append(dst, `<Credentials><AccessKeyId>`...)
	dst = appendEscaped(dst, c.AccessKeyID)
	dst = append(dst, `</AccessKeyId><SecretAccessKey>`...)
	dst = appendEscaped(dst, c.SecretAccessKey)
	dst = append(dst, `</SecretAccessKey><SessionToken>`...)
	dst = appendEscaped(dst, c.SessionToken)
	dst = append(dst, `</SessionToken><Expiration>`...)
	var ok bool
	if dst, ok = appendTimeXML(dst, c.Expiration); !ok {
		return dst, false
	}
	return append(dst, `</Expiration></Credentials>`...), true
}

// appendAssumedRoleUserXML renders an AssumedRoleUser element and the
// PackedPolicySize that follows it in both session results.
func appendAssumedRoleUserXML(dst []byte, u AssumedRoleUser, packed *int) []byte {
	dst = append(dst, `<AssumedRoleUser><AssumedRoleId>`...)
	dst = appendEscaped(dst, u.AssumedRoleID)
	dst = append(dst, `</AssumedRoleId><Arn>`...)
	dst = appendEscaped(dst, u.Arn)
	dst = append(dst, `</Arn></AssumedRoleUser>`...)
	if packed != nil {
		dst = append(dst, `<PackedPolicySize>`...)
		dst = strconv.AppendInt(dst, int64(*packed), 10)
		dst = append(dst, `</PackedPolicySize>`...)
	}
	return dst
}

// appendSourceIdentityXML renders the optional SourceIdentity element.
func appendSourceIdentityXML(dst []byte, si string) []byte {
	if si == "" {
		return dst
	}
	dst = append(dst, `<SourceIdentity>`...)
	dst = appendEscaped(dst, si)
	return append(dst, `</SourceIdentity>`...)
}

// resultSizeHint is the buffer size that holds a templated result without
// growing when no field needs escaping.
func resultSizeHint(result any) int {
	const fixed = 768 // tags, namespace, request id, time
	switch r := result.(type) {
	case *AssumeRoleWithWebIdentityOutput:
		if r != nil {
			return fixed + len(r.Credentials.AccessKeyID) + len(r.Credentials.SecretAccessKey) + len(r.Credentials.SessionToken) +
				len(r.SubjectFromWebIdentityToken) + len(r.AssumedRoleUser.AssumedRoleID) + len(r.AssumedRoleUser.Arn) +
				len(r.Provider) + len(r.Audience) + len(r.SourceIdentity)
		}
	case *AssumeRoleWithSAMLOutput:
		if r != nil {
			return fixed + len(r.Credentials.AccessKeyID) + len(r.Credentials.SecretAccessKey) + len(r.Credentials.SessionToken) +
				len(r.AssumedRoleUser.AssumedRoleID) + len(r.AssumedRoleUser.Arn) + len(r.Subject) + len(r.SubjectType) +
				len(r.Issuer) + len(r.Audience) + len(r.NameQualifier) + len(r.SourceIdentity)
		}
	case *GetCallerIdentityOutput:
		if r != nil {
			return fixed + len(r.Arn) + len(r.UserID) + len(r.Account)
		}
	}
	return fixed
}

// appendTimeXML renders t as encoding/xml does (time.Time's MarshalText:
// RFC 3339 with nanoseconds). Years outside [0,9999] make MarshalText
// fail; those are left to encoding/xml (ok = false).
func appendTimeXML(dst []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return dst, false
	}
	return t.AppendFormat(dst, time.RFC3339Nano), true
}

// appendEscaped appends s escaped as encoding/xml escapes character data
// (xml.EscapeText): the five markup characters as entities, tab, newline
// and carriage return as character references, and every rune outside
// the XML character range (and invalid UTF-8) as U+FFFD.
func appendEscaped(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\'' && c != '&' && c != '<' && c != '>' {
			i++
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		i += width
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if !xmlCharOK(r) || (r == utf8.RuneError && width == 1) {
				esc = "\uFFFD"
				break
			}
			continue
		}
		dst = append(dst, s[last:i-width]...)
		dst = append(dst, esc...)
		last = i
	}
	return append(dst, s[last:]...)
}

// xmlCharOK is XML 1.0's Char production (encoding/xml isInCharacterRange).
func xmlCharOK(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
