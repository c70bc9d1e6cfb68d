// Package loopback is idbroker's one test of "this address is the local
// machine", the condition under which a plain (unencrypted) http:// or
// ldap:// URL is allowed in configuration, and the only kind of address
// the benchmark tool will contact.
//
// It imports nothing of idbroker's.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (a name or an IP address, without a port;
// an IPv6 address may keep its brackets) is a loopback address:
// "localhost" in any case, 127.0.0.0/8, or ::1 (also as ::ffff:127.x.y.z).
// A name that merely starts with "127." is not an address.
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

// Addr reports whether addr (host:port) has a loopback host.
func Addr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && Host(host)
}
