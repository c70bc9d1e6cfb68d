package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procStats are the figures of a local process read from /proc.
type procStats struct {
	RSSKiB, HWMKiB        int64 // VmRSS, VmHWM
	CPUTicks              int64 // utime + stime, in clock ticks (USER_HZ)
	WriteBytes, WriteChar int64 // /proc/<pid>/io write_bytes (to storage) and wchar (all writes)
}

// clkTck is USER_HZ; 100 on every Linux this runs on.
const clkTck = 100

func readProc(pid int) (procStats, error) {
	var ps procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			ps.RSSKiB = kib(v)
		case "VmHWM":
			ps.HWMKiB = kib(v)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name may contain spaces: fields start after the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
		f := strings.Fields(string(stat[i+1:]))
		// f[0] is field 3 (state); utime and stime are fields 14 and 15.
		if len(f) > 13 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ps.CPUTicks = u + s
		}
	}
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			k, v, _ := strings.Cut(line, ":")
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			switch k {
			case "write_bytes":
				ps.WriteBytes = n
			case "wchar":
				ps.WriteChar = n
			}
		}
	}
	return ps, nil
}

// readProcs sums the figures of pids (replicas); per holds each one's.
func readProcs(pids []int) (sum procStats, per []procStats, err error) {
	for _, pid := range pids {
		ps, err := readProc(pid)
		if err != nil {
			return sum, nil, err
		}
		sum.RSSKiB += ps.RSSKiB
		sum.HWMKiB += ps.HWMKiB
		sum.CPUTicks += ps.CPUTicks
		sum.WriteBytes += ps.WriteBytes
		sum.WriteChar += ps.WriteChar
		per = append(per, ps)
	}
	return sum, per, nil
}

func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n
}

// resetPeakRSS resets VmHWM to the current RSS (clear_refs "5"), so each
// flow reports its own peak. Errors are ignored by callers that can live
// with a lifetime peak.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler samples the VmRSS of its processes (summed) every interval
// until stopped.
type rssSampler struct {
	stop    chan struct{}
	done    chan struct{}
	samples []int64
}

func sampleRSS(pids []int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for len(s.samples) < 100_000 {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if ps, _, err := readProcs(pids); err == nil {
					s.samples = append(s.samples, ps.RSSKiB)
				}
			}
		}
	}()
	return s
}

func (s *rssSampler) finish() []int64 {
	close(s.stop)
	<-s.done
	return s.samples
}

// child is a process the driver started (the server or a floor).
type child struct {
	name string
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	tail []byte // last bytes of its stderr, for diagnostics
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// drainTail reads r to the end, keeping the last 8 KiB.
func (c *child) drainTail(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			c.mu.Lock()
			c.tail = append(c.tail, buf[:n]...)
			if len(c.tail) > 8<<10 {
				c.tail = append([]byte(nil), c.tail[len(c.tail)-8<<10:]...)
			}
			c.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (c *child) lastOutput() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.tail)
}

// stop sends SIGINT, then kills after a grace period.
func (c *child) stop() {
	if c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// startServer runs the idbroker binary with the bench configuration (and
// args after it) and waits until /healthz answers.
func startServer(ctx context.Context, bin, configPath, addr string, args, env []string) (*child, error) {
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--config", configPath}, args...)...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: "idbroker", cmd: cmd, addr: addr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go c.drainTail(stderr)
	if err := waitHTTP(ctx, "http://"+addr+"/healthz", 15*time.Second); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s did not become healthy: %w\n%s", bin, err, c.lastOutput())
	}
	return c, nil
}

// startFloor runs this binary's floor subcommand and reads its address.
func startFloor(ctx context.Context, self string, args []string) (*child, error) {
	cmd := exec.CommandContext(ctx, self, append([]string{"floor"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	c := &child{name: "floor", cmd: cmd}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start floor: %w", err)
	}
	go c.drainTail(stderr)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "listening ")
		if !ok || !found {
			c.stop()
			return nil, fmt.Errorf("floor did not start: %s", c.lastOutput())
		}
		c.addr = addr
	case <-time.After(15 * time.Second):
		c.stop()
		return nil, errors.New("floor did not start within 15s")
	}
	return c, waitHTTP(ctx, "http://"+c.addr+"/", 5*time.Second)
}

// waitHTTP polls url until it answers (any status), bounded by limit.
func waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeLoopbackAddr returns a 127.0.0.1 address that was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
