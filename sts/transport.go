package sts

import (
	"context"
	"net/http"
	"strconv"

	"github.com/idbroker/idbroker/sts/policy"
)

// forwardedTLSKey marks a request context: a trusted reverse proxy received
// the client's request over TLS.
type forwardedTLSKey struct{}

// WithForwardedTLS marks ctx as belonging to a request that a trusted
// reverse proxy received from the client over TLS (X-Forwarded-Proto: https
// from a peer among the trusted proxies). Only the layer that decides which
// peers are trusted proxies — the one that rewrites RemoteAddr from
// X-Forwarded-For — may call it: the STS never reads X-Forwarded-Proto
// itself, so a client cannot claim TLS by sending the header.
func WithForwardedTLS(ctx context.Context) context.Context {
	return context.WithValue(ctx, forwardedTLSKey{}, true)
}

// SecureTransport reports whether the client's request came over TLS: the
// connection to the STS is TLS, or a trusted proxy received it over TLS
// (WithForwardedTLS). It is the value of aws:SecureTransport.
func SecureTransport(r *http.Request) bool {
	if r == nil {
		return false
	}
	if r.TLS != nil {
		return true
	}
	fwd, _ := r.Context().Value(forwardedTLSKey{}).(bool)
	return fwd
}

// setTransportKeys sets aws:SecureTransport and aws:RequestedRegion of a
// request; region "" is the STS's configured region (unsigned requests,
// in-process callers).
func (s *Service) setTransportKeys(pctx *policy.Context, secure bool, region string) {
	pctx.Set("aws:SecureTransport", strconv.FormatBool(secure))
	if region == "" {
		region = s.region
	}
	pctx.Set("aws:RequestedRegion", region)
}
