package ldapauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// connState says as whom a pooled connection is bound.
type connState int

const (
	stateAnon    connState = iota // fresh, nothing bound
	stateService                  // bound as the service account
	stateUser                     // a user bind was attempted: never pooled in this state
)

// conn is one LDAP connection with the raw socket kept for deadlines.
type conn struct {
	l        *ldap.Conn
	raw      net.Conn
	url      string
	state    connState
	created  time.Time
	lastUsed time.Time
	broken   bool
	// certHint explains a connection that fails before the server ever
	// answered when the server asked for a TLS client certificate: under
	// TLS 1.3 a refused (or missing) client certificate is reported only as
	// a closed connection on the first read.
	certHint string
	answered bool
}

func (c *conn) close() {
	if c.l != nil {
		_ = c.l.Close()
	}
}

// do runs fn with the request bounded by the smaller of ctx's deadline and
// the request timeout: the socket deadline and go-ldap's SetTimeout are both
// set, and cancelling ctx closes the connection. On any timeout or
// cancellation the connection is marked broken and never reused.
func (c *conn) do(ctx context.Context, timeout time.Duration, fn func(l *ldap.Conn) error) error {
	if err := ctx.Err(); err != nil {
		c.broken = true
		return err
	}
	if c.l.IsClosing() {
		c.broken = true
		return c.withCertHint(errConnBroken)
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.raw.SetDeadline(deadline)
	c.l.SetTimeout(time.Until(deadline))
	stop := context.AfterFunc(ctx, func() { _ = c.l.Close() })
	err := fn(c.l)
	if !stop() {
		c.broken = true
		if cerr := ctx.Err(); cerr != nil {
			err = errors.Join(cerr, err)
		}
	}
	_ = c.raw.SetDeadline(time.Time{})
	c.lastUsed = time.Now()
	var le *ldap.Error
	serverAnswered := err == nil || (errors.As(err, &le) && le.ResultCode != ldap.ErrorNetwork)
	if !serverAnswered && ctx.Err() == nil {
		err = c.withCertHint(err)
	}
	c.answered = c.answered || serverAnswered
	if err != nil && (isNetErr(err) || ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || c.l.IsClosing()) {
		c.broken = true
	}
	return err
}

// withCertHint prefixes err with the client-certificate hint while the
// server has never answered on c (and there is a hint), else returns err.
func (c *conn) withCertHint(err error) error {
	if c.answered || c.certHint == "" {
		return err
	}
	return fmt.Errorf("%s: %w", c.certHint, err)
}

// Hints for a connection the server closes before its first answer.
const (
	hintNoClientCert = "the server asked for a TLS client certificate and none is configured (set client_cert_file and client_key_file)"
	hintClientCert   = "the server asked for a TLS client certificate and closed the connection: it may not trust the configured client_cert_file"
)

// certRequest records whether a server asked for a client certificate
// during one connection's TLS handshake.
type certRequest struct {
	asked, sent atomic.Bool
}

func (r *certRequest) hint() string {
	switch {
	case !r.asked.Load():
		return ""
	case r.sent.Load():
		return hintClientCert
	}
	return hintNoClientCert
}

// dialer connects to the configured URLs with failover.
type dialer struct {
	urls      []*url.URL
	startTLS  bool
	tlsBase   *tls.Config
	timeout   time.Duration
	preferred atomic.Int32
}

// tlsFor is the TLS configuration of one connection to u; cr records
// whether the server asks for a client certificate (which the configured
// one, if any, answers).
func (d *dialer) tlsFor(u *url.URL, cr *certRequest) *tls.Config {
	t := d.tlsBase.Clone()
	t.ServerName = u.Hostname()
	certs := t.Certificates
	t.Certificates = nil
	t.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cr.asked.Store(true)
		if len(certs) == 0 {
			return &tls.Certificate{}, nil // none: the server decides
		}
		cr.sent.Store(true)
		return &certs[0], nil
	}
	return t
}

// dial tries each URL once, starting with the last one that worked.
func (d *dialer) dial(ctx context.Context) (*conn, error) {
	n := len(d.urls)
	start := int(d.preferred.Load())
	var errs []error
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		c, err := d.dialOne(ctx, d.urls[idx])
		if err == nil {
			d.preferred.Store(int32(idx))
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", d.urls[idx].Redacted(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial: %w: %w", ErrUnavailable, errors.Join(errs...))
}

