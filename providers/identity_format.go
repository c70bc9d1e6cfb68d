package providers

import (
	"fmt"
	"log/slog"
)

// Redacted stands in for Identity.Upstream wherever an Identity is
// printed or logged.
const Redacted = "REDACTED"

// Format prints the identity with every fmt verb as the plain struct would
// be printed, except that Upstream (a secret: an OIDC refresh token) is
// left out; with %+v a non-empty one shows as Redacted.
func (id Identity) Format(f fmt.State, verb rune) {
	type identity Identity // the same fields, without this method
	plain := identity(id)
	plain.Upstream = nil
	fmt.Fprintf(f, fmt.FormatString(f, verb), plain)
	if len(id.Upstream) > 0 && verb == 'v' && f.Flag('+') {
		fmt.Fprintf(f, " (Upstream %s)", Redacted)
	}
}

// String is the identity as %v prints it, without Upstream.
func (id Identity) String() string { return fmt.Sprint(id) }

// LogValue implements slog.LogValuer: who the identity names and what the
// rules match on, never Upstream.
func (id Identity) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("provider", id.Provider),
		slog.String("subject", id.Subject),
		slog.String("username", id.Username),
		slog.Any("groups", id.Groups),
		slog.Bool("mfa", id.MFA),
	}
	if !id.MFATime.IsZero() {
		attrs = append(attrs, slog.Time("mfa_time", id.MFATime))
	}
	if !id.AuthTime.IsZero() {
		attrs = append(attrs, slog.Time("auth_time", id.AuthTime))
	}
	if !id.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", id.Expiry))
	}
	if len(id.Upstream) > 0 {
		attrs = append(attrs, slog.String("upstream", Redacted))
	}
	return slog.GroupValue(attrs...)
}
