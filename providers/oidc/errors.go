package oidc

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// verifyError carries a failure class (one of awsspec's web-identity
// classes) and an operator-facing reason. The reason never contains the
// token; claim values quoted in it are truncated.
type verifyError struct {
	class  error
	reason string
	cause  error
}

func (e *verifyError) Error() string {
	var b strings.Builder
	b.WriteString("oidc: ")
	b.WriteString(e.class.Error())
	if e.reason != "" {
		b.WriteString(": ")
		b.WriteString(e.reason)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

func (e *verifyError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.class, e.cause}
	}
	return []error{e.class}
}

func errorf(class error, format string, args ...any) error {
	return &verifyError{class: class, reason: fmt.Sprintf(format, args...)}
}

func wrapErr(class error, cause error, format string, args ...any) error {
	return &verifyError{class: class, reason: fmt.Sprintf(format, args...), cause: cause}
}

// quote renders an untrusted value for an error message: quoted, and cut to
// a short prefix so a hostile claim cannot flood logs.
func quote(s string) string {
	const max = 64
	if t := truncate(s, max); len(t) < len(s) {
		return fmt.Sprintf("%q...", t)
	}
	return fmt.Sprintf("%q", s)
}

// truncate returns s cut to at most n bytes without splitting a UTF-8
// sequence (s itself when it is short enough).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// boundedError carries an error from a library whose message may quote
// token content (go-oidc quotes iss and aud values): Error is cut to a
// short prefix; errors.Is and errors.As still see the original.
type boundedError struct{ err error }

func (e boundedError) Error() string {
	const max = 256
	s := e.err.Error()
	if t := truncate(s, max); len(t) < len(s) {
		return t + "..."
	}
	return s
}

func (e boundedError) Unwrap() error { return e.err }
