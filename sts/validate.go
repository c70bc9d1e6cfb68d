package sts

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// charset is the alphabet of a string member: the test a value must pass,
// and the pattern AWS quotes in its ValidationError when it does not.
type charset struct {
	pattern string
	valid   func(string) bool
}

// runeCharset is the alphabet of the runes ok admits (the rule is
// awsspec's). ASCII bytes are answered from a table built from ok, the
// rest rune by rune; an invalid UTF-8 byte is U+FFFD, as a regexp reads
// it. nonEmpty refuses the empty string (a "+" pattern, not "*").
func runeCharset(pattern string, nonEmpty bool, ok func(rune) bool) *charset {
	var ascii [utf8.RuneSelf]bool
	for b := range ascii {
		ascii[b] = ok(rune(b))
	}
	return &charset{pattern: pattern, valid: func(s string) bool {
		if s == "" {
			return !nonEmpty
		}
		for i := 0; i < len(s); i++ {
			b := s[i]
			if b >= utf8.RuneSelf {
				// Every byte before i is ASCII: s[i:] starts a rune.
				for _, r := range s[i:] {
					if !ok(r) {
						return false
					}
				}
				return true
			}
			if !ascii[b] {
				return false
			}
		}
		return true
	}}
}

// regexpCharset is the alphabet of re, a pattern of the form ^[class]*$ or
// ^[class]+$: ASCII strings are answered from a table of the bytes the
// class admits (computed from re itself), others by re.
func regexpCharset(pattern string, re *regexp.Regexp) *charset {
	var ascii [utf8.RuneSelf]bool
	for b := range ascii {
		ascii[b] = re.MatchString(string(rune(b)))
	}
	return &charset{pattern: pattern, valid: func(s string) bool {
		if s == "" {
			return re.MatchString(s)
		}
		for i := 0; i < len(s); i++ {
			b := s[i]
			if b >= utf8.RuneSelf {
				return re.MatchString(s)
			}
			if !ascii[b] {
				return false
			}
		}
		return true
	}}
}

// The alphabets of the request members (STS-SPEC §2). Java's \w, in AWS's
// patterns, is ASCII [a-zA-Z_0-9], as Go's RE2 \w is.
var (
	// nameChars: RoleSessionName, SourceIdentity, GetFederationToken Name.
	nameChars = runeCharset(`[\w+=,.@-]*`, false, awsspec.NameRune)
	// tagKeyChars and tagValueChars: session tag keys (also transitive
	// tag keys) and values.
	tagKeyChars   = runeCharset(`[\p{L}\p{Z}\p{N}_.:/=+\-@]+`, true, awsspec.TagRune)
	tagValueChars = runeCharset(`[\p{L}\p{Z}\p{N}_.:/=+\-@]*`, false, awsspec.TagRune)
	// arnChars: arnType.
	arnChars = regexpCharset(`[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`,
		regexp.MustCompile(`^[\x{0009}\x{000A}\x{000D}\x{0020}-\x{007E}\x{0085}\x{00A0}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}]+$`))
	// policyChars: sessionPolicyDocumentType.
	policyChars = regexpCharset(`[\u0009\u000A\u000D\u0020-\u00FF]+`,
		regexp.MustCompile(`^[\x{0009}\x{000A}\x{000D}\x{0020}-\x{00FF}]+$`))
	// The AssumeRole members of their own alphabet.
	externalIDChars   = regexpCharset(`[\w+=,.@:\/-]*`, regexp.MustCompile(`^[\w+=,.@:/-]*$`))
	serialNumberChars = regexpCharset(`[\w+=/:,.@-]*`, regexp.MustCompile(`^[\w+=/:,.@-]*$`))
	tokenCodeChars    = regexpCharset(`[\d]*`, regexp.MustCompile(`^[0-9]*$`))
	accessKeyChars    = regexpCharset(`[\w]*`, regexp.MustCompile(`^\w*$`))
)

var integerPattern = regexp.MustCompile(`^-?[0-9]+$`)

const (
	maxPolicyLen  = 2048
	maxPolicyARNs = 10
)

// checkParam applies the model's length and alphabet constraints to a
// string member whose presence is known: an absent member is null (an
// error only when required); a present one — even empty, as "Policy=" on
// the wire — must satisfy the length and alphabet constraints: AWS refuses
// an empty Policy with "Member must have length greater than or equal to
// 1" (and the pattern), not as absent. cs nil means any characters.
func (v *validation) checkParam(member, value string, present, required, sensitive bool, minLen, maxLen int, cs *charset) {
	if !present {
		if required {
			v.null(member)
		}
		return
	}
	n := utf8.RuneCountInString(value)
	if n < minLen {
		v.add(member, value, sensitive, "have length greater than or equal to "+strconv.Itoa(minLen))
	}
	if n > maxLen {
		v.add(member, value, sensitive, "have length less than or equal to "+strconv.Itoa(maxLen))
	}
	if cs != nil && !cs.valid(value) {
		v.add(member, value, sensitive, "satisfy regular expression pattern: "+cs.pattern)
	}
}

