package oidc

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

const (
	// DefaultTimeout bounds every request to an upstream issuer.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxResponseBytes caps discovery, JWKS, token, userinfo and
	// overage response bodies.
	DefaultMaxResponseBytes int64 = 1 << 20
	maxRedirects                  = 3
)

// errBodyTooLarge is returned by reads past the response size cap.
var errBodyTooLarge = errors.New("response body exceeds size limit")

// newHTTPClient returns a copy of base (or a fresh client) whose transport
// caps response bodies at maxBytes, whose overall timeout is set when the
// base has none, and which refuses https->http redirects and long redirect
// chains. The caller's client is never modified.
func newHTTPClient(base *http.Client, timeout time.Duration, maxBytes int64) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	}
	if c.Timeout == 0 {
		c.Timeout = timeout
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = &cappedTransport{next: rt, max: maxBytes}
	prev := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if len(via) > 0 && via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return errors.New("refusing redirect from https to " + req.URL.Scheme)
		}
		if prev != nil {
			return prev(req, via)
		}
		return nil
	}
	return &c
}

// cappedTransport wraps response bodies so that reading more than max bytes
// fails instead of buffering without bound (go-oidc and x/oauth2 read
// bodies with io.ReadAll).
type cappedTransport struct {
	next http.RoundTripper
	max  int64
}

func (t *cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w (Content-Length %d)", req.URL.Redacted(), errBodyTooLarge, resp.ContentLength)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe one byte: a body of exactly max bytes is fine.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// readBody reads a whole (already capped) body.
func readBody(resp *http.Response) ([]byte, error) {
	return io.ReadAll(resp.Body)
}

// withoutErrorBodies returns a copy of c whose non-200 responses arrive
// with an empty body: go-oidc quotes such bodies in its errors, and
// upstream content must not reach logs or callers.
func withoutErrorBodies(c *http.Client) *http.Client {
	cp := *c
	next := cp.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cp.Transport = statusOnlyTransport{next: next}
	return &cp
}

type statusOnlyTransport struct{ next http.RoundTripper }

func (t statusOnlyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		resp.Body = http.NoBody
		resp.ContentLength = 0
	}
	return resp, nil
}
