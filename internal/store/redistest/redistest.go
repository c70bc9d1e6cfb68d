// Package redistest starts a throwaway redis-server on a free loopback port
// for tests: no persistence, its own temp dir, stopped by pid at cleanup.
// Without redis-server the test is skipped loudly, or fails when CI=true.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	URL  string
	Addr string
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

func findRedis() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		return "/usr/bin/redis-server", nil
	}
	return "", fmt.Errorf("redis-server not found (apt-get install redis-server, or make test as root)")
}

// Start runs a redis-server for the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findRedis()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("REDIS NOT AVAILABLE in CI: %v", err)
		}
		t.Skipf("REDIS NOT AVAILABLE: %v — install redis-server to run this test", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{
		Addr: fmt.Sprintf("127.0.0.1:%d", port), URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port),
		bin: bin, dir: t.TempDir(), port: port,
	}
	t.Cleanup(s.Stop)
	s.run(t)
	return s
}

// run starts redis-server on s.port and waits until it accepts connections.
func (s *Server) run(t testing.TB) {
	t.Helper()
	cmd := exec.Command(s.bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(s.port), "--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts a stopped server again on the same address, empty (it
// keeps no data), so clients can be seen to reconnect by themselves.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.run(t)
}

// Pause freezes the server (SIGSTOP): connections stay open and every
// request hangs, as with a server that stopped answering.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	if s.cmd == nil || s.cmd.Process == nil {
		t.Fatal("redistest: Pause on a stopped server")
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("redistest: pause: %v", err)
	}
	t.Cleanup(func() { s.Resume(t) })
}

// Resume lets a paused server answer again (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	if s.cmd != nil && s.cmd.Process != nil {
		if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Errorf("redistest: resume: %v", err)
		}
	}
}