// checkName applies the RoleSessionName / SourceIdentity constraints.
func (v *validation) checkName(member, value string, present, required bool) {
	v.checkParam(member, value, present, required, false, awsspec.MinSessionNameLen, awsspec.MaxSessionNameLen, nameChars)
}

// checkARN applies the arnType constraints.
func (v *validation) checkARN(member, value string, present, required bool) {
	v.checkParam(member, value, present, required, false, awsspec.MinARNLen, awsspec.MaxARNLen, arnChars)
}

// checkPolicy applies the inline session policy constraints.
func (v *validation) checkPolicy(value string, present bool) {
	v.checkParam("policy", value, present, false, false, 1, maxPolicyLen, policyChars)
}

// validName reports whether s is a valid RoleSessionName or SourceIdentity.
func validName(s string) bool {
	n := utf8.RuneCountInString(s)
	return n >= awsspec.MinSessionNameLen && n <= awsspec.MaxSessionNameLen && nameChars.valid(s)
}

// parseDuration parses the DurationSeconds wire value strictly (decimal
// integer, no sign tricks, no floats, no hex, no spaces).
func parseDuration(raw string, v *validation) *int32 {
	if !integerPattern.MatchString(raw) {
		v.add("durationSeconds", raw, false, "be an integer")
		return nil
	}
	n, err := strconv.ParseInt(raw, 10, 32)
	if err != nil {
		v.add("durationSeconds", raw, false, "be an integer")
		return nil
	}
	d := int32(n)
	return &d
}

// checkDuration applies the DurationSeconds range of the AssumeRole
// actions (awsspec's).
func (v *validation) checkDuration(d *int32) {
	v.checkDurationRange(d, awsspec.MinDurationSeconds, awsspec.MaxDurationSeconds)
}

// checkDurationRange applies a DurationSeconds range [lo, hi].
func (v *validation) checkDurationRange(d *int32, lo, hi int64) {
	if d == nil {
		return
	}
	s := strconv.Itoa(int(*d))
	if int64(*d) < lo {
		v.add("durationSeconds", s, false, "have value greater than or equal to "+strconv.FormatInt(lo, 10))
	}
	if int64(*d) > hi {
		v.add("durationSeconds", s, false, "have value less than or equal to "+strconv.FormatInt(hi, 10))
	}
}

// checkPolicyArns applies the PolicyArns list constraints.
func (v *validation) checkPolicyArns(arns []string) {
	if len(arns) > maxPolicyARNs {
		v.add("policyArns", "["+strings.Join(arns, ", ")+"]", false, "have length less than or equal to "+strconv.Itoa(maxPolicyARNs))
	}
	for i, arn := range arns {
		// A member exists only where its arn was sent: an empty one was sent empty.
		v.checkARN("policyArns."+strconv.Itoa(i+1)+".member.arn", arn, true, true)
	}
}

// emptyParams names the parameters a Query API request sent with an empty
// value ("Policy=", "ExternalId="): present, so they must satisfy the
// member's minimum length and pattern instead of counting as absent. It is
// nil for in-process callers, for whom "" means absent.
type emptyParams map[string]bool

// emptyParamsOf records which of names req sent with an empty value.
func emptyParamsOf(req *Request, names ...string) emptyParams {
	var m emptyParams
	for _, n := range names {
		if val, ok := req.Lookup(n); ok && val == "" {
			if m == nil {
				m = emptyParams{}
			}
			m[n] = true
		}
	}
	return m
}

// present reports whether parameter name (wire spelling) with value was given.
func (e emptyParams) present(name, value string) bool { return value != "" || e[name] }

// durationOf is the session length asked for: DurationSeconds, or AWS's
// default when it is absent.
func durationOf(d *int32) int64 {
	if d == nil {
		return awsspec.DefaultDurationSeconds
	}
	return int64(*d)
}

// checkMFA applies the SerialNumber and TokenCode constraints.
func (v *validation) checkMFA(serial, code string, empty emptyParams) {
	v.checkParam("serialNumber", serial, empty.present("SerialNumber", serial), false, false, 9, 256, serialNumberChars)
	if empty.present("TokenCode", code) {
		if utf8.RuneCountInString(code) != 6 {
			if len(code) < 6 {
				v.add("tokenCode", code, false, "have length greater than or equal to 6")
			} else {
				v.add("tokenCode", code, false, "have length less than or equal to 6")
			}
		}
		if !tokenCodeChars.valid(code) {
			v.add("tokenCode", code, false, "satisfy regular expression pattern: "+tokenCodeChars.pattern)
		}
	}
}
