package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// TransportError is a call that did not reach the broker or got no
// answer from it, said for a person: what failed and what to check.
type TransportError struct {
	Base string
	// What is the sentence for a person.
	What string
	Err  error
}

func (e *TransportError) Error() string { return e.What }
func (e *TransportError) Unwrap() error { return e.Err }

// transportError says why a request to the broker at base failed.
func transportError(base string, err error) error {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verifyErr   *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		dnsErr      *net.DNSError
		netErr      net.Error
	)
	te := &TransportError{Base: base, Err: err}
	switch {
	case errors.Is(err, context.Canceled):
		te.What = "interrupted"
	case errors.As(err, &unknownCA), errors.As(err, &verifyErr) && errors.As(verifyErr.Err, &unknownCA):
		te.What = fmt.Sprintf("TLS with the broker at %s failed: its certificate is not signed by an authority this machine trusts. If your organisation has its own certificate authority, point SSL_CERT_FILE at its CA file", base)
	case errors.As(err, &hostErr):
		te.What = fmt.Sprintf("TLS with the broker at %s failed: its certificate is for another name (%v). Check the URL", base, hostErr.Error())
	case errors.As(err, &invalidCert):
		te.What = fmt.Sprintf("TLS with the broker at %s failed: its certificate is not valid (%v). Check the machine's clock, or tell the broker's administrator", base, invalidCert.Error())
	case errors.As(err, &verifyErr):
		te.What = fmt.Sprintf("TLS with the broker at %s failed: %v", base, verifyErr.Err)
	case errors.As(err, &recordErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		te.What = fmt.Sprintf("TLS with the broker at %s failed: the server does not speak TLS there (try http:// if the broker runs on this machine without TLS)", base)
	case errors.As(err, &dnsErr):
		te.What = fmt.Sprintf("cannot reach the broker at %s: the name %s is not known (%s). Check the URL and your network", base, dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		te.What = fmt.Sprintf("cannot reach the broker at %s: the connection was refused. Is the URL right, and is the broker running?", base)
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		te.What = fmt.Sprintf("the broker at %s did not answer in time. Check your network, or try again later", base)
	default:
		var ue *url.Error
		inner := err
		if errors.As(err, &ue) {
			inner = ue.Err
		}
		te.What = fmt.Sprintf("cannot reach the broker at %s: %v", base, inner)
	}
	return te
}
