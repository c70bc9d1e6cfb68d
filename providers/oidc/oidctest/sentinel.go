package oidctest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Sentinel is an egress sentinel: an HTTP server that records every
// request; tests assert it saw none.
type Sentinel struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits int
}

// NewSentinel starts an egress sentinel.
func NewSentinel(t testing.TB) *Sentinel {
	s := &Sentinel{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.hits++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{}, "value": []string{"admins"}})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the sentinel's base URL.
func (s *Sentinel) URL() string { return s.srv.URL }

// Hits is how many requests the sentinel received.
func (s *Sentinel) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}
