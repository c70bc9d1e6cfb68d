package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cluster is the server side of a --server run: one idbroker, or N
// replicas of one configuration on one Redis and one key directory, as
// behind a load balancer (they all name replica 0's URL as public_url).
type cluster struct {
	// addrs are the replicas' listen addresses; addrs[0] is the public URL's.
	addrs []string
	// metrics are the replicas' metrics listeners (ops runs only).
	metrics []string
	procs   []*child
	// redis is the redis-server the driver started (nil: none, or --redis-url).
	redis *child
}

func (c *cluster) pids() []int {
	out := make([]int, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.pid()
	}
	return out
}

// stop ends the replicas, then the Redis they used.
func (c *cluster) stop() {
	for _, p := range c.procs {
		p.stop()
	}
	if c.redis != nil {
		c.redis.stop()
	}
}

// startCluster writes the configuration (render gives it for a listen
// address and a deployment) into dir and starts o.replicas servers of it
// (at least one). Replicas share a Redis (o.redisURL, or a redis-server
// the driver starts) and a key directory made by the server binary's
// `keys init`. With ops, each process's metrics listener is given a
// free port (--metrics-listen) so the driver can read its counters.
func startCluster(ctx context.Context, o options, dir string, render func(listen string, d deployment) string) (*cluster, error) {
	n := max(o.replicas, 1)
	c := &cluster{}
	ok := false
	defer func() {
		if !ok {
			c.stop()
		}
	}()
	for range n {
		a, err := freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		c.addrs = append(c.addrs, a)
		if o.ops {
			m, err := freeLoopbackAddr()
			if err != nil {
				return nil, err
			}
			c.metrics = append(c.metrics, m)
		}
	}
	d := deployment{ops: o.ops}
	if n > 1 {
		d.replicas, d.redisURL, d.publicURL = n, o.redisURL, "http://"+c.addrs[0]
		if d.redisURL == "" {
			r, url, err := startRedis(ctx, filepath.Join(dir, "redis"))
			if err != nil {
				return nil, err
			}
			c.redis, d.redisURL = r, url
		}
		d.keysDir = filepath.Join(dir, "keys")
		kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(kctx, o.server, "keys", "init", d.keysDir).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s keys init: %w\n%s", o.server, err, out)
		}
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(render(c.addrs[0], d)), 0o600); err != nil {
		return nil, err
	}
	for i, a := range c.addrs {
		args := []string{"--listen", a}
		if o.ops {
			args = append(args, "--metrics-listen", c.metrics[i])
		}
		p, err := startServer(ctx, o.server, cfgPath, a, args, o.serverEnv)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		c.procs = append(c.procs, p)
	}
	if n > 1 {
		// Ready: the store answers and the revocation set is synced.
		for i, a := range c.addrs {
			if err := waitStatus(ctx, "http://"+a+"/readyz", http.StatusOK, 30*time.Second); err != nil {
				return nil, fmt.Errorf("replica %d not ready: %w\n%s", i, err, c.procs[i].lastOutput())
			}
		}
	}
	ok = true
	return c, nil
}

// startRedis runs a throwaway redis-server on a free loopback port (no
// persistence, its files in dir), as internal/store/redistest does for
// the tests.
func startRedis(ctx context.Context, dir string) (*child, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("--replicas needs redis-server (apt-get install redis-server) or --redis-url of a running Redis")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, "", err
	}
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.CommandContext(ctx, bin, "--bind", host, "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
	r := &child{name: "redis-server", cmd: cmd, addr: addr}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return r, "redis://" + addr + "/0", nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.stop()
			return nil, "", fmt.Errorf("redis-server did not start on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStatus polls url until it answers want, bounded by limit.
func waitStatus(ctx context.Context, url string, want int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s", url, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// counterSum is the sum of every series of the counter family on the
// metrics listeners addrs (Prometheus text format).
func counterSum(ctx context.Context, addrs []string, family string) (float64, error) {
	var sum float64
	client := &http.Client{Timeout: 5 * time.Second}
	for _, a := range addrs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a+"/metrics", nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			rest, ok := strings.CutPrefix(line, family)
			if !ok || (rest == "" || (rest[0] != '{' && rest[0] != ' ')) {
				continue
			}
			if i := strings.LastIndexByte(rest, '}'); i >= 0 {
				rest = rest[i+1:]
			}
			f := strings.Fields(rest)
			if len(f) == 0 {
				continue
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err == nil {
				sum += v
			}
		}
		_ = resp.Body.Close()
		if err := sc.Err(); err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s/metrics: %s", a, resp.Status)
		}
	}
	return sum, nil
}
