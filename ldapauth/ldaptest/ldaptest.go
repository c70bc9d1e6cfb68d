// Package ldaptest starts a throwaway OpenLDAP slapd for tests: a temporary
// directory, a free loopback port for ldap:// (StartTLS capable) and one for
// ldaps://, a self-signed certificate with SAN IP:127.0.0.1 generated in Go,
// the core/cosine/inetorgperson/nis schemas plus Active Directory's
// userAccountControl, the memberof overlay (and ppolicy on request), an ACL
// under which anonymous clients can read nothing, and a seeded directory
// (see Fixture and the exported user and group names).
//
// Typical use from any package's tests:
//
//	func TestMain(m *testing.M) { os.Exit(ldaptest.RunMain(m, &srv)) }
//
// or per test:
//
//	srv := ldaptest.Start(t) // skips loudly without slapd, fails when CI=true
//
// The server is stopped by its pid (Close), never by name.
package ldaptest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Server is a running slapd.
type Server struct {
	// URL is ldap://127.0.0.1:PORT (plain, StartTLS available).
	URL string
	// LDAPSURL is ldaps://127.0.0.1:TLSPORT.
	LDAPSURL string
	// CAPEM is the self-signed server certificate (trust anchor) in PEM.
	CAPEM []byte
	// CAFile is a file holding CAPEM.
	CAFile string
	// Dir is the temporary directory holding config, data and log.
	Dir string

	// With Options.RequireClientCert: ClientCertFile and ClientKeyFile are
	// a client certificate (PEM) signed by the CA slapd demands, and
	// UntrustedClientCertFile / UntrustedClientKeyFile one signed by
	// another CA, which slapd refuses. Empty otherwise.
	ClientCertFile, ClientKeyFile                   string
	UntrustedClientCertFile, UntrustedClientKeyFile string

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Env names the variable that, set to "true", turns "slapd not available"
// from a skip into a failure.
const Env = "CI"

// Required reports whether a missing slapd must fail the tests (CI=true).
func Required() bool { return os.Getenv(Env) == "true" }

// Start starts a seeded slapd for tb and stops it in tb.Cleanup. When slapd
// cannot be started the test is skipped with a loud "SLAPD NOT AVAILABLE"
// message, or fails when CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// Unavailable skips tb (or fails it when CI=true) because slapd could not be had.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if Required() {
		tb.Fatalf("SLAPD NOT AVAILABLE and CI=true: %v (run scripts/install-test-deps.sh)", err)
	}
	tb.Skipf("SLAPD NOT AVAILABLE: %v (run scripts/install-test-deps.sh; with CI=true this fails)", err)
}

// RunMain is a TestMain helper: it starts one shared server, stores it in
// *srv (nil when slapd is unavailable and CI is not true, in which case
// tests should call Unavailable themselves), runs m and stops the server.
// With CI=true and no slapd it returns exit code 1 without running tests.
func RunMain(m *testing.M, srv **Server) int {
	s, err := New()
	if err != nil {
		if Required() {
			fmt.Fprintf(os.Stderr, "SLAPD NOT AVAILABLE and CI=true: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "SLAPD NOT AVAILABLE: %v (tests needing it will skip)\n", err)
		StartErr = err
		return m.Run()
	}
	*srv = s
	code := m.Run()
	_ = s.Close()
	return code
}

// StartErr records why RunMain could not start slapd (for test messages).
// It is written once by RunMain before any test runs.
var StartErr error

// Get returns srv or skips/fails tb when RunMain could not start it.
func Get(tb testing.TB, srv *Server) *Server {
	tb.Helper()
	if srv == nil {
		err := StartErr
		if err == nil {
			err = errors.New("not started")
		}
		Unavailable(tb, err)
	}
	return srv
}

// Options change how the server is set up.
type Options struct {
	// RequireClientCert makes slapd demand a client certificate on every
	// TLS connection (ldaps:// and StartTLS): TLSVerifyClient demand, with a
	// test CA whose client certificate is in Server.ClientCertFile. Plain
	// ldap:// without StartTLS stays open (the harness seeds through it).
	RequireClientCert bool
	// PasswordPolicy loads the ppolicy overlay (no default policy), so that
	// Lock can set an entry's pwdAccountLockedTime.
	PasswordPolicy bool
}

// StartWith is Start with options.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := NewWithOptions(opts)
	if err != nil {
		Unavailable(tb, err)
		return nil
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// New starts a seeded slapd. Close stops it and removes its directory.
func New() (*Server, error) { return NewWithOptions(Options{}) }
