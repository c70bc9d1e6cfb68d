// Package yamltypes holds the small YAML value types idbroker's
// configuration blocks share, so that a duration or a list reads the same
// way under every key: the mapping rules, the provider blocks and the
// file's own sections.
//
// It imports nothing of idbroker's.
package yamltypes

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written in YAML as a Go duration: "1h",
// "90m", "5s". A bare number is refused (5 could mean seconds or
// nanoseconds), and so is a negative duration.
type Duration time.Duration

// UnmarshalYAML accepts a scalar holding a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalar(n, parseDuration)
	if err == nil {
		*d = Duration(v)
	}
	return err
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// DurationOrSeconds is a session lifetime written in YAML as a Go duration
// ("1h") or, as AWS's DurationSeconds is, a whole number of seconds (3600).
// A negative duration is refused.
type DurationOrSeconds time.Duration

// UnmarshalYAML accepts a scalar holding a Go duration or whole seconds.
func (d *DurationOrSeconds) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalar(n, parseDurationOrSeconds)
	if err == nil {
		*d = DurationOrSeconds(v)
	}
	return err
}

// MarshalYAML writes the duration as a Go duration string.
func (d DurationOrSeconds) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// scalar parses the text of a scalar node with parse; the error names the line.
func scalar(n *yaml.Node, parse func(string) (time.Duration, error)) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("line %d: a duration must be a string such as 1h or 15m", n.Line)
	}
	v, err := parse(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use Go durations such as 1h or 15m", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return v, nil
}

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = int64(1<<63-1) / int64(time.Second)

func parseDurationOrSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > maxSeconds {
			return 0, fmt.Errorf("invalid duration %q: out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	v, err := parseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w, or whole seconds", err)
	}
	return v, nil
}

// StringList is a list of strings that may be written in YAML as a single
// string.
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence of scalars.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	case yaml.SequenceNode:
		var ss []string
		if err := n.Decode(&ss); err != nil {
			return err
		}
		*l = ss
		return nil
	default:
		return fmt.Errorf("line %d: want a string or a list of strings", n.Line)
	}
}
