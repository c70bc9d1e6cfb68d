package broker

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/idbroker/idbroker/sts"
)

func TestRealClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	cases := []struct {
		name, remote, xff, want string
	}{
		{"direct client ignores the header", "203.0.113.9:5000", "198.51.100.1", "203.0.113.9"},
		{"through a trusted proxy", "10.1.2.3:443", "198.51.100.7", "198.51.100.7"},
		{"spoofed left entries are skipped", "10.1.2.3:443", "1.2.3.4, 198.51.100.7", "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:443", "198.51.100.7, 10.9.9.9", "198.51.100.7"},
		{"malformed hop stops the walk", "10.1.2.3:443", "198.51.100.7, garbage", "10.1.2.3"},
		{"no header keeps the proxy", "10.1.2.3:443", "", "10.1.2.3"},
		{"ipv6 proxy", "[::1]:443", "2001:db8::1", "2001:db8::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := realClient(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = clientIP(r) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Fatalf("client %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRealClientForwardedTLS: only a trusted proxy's X-Forwarded-Proto
// (the nearest one's, the last value) marks a request as TLS.
func TestRealClientForwardedTLS(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name, remote string
		proto        []string
		want         bool
	}{
		{"trusted proxy says https", "10.1.2.3:443", []string{"https"}, true},
		{"trusted proxy says HTTPS", "10.1.2.3:443", []string{"HTTPS"}, true},
		{"trusted proxy says http", "10.1.2.3:443", []string{"http"}, false},
		{"client-sent https before the proxy's http", "10.1.2.3:443", []string{"https, http"}, false},
		{"client-sent https in a first header, proxy's http last", "10.1.2.3:443", []string{"https", "http"}, false},
		{"no header", "10.1.2.3:443", nil, false},
		{"direct client cannot claim https", "203.0.113.9:5000", []string{"https"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			h := realClient(trusted, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = sts.SecureTransport(r) }))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, p := range tc.proto {
				r.Header.Add("X-Forwarded-Proto", p)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Fatalf("SecureTransport %v, want %v", got, tc.want)
			}
		})
	}
}
