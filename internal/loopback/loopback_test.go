package loopback

import "testing"

func TestHost(t *testing.T) {
	loopbacks := []string{"localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1"}
	others := []string{"", "127.example.com", "127.0.0.1.nip.io", "localhost.example.com", "10.0.0.1", "::", "0.0.0.0", "[::2]", "localhost:80"}
	for _, h := range loopbacks {
		if !Host(h) {
			t.Errorf("Host(%q) = false", h)
		}
	}
	for _, h := range others {
		if Host(h) {
			t.Errorf("Host(%q) = true", h)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "[::1]:1": true, "localhost:1": true, "127.0.0.1": false, "example.com:80": false} {
		if got := Addr(addr); got != want {
			t.Errorf("Addr(%q) = %v, want %v", addr, got, want)
		}
	}
}
