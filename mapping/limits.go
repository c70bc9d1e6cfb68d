package mapping

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// The AWS rules a grant must meet (alphabets, lengths, the duration range,
// the reserved prefix) are awsspec's; this file words them for an operator.

func checkTagText(what, s string, minLen, maxLen int) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	n := utf8.RuneCountInString(s)
	if n < minLen || n > maxLen {
		return fmt.Errorf("%s %s has %d characters, AWS allows %d to %d", what, quote(s), n, minLen, maxLen)
	}
	for _, r := range s {
		if !awsspec.TagRune(r) {
			return fmt.Errorf("%s %s contains %q, outside the AWS tag alphabet [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]", what, quote(s), r)
		}
	}
	return nil
}

// ValidateTagKey checks a session tag key: 1–128 characters of the tag
// alphabet, not starting with "aws:" in any case.
func ValidateTagKey(k string) error {
	if err := checkTagText("tag key", k, 1, awsspec.MaxTagKeyLen); err != nil {
		return err
	}
	if awsspec.HasReservedPrefix(k) {
		return fmt.Errorf("tag key %s uses the reserved prefix aws:", quote(k))
	}
	return nil
}

// ValidateTagValue checks a session tag value: 0–256 characters of the tag
// alphabet, not starting with "aws:" in any case (the STS refuses such a
// value in a web-identity or SAML session, so the mapping must too, or explain
// and config check would promise a grant the login cannot get).
func ValidateTagValue(v string) error {
	if err := checkTagText("tag value", v, 0, awsspec.MaxTagValueLen); err != nil {
		return err
	}
	if awsspec.HasReservedPrefix(v) {
		return fmt.Errorf("tag value %s uses the reserved prefix aws:", quote(v))
	}
	return nil
}

// ValidateTags checks a whole tag set and its transitive keys.
func ValidateTags(tags map[string]string, transitive []string) error {
	if len(tags) > awsspec.MaxSessionTags {
		return fmt.Errorf("%d session tags, AWS allows at most %d", len(tags), awsspec.MaxSessionTags)
	}
	lower := make(map[string]bool, len(tags))
	for k, v := range tags {
		if err := ValidateTagKey(k); err != nil {
			return err
		}
		if lower[strings.ToLower(k)] {
			return fmt.Errorf("tag key %s repeats another key in a different case", quote(k))
		}
		lower[strings.ToLower(k)] = true
		if err := ValidateTagValue(v); err != nil {
			return fmt.Errorf("tag %s: %w", quote(k), err)
		}
	}
	if len(transitive) > awsspec.MaxSessionTags {
		return fmt.Errorf("%d transitive tag keys, AWS allows at most %d", len(transitive), awsspec.MaxSessionTags)
	}
	for _, k := range transitive {
		if _, ok := tags[k]; !ok {
			return fmt.Errorf("transitive tag key %s is not a session tag", quote(k))
		}
	}
	return nil
}

// ValidateSessionName checks a RoleSessionName: 2–64 characters of [\w+=,.@-].
func ValidateSessionName(s string) error { return checkName("RoleSessionName", s) }

// ValidateSourceIdentity checks a SourceIdentity: 2–64 characters of
// [\w+=,.@-] (which also rules out the reserved prefix "aws:").
func ValidateSourceIdentity(s string) error { return checkName("SourceIdentity", s) }

func checkName(what, s string) error {
	if len(s) < awsspec.MinSessionNameLen || len(s) > awsspec.MaxSessionNameLen {
		return fmt.Errorf("%s %s has %d bytes, AWS allows %d to %d characters of [\\w+=,.@-]", what, quote(s), len(s), awsspec.MinSessionNameLen, awsspec.MaxSessionNameLen)
	}
	for _, r := range s {
		if !awsspec.NameRune(r) {
			return fmt.Errorf("%s %s contains %q, outside [\\w+=,.@-]", what, quote(s), r)
		}
	}
	return nil
}

// SanitizeSessionName reduces s to a RoleSessionName: every character
// outside [\w+=,.@-] is dropped and the result is cut to 64 characters. It
// returns an error when fewer than 2 characters remain.
func SanitizeSessionName(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		if awsspec.NameRune(r) {
			b.WriteRune(r)
			if b.Len() == awsspec.MaxSessionNameLen {
				break
			}
		}
	}
	out := b.String()
	if len(out) < awsspec.MinSessionNameLen {
		return "", fmt.Errorf("RoleSessionName from %s has fewer than %d characters of [\\w+=,.@-]", quote(s), awsspec.MinSessionNameLen)
	}
	return out, nil
}

// EffectiveDuration negotiates a credential lifetime: the smallest of the
// requested duration (0 = the AWS default of one hour), the rule's cap
// (0 = none), the role's maximum (0 = one hour) and the time left until the
// upstream assertion expires (zero time = no expiry), and never more than 12
// hours. It is never below 15 minutes, the AWS minimum: if the minimum falls
// below, 15 minutes is returned and the note says so. The note explains any
// reduction in words for the user; it is "" when the request is met as is.
func EffectiveDuration(requested, ruleCap, roleMax time.Duration, upstreamExpiry, now time.Time) (time.Duration, string) {
	if roleMax <= 0 {
		roleMax = awsspec.DefaultRoleMaxSessionDuration
	}
	want := requested
	if want <= 0 {
		want = awsspec.DefaultSessionDuration
	}
	d, why := want, ""
	limit := func(v time.Duration, reason string) {
		if v < d {
			d, why = v, reason
		}
	}
	limit(awsspec.MaxSessionDuration, fmt.Sprintf("the AWS maximum of %s", awsspec.MaxSessionDuration))
	limit(roleMax, fmt.Sprintf("the role's maximum session duration of %s", roleMax))
	if ruleCap > 0 {
		limit(ruleCap, fmt.Sprintf("the rule's cap of %s", ruleCap))
	}
	if !upstreamExpiry.IsZero() {
		left := upstreamExpiry.Sub(now).Truncate(time.Second)
		limit(left, fmt.Sprintf("the upstream login, which expires in %s", max(left, 0)))
	}
	var notes []string
	if d < want {
		notes = append(notes, fmt.Sprintf("duration limited to %s by %s", d, why))
	}
	if d < awsspec.MinSessionDuration {
		d = awsspec.MinSessionDuration
		notes = append(notes, fmt.Sprintf("raised to the AWS minimum of %s", awsspec.MinSessionDuration))
	}
	if requested > 0 && d > requested && requested < awsspec.MinSessionDuration && len(notes) == 1 {
		// Only the floor applied.
		notes = []string{fmt.Sprintf("requested %s is below the AWS minimum; issued for %s", requested, awsspec.MinSessionDuration)}
	}
	return d, strings.Join(notes, "; ")
}

// quote renders a value for a message: Go-quoted (so control characters and
// terminal escapes are visible, not interpreted) and shortened to 80 bytes.
func quote(s string) string {
	const maxShown = 80
	if len(s) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
	}
	return fmt.Sprintf("%q", s)
}
