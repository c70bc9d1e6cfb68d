package sts

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	// Java's \w is ASCII [a-zA-Z_0-9]; Go's RE2 \w is the same.
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)
	// arnType: [\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+
	arnCharsPattern = regexp.MustCompile(`^[\x{0009}\x{000A}\x{000D}\x{0020}-\x{007E}\x{0085}\x{00A0}-\x{D7FF}\x{E000}-\x{FFFD}\x{10000}-\x{10FFFF}]+$`)
	// sessionPolicyDocumentType: [\u0009\u000A\u000D\u0020-\u00FF]+
	policyCharsPattern = regexp.MustCompile(`^[\x{0009}\x{000A}\x{000D}\x{0020}-\x{00FF}]+$`)
	integerPattern     = regexp.MustCompile(`^-?[0-9]+$`)
	tagPattern         = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	// samlProviderNamePattern: IAM SAMLProviderNameType.
	samlProviderNamePattern = regexp.MustCompile(`^[\w._-]{1,128}$`)
)

const (
	patternSessionName = `[\w+=,.@-]*`
	patternARN         = `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+`
	patternPolicy      = `[\u0009\u000A\u000D\u0020-\u00FF]+`

	minDuration     = 900
	maxDuration     = 43200
	defaultDuration = 3600
	maxPolicyLen    = 2048
	maxPolicyARNs   = 10
	maxTags         = 50
)

// checkParam applies the model's length and pattern constraints to a
// string member whose presence is known: an absent member is null (an error only when required); a present one —
// even empty, as "Policy=" on the wire — must satisfy the length and
// pattern constraints: AWS refuses an empty Policy with "Member must have
// length greater than or equal to 1" (and the pattern), not as absent.
func (v *validation) checkParam(member, value string, present, required, sensitive bool, minLen, maxLen int, re *regexp.Regexp, pattern string) {
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
	if re != nil && !matchPattern(re, value) {
		v.add(member, value, sensitive, "satisfy regular expression pattern: "+pattern)
	}
}

// asciiClass is, for a pattern of the form ^[class]*$ or ^[class]+$, which
// ASCII bytes the class admits, computed from the regexp itself. For a
// non-empty all-ASCII string such a pattern matches exactly when every
// byte is admitted; other strings go to the regexp.
type asciiClass [128]bool

func classOf(re *regexp.Regexp) *asciiClass {
	var c asciiClass
	for b := range c {
		c[b] = re.MatchString(string(rune(b)))
	}
	return &c
}

var (
	arnASCII         = classOf(arnCharsPattern)
	sessionNameASCII = classOf(sessionNamePattern)
)

// matchPattern is re.MatchString(s), answered from the ASCII tables for
// the two patterns on every request (role ARNs, session names).
func matchPattern(re *regexp.Regexp, s string) bool {
	var c *asciiClass
	switch re {
	case arnCharsPattern:
		c = arnASCII
	case sessionNamePattern:
		c = sessionNameASCII
	}
	if c == nil || s == "" {
		return re.MatchString(s)
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= utf8.RuneSelf {
			return re.MatchString(s)
		}
		if !c[b] {
			return false
		}
	}
	return true
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

func (v *validation) checkDuration(d *int32) {
	if d == nil {
		return
	}
	s := strconv.Itoa(int(*d))
	if *d < minDuration {
		v.add("durationSeconds", s, false, "have value greater than or equal to 900")
	}
	if *d > maxDuration {
		v.add("durationSeconds", s, false, "have value less than or equal to 43200")
	}
}

// checkPolicyArns applies the PolicyArns list constraints.
func (v *validation) checkPolicyArns(arns []string) {
	if len(arns) > maxPolicyARNs {
		v.add("policyArns", "["+strings.Join(arns, ", ")+"]", false, "have length less than or equal to 10")
	}
	for i, arn := range arns {
		// A member exists only where its arn was sent: an empty one was sent empty.
		v.checkParam("policyArns."+strconv.Itoa(i+1)+".member.arn", arn, true, true, false, 20, 2048, arnCharsPattern, patternARN)
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
