package broker

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/idbroker/idbroker/sts"
)

// realClient sets r.RemoteAddr to the client's address when the request
// came through a trusted proxy: X-Forwarded-For is read from the right,
// skipping trusted proxies, and the first other address is the client. From
// any other peer the header is ignored, so a client cannot choose the
// address that lock-outs, audit and aws:SourceIp see. Likewise a trusted
// proxy's X-Forwarded-Proto: https (its last value: the nearest proxy's)
// marks the request as received over TLS (aws:SecureTransport).
func realClient(trusted []netip.Prefix, h http.Handler) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	isTrusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		peer, perr := netip.ParseAddr(host)
		if err != nil || perr != nil || !isTrusted(peer) {
			h.ServeHTTP(w, r)
			return
		}
		client := peer
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed hop ends what can be believed
			}
			client = a.Unmap()
			if !isTrusted(client) {
				break
			}
		}
		ctx := r.Context()
		if protos := strings.Split(strings.Join(r.Header.Values("X-Forwarded-Proto"), ","), ","); strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https") {
			ctx = sts.WithForwardedTLS(ctx)
		}
		r2 := r.Clone(ctx)
		r2.RemoteAddr = netip.AddrPortFrom(client, 0).String()
		h.ServeHTTP(w, r2)
	})
}
