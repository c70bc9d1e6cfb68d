package ldapauth

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/go-ldap/ldap/v3"
)

// Sentinel errors. Every error Authenticate returns wraps exactly one of them.
var (
	// ErrInvalidCredentials: unknown user, wrong or empty password, or a
	// username that cannot be valid. The cases are indistinguishable.
	ErrInvalidCredentials = errors.New("ldapauth: invalid credentials")
	// ErrUnavailable: no server could be reached or answered in time.
	ErrUnavailable = errors.New("ldapauth: directory unavailable")
	// ErrConfiguration: the directory or the configuration is wrong (service
	// bind refused, several entries for one user, a referral, a bad filter).
	ErrConfiguration = errors.New("ldapauth: misconfigured")
)

// ldapCodes that mean "the server is not able to serve now".
var unavailableCodes = []uint16{
	ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
	ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError,
	ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded,
	ldap.LDAPResultOther,
}

// classify wraps err with the sentinel it belongs to; op names the step.
// Errors that already carry a sentinel are returned wrapped once more.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, ErrInvalidCredentials), errors.Is(err, ErrUnavailable), errors.Is(err, ErrConfiguration):
		return fmt.Errorf("%s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	case isNetErr(err):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	case ldap.IsErrorAnyOf(err, unavailableCodes...):
		return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
	case ldap.IsErrorWithCode(err, ldap.LDAPResultReferral):
		return fmt.Errorf("%s: referral not followed (point the base DN at this server): %w: %w", op, ErrConfiguration, err)
	}
	var le *ldap.Error
	if errors.As(err, &le) {
		return fmt.Errorf("%s: %w: %w", op, ErrConfiguration, err)
	}
	// Anything else (malformed packets, closed connections) means the
	// server could not be used.
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

func isNetErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}

// retryable reports whether a failed request on a reused pooled connection
// may be retried once on a fresh one (the connection died while idle).
func retryable(err error) bool {
	return errors.Is(err, errConnBroken) || isNetErr(err) || ldap.IsErrorWithCode(err, ldap.ErrorNetwork)
}

var errConnBroken = errors.New("connection closed")
