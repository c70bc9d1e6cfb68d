package policy

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"
)

// Size limits of STS-SPEC.md §8.3, in characters (runes).
const (
	// MaxSessionPolicyChars bounds the plaintext of inline plus managed
	// session policies together (AssumeRole* Policy parameter); over it the
	// STS answers ValidationError.
	MaxSessionPolicyChars = 2048
	// MaxSessionPolicyARNs bounds PolicyArns.
	MaxSessionPolicyARNs = 10
	// MaxManagedPolicyChars bounds a managed policy document (whitespace not counted).
	MaxManagedPolicyChars = 6144
	// MaxRoleInlinePolicyChars bounds a role's inline policies together.
	MaxRoleInlinePolicyChars = 10240
	// MaxUserInlinePolicyChars bounds a user's inline policies together.
	MaxUserInlinePolicyChars = 2048
	// MaxGroupInlinePolicyChars bounds a group's inline policies together.
	MaxGroupInlinePolicyChars = 5120
	// MaxTrustPolicyChars is the default role trust policy quota (adjustable to 4096 in AWS).
	MaxTrustPolicyChars = 2048
	// MaxPolicyDocumentChars is IAM's transport limit for any policy
	// document; Parse refuses larger input.
	MaxPolicyDocumentChars = 131072
	// PackedBudget is the budget, in bytes of DEFLATE output, that
	// PackedSize measures against. AWS does not publish its packing; this
	// budget lets a maximal 2048-character session policy with a few tags
	// pass while 50 long tags do not.
	PackedBudget = 2048
)

// Errors of ValidateSessionPolicyText. Both are API parameter constraint
// violations: the STS answers ValidationError.
var (
	ErrPolicyTooLong     = errors.New("policy exceeds the maximum length")
	ErrPolicyInvalidChar = errors.New("policy contains a character outside TAB, LF, CR and U+0020-U+00FF")
)

// ErrPolicyQuota is a managed policy, or a role's inline policies together,
// over its IAM size quota (MaxManagedPolicyChars, MaxRoleInlinePolicyChars);
// sts.New refuses such configuration, as IAM refuses the policy when it is
// created. (Trust policies are not held to MaxTrustPolicyChars: the broker
// appends its own statements to them.)
var ErrPolicyQuota = errors.New("policy exceeds its IAM size quota")

// CheckManagedPolicySize checks a managed policy document against
// MaxManagedPolicyChars (whitespace not counted). Errors wrap ErrPolicyQuota.
func CheckManagedPolicySize(doc []byte) error {
	return checkQuota("managed policy", CharCountNoSpace(string(doc)), MaxManagedPolicyChars)
}

// CheckRoleInlinePolicySize checks a role's inline permission policies
// together against MaxRoleInlinePolicyChars (whitespace not counted).
// Errors wrap ErrPolicyQuota.
func CheckRoleInlinePolicySize(docs [][]byte) error {
	n := 0
	for _, d := range docs {
		n += CharCountNoSpace(string(d))
	}
	return checkQuota("role inline policies", n, MaxRoleInlinePolicyChars)
}

func checkQuota(what string, n, limit int) error {
	if n > limit {
		return fmt.Errorf("%w: %s has %d characters (whitespace not counted), limit %d", ErrPolicyQuota, what, n, limit)
	}
	return nil
}

// CharCount counts characters as IAM does for quotas (runes of the text).
func CharCount(s string) int { return utf8.RuneCountInString(s) }

// CharCountNoSpace counts characters the way IAM's managed and inline policy
// quotas do ("whitespace not counted"): runes other than space, TAB, CR, LF.
func CharCountNoSpace(s string) int {
	n := 0
	for _, r := range s {
		switch r {
		case ' ', '\t', '\r', '\n':
		default:
			n++
		}
	}
	return n
}

// ValidateSessionPolicyText checks the Policy parameter of AssumeRole*,
// GetFederationToken: at most MaxSessionPolicyChars characters, only TAB, LF,
// CR and U+0020-U+00FF. Errors wrap ErrPolicyTooLong or
// ErrPolicyInvalidChar. It does not parse: call Parse(…, Identity) next for
// MalformedPolicyDocument.
func ValidateSessionPolicyText(s string) error {
	if n := CharCount(s); n > MaxSessionPolicyChars {
		return fmt.Errorf("%w: %d characters, limit %d", ErrPolicyTooLong, n, MaxSessionPolicyChars)
	}
	if i, r, ok := firstInvalidChar(s); !ok {
		return fmt.Errorf("%w: U+%04X at byte %d", ErrPolicyInvalidChar, r, i)
	}
	return nil
}

func firstInvalidChar(s string) (int, rune, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return i, r, false
			}
		}
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xFF) {
			continue
		}
		return i, r, false
	}
	return 0, 0, true
}

// PackedSize estimates AWS's PackedPolicySize: the inline session policy
// (JSON whitespace removed), the session policy ARNs and the session tags
// (sorted by key) are DEFLATE-compressed together and the result is
// ceil(100 * compressed / PackedBudget). Over 100 the STS answers
// PackedPolicyTooLarge; under it, AWS reports the percentage in
// PackedPolicySize. Transitive status does not count.
func PackedSize(policy string, arns []string, tags map[string]string) int {
	if policy == "" && len(arns) == 0 && len(tags) == 0 {
		// Nothing to pack (the common request): no DEFLATE writer, whose
		// set-up alone allocates hundreds of kilobytes.
		return 0
	}
	var buf bytes.Buffer
	if policy != "" {
		if err := json.Compact(&buf, []byte(policy)); err != nil {
			buf.Reset()
			buf.WriteString(policy)
		}
	}
	buf.WriteByte(0)
	for _, a := range arns {
		buf.WriteString(a)
		buf.WriteByte(0)
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		buf.WriteString(k)
		buf.WriteByte('=')
		buf.WriteString(tags[k])
		buf.WriteByte(0)
	}
	w := packers.Get().(*flate.Writer)
	var out byteCounter
	w.Reset(&out)
	_, _ = w.Write(buf.Bytes()) // a byteCounter never fails
	_ = w.Close()
	packers.Put(w)
	return (100*int(out) + PackedBudget - 1) / PackedBudget
}

// packers recycles DEFLATE writers: setting one up allocates about 800 KB,
// which PackedSize would otherwise pay on every request with session tags.
var packers = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestCompression) // err only for an invalid level
	return w
}}

// byteCounter counts what is written to it.
type byteCounter int

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}