func (d *dialer) dialOne(ctx context.Context, u *url.URL) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	nd := &net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second}
	raw, err := nd.DialContext(dctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var nc net.Conn = raw
	isTLS := u.Scheme == "ldaps"
	cr := &certRequest{}
	if isTLS {
		tc := tls.Client(raw, d.tlsFor(u, cr))
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	l := ldap.NewConn(nc, isTLS)
	l.Start()
	c := &conn{l: l, raw: raw, url: u.String(), created: time.Now(), lastUsed: time.Now(), certHint: cr.hint()}
	if d.startTLS && !isTLS {
		err := c.do(dctx, d.timeout, func(l *ldap.Conn) error { return l.StartTLS(d.tlsFor(u, cr)) })
		if err != nil {
			c.close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
		if _, ok := l.TLSConnectionState(); !ok {
			c.close()
			return nil, errors.New("starttls: connection not encrypted")
		}
		c.certHint, c.answered = cr.hint(), false
	}
	return c, nil
}

// pool holds idle connections, bounded by a semaphore on connections in use
// (connections are dialled only when none is idle, so idle+in-use ≤ max).
//
// Idle connections are bound as the service account (or anonymous when
// searches are). A connection on which a user bind was attempted
// (stateUser) is re-bound as the service account before it is returned
// (Client.userBind); put closes one that still is in stateUser, so no
// pooled connection is ever bound as a user.
type pool struct {
	d           *dialer
	bindDN      string
	bindPW      string
	anon        bool
	healthAfter time.Duration
	maxLife     time.Duration
	sem         chan struct{}

	mu     sync.Mutex
	idle   []*conn // service or anonymous, never stateUser
	closed bool
}

type purpose int

const (
	forService purpose = iota
	forUserBind
)

// get returns a connection fit for p. fresh reports a newly dialled one.
func (p *pool) get(ctx context.Context, pp purpose, timeout time.Duration) (c *conn, fresh bool, err error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("waiting for a pooled connection: %w: %w", ErrUnavailable, ctx.Err())
	}
	defer func() {
		if err != nil {
			<-p.sem
		}
	}()
	for {
		c := p.pop()
		if c == nil {
			break
		}
		if p.usable(ctx, c, pp, timeout) {
			return c, false, nil
		}
		c.close()
	}
	c, err = p.d.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	if pp == forService {
		if err := p.serviceBind(ctx, c, timeout); err != nil {
			c.close()
			return nil, false, err
		}
	}
	return c, true, nil
}

func (p *pool) pop() *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return c
	}
	return nil
}

// usable checks liveness. Idle connections are already bound for service
// use (put pools only service- or, for anonymous searches, anonymously-bound
// ones: userBind re-binds a connection or breaks it). A user bind replaces
// the binding, so for it liveness is enough (a connection that died while
// idle fails the bind, which withConn retries once).
func (p *pool) usable(ctx context.Context, c *conn, pp purpose, timeout time.Duration) bool {
	if c.broken || c.l.IsClosing() || time.Since(c.created) > p.maxLife {
		return false
	}
	if pp == forUserBind {
		return true
	}
	if time.Since(c.lastUsed) > p.healthAfter {
		err := c.do(ctx, timeout, func(l *ldap.Conn) error {
			_, err := l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
			return err
		})
		return err == nil
	}
	return true
}

func (p *pool) serviceBind(ctx context.Context, c *conn, timeout time.Duration) error {
	if p.bindDN == "" {
		if c.state == stateAnon {
			return nil
		}
		err := c.do(ctx, timeout, func(l *ldap.Conn) error { return l.UnauthenticatedBind("") })
		if err != nil {
			return classify("anonymous bind", err)
		}
		c.state = stateAnon
		return nil
	}
	err := c.do(ctx, timeout, func(l *ldap.Conn) error { return l.Bind(p.bindDN, p.bindPW) })
	if err != nil {
		c.state = stateAnon
		if ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInvalidDNSyntax,
			ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultConfidentialityRequired,
			ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultUnwillingToPerform) {
			return fmt.Errorf("service bind as %q refused: %w: %w", p.bindDN, ErrConfiguration, err)
		}
		return classify("service bind", err)
	}
	c.state = stateService
	return nil
}

// put returns c to the pool (or closes it) and frees its slot. A
// connection still bound as a user (or that may be) is closed, never pooled.
func (p *pool) put(c *conn) {
	defer func() { <-p.sem }()
	if c.broken || c.l.IsClosing() || c.state == stateUser {
		c.close()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	all := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range all {
		c.close()
	}
}

func certPool(pemBytes []byte) (*x509.CertPool, error) {
	cp := x509.NewCertPool()
	if !cp.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no PEM certificate found")
	}
	return cp, nil
}
