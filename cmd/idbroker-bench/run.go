package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/internal/loopback"
)

// bench is the shared state of one benchmark run.
type bench struct {
	opts   options
	log    *slog.Logger
	issuer *issuer
	tokens []string
	hash   []byte
	// ldap is the bench directory; nil with ldapSkip saying why.
	ldap     *ldapDir
	ldapSkip string
	// saml is the bench SAML IdP; nil with samlSkip saying why. samlPool
	// holds the Responses of the last idbroker saml run.
	saml     *samlIdP
	samlSkip string
	samlPool []string
	// metrics are the servers' metrics listeners (ops runs the driver
	// started), read around each run.
	metrics []string
	// redisPid is the redis-server the driver started for replicas (0:
	// none); its CPU is reported apart from the servers'.
	redisPid int
}

func benchmark(ctx context.Context, o options, log *slog.Logger) (*report, error) {
	conns, err := parseInts(o.conns)
	if err != nil {
		return nil, fmt.Errorf("--conns: %w", err)
	}
	wanted := map[string]bool{}
	for _, f := range strings.Split(o.flows, ",") {
		wanted[strings.TrimSpace(f)] = true
	}
	for _, a := range []string{o.addr, o.issuerListen} {
		if a != "" && !loopback.Addr(a) {
			return nil, fmt.Errorf("%s is not a loopback address", a)
		}
	}
	if o.redisURL != "" {
		u, err := url.Parse(o.redisURL)
		if err != nil || !loopback.Addr(u.Host) {
			return nil, errors.New("--redis-url must be redis://HOST:PORT/DB on a loopback address")
		}
	}
	rep := &report{Date: time.Now().UTC().Format(time.RFC3339), Commit: gitCommit(), CPUModel: cpuModel(),
		Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg(), Note: o.note, ServerEnv: o.serverEnv,
		DurationSec: o.duration.Seconds(), Ops: o.ops, Replicas: max(o.replicas, 1), Store: "memory"}
	if o.replicas > 1 {
		rep.Store = "redis"
	}

	b := &bench{opts: o, log: log}
	b.issuer, err = startIssuerOn(o.issuerListen)
	if err != nil {
		return nil, err
	}
	defer b.issuer.close()
	log.Info("minting tokens", "issuer", b.issuer.url)
	b.tokens, err = b.issuer.mintPool(2048, 3*time.Hour)
	if err != nil {
		return nil, err
	}
	b.hash, err = bcrypt.GenerateFromPassword([]byte(benchPassword), benchBcryptCost)
	if err != nil {
		return nil, err
	}

	if wanted["ldap"] {
		if o.server == "" {
			b.ldapSkip = "the ldap flow needs --server (the driver starts slapd and configures the server for it)"
		} else if dir, err := startLDAP(); err != nil {
			b.ldapSkip = err.Error()
		} else {
			defer dir.Close()
			b.ldap = &ldapDir{URL: dir.LDAPSURL, CAFile: dir.CAFile}
		}
	}

	server := target{kind: "idbroker", addr: o.addr}
	pids := []int{}
	if o.pid > 0 {
		pids = append(pids, o.pid)
	}
	b.samlSkip = "the saml flow needs --server (the driver registers its IdP in the server's config)"
	if o.server != "" {
		dir, err := os.MkdirTemp("", "idbroker-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if wanted["saml"] {
			if b.saml, err = newSAMLIdP(dir); err != nil {
				return nil, err
			}
		}
		cl, err := startCluster(ctx, o, dir, func(listen string, d deployment) string {
			return benchConfig(listen, b.issuer.url, string(b.hash), b.ldap, b.saml, d)
		})
		if err != nil {
			return nil, err
		}
		defer cl.stop()
		server.addr, pids, b.metrics = cl.addrs[0], cl.pids(), cl.metrics
		if cl.redis != nil {
			b.redisPid = cl.redis.pid()
		}
		if len(cl.addrs) > 1 {
			server.dial = cl.addrs
			log.Info("replicas", "n", len(cl.addrs), "addrs", cl.addrs, "public_url", "http://"+cl.addrs[0])
			if o.profileDir != "" {
				log.Info("profiles are of replica 0 only")
			}
		}
	}
	if o.replicas > 1 && !o.noFloor {
		rep.FloorSkipped = fmt.Sprintf("not run: %d replicas against one floor process is no like-for-like comparison", o.replicas)
		log.Info("floor skipped", "reason", rep.FloorSkipped)
		o.noFloor = true
	}
	var fl *child
	if !o.noFloor {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		args := []string{"--issuer", b.issuer.url, "--bcrypt-hash", string(b.hash)}
		if b.ldap != nil {
			args = append(args, "--ldap-url", b.ldap.URL, "--ldap-ca-file", b.ldap.CAFile)
		}
		if b.saml != nil {
			args = append(args, "--saml-cert", b.saml.certPath)
		}
		fl, err = startFloor(ctx, self, args)
		if err != nil {
			return nil, err
		}
		defer fl.stop()
	}

	for _, f := range flows() {
		if !wanted[f.name] {
			continue
		}
		for _, c := range conns {
			r := b.runFlow(ctx, f, server, pids, c)
			if fl != nil {
				fr := b.runFlow(ctx, f, target{kind: "floor", addr: fl.addr}, []int{fl.pid()}, c)
				if fr.OK > 0 && r.OK > 0 {
					r.FloorFraction = r.ReqPerSec / fr.ReqPerSec
					r.P99VsFloor = float64(r.P99) / float64(max(fr.P99, 1))
				}
				rep.Rows = append(rep.Rows, r, fr)
			} else {
				rep.Rows = append(rep.Rows, r)
			}
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
		}
	}
	if o.rssConns > 0 && wanted["web-identity"] {
		for _, f := range flows() {
			if f.name == "web-identity" {
				rep.Rows = append(rep.Rows, b.runFlow(ctx, f, server, pids, o.rssConns))
				if fl != nil {
					rep.Rows = append(rep.Rows, b.runFlow(ctx, f, target{kind: "floor", addr: fl.addr}, []int{fl.pid()}, o.rssConns))
				}
			}
		}
	}
	rep.LoadEnd = loadAvg()
	return rep, nil
}

func startIssuerOn(listen string) (*issuer, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	return startIssuer(listen)
}

// runFlow runs one flow against one target at one concurrency; pids are
// the target's processes (several replicas: RSS and CPU are their sums).
func (b *bench) runFlow(ctx context.Context, f flowDef, t target, pids []int, conns int) row {
	r := row{Flow: f.name, Target: t.kind, Conns: conns}
	p, skip, err := f.prepare(ctx, b, t, conns)
	switch {
	case err != nil:
		r.Skipped = "error: " + err.Error()
		b.log.Error("flow setup failed", "flow", f.name, "target", t.kind, "err", err)
		return r
	case skip != "":
		r.Skipped = skip
		b.log.Info("flow skipped", "flow", f.name, "target", t.kind, "reason", skip)
		return r
	}
	b.log.Info("running", "flow", f.name, "target", t.kind, "conns", conns, "duration", b.opts.duration)
	var before procStats
	var sampler *rssSampler
	if len(pids) > 0 {
		for _, pid := range pids {
			_ = resetPeakRSS(pid)
		}
		before, _, _ = readProcs(pids)
		sampler = sampleRSS(pids, 250*time.Millisecond)
	}
	var throttles0, issued0 float64
	var metricsErr error
	readMetrics := t.kind == "idbroker" && len(b.metrics) > 0
	if readMetrics {
		throttles0, metricsErr = counterSum(ctx, b.metrics, "idbroker_throttles_total")
		if metricsErr == nil {
			issued0, metricsErr = counterSum(ctx, b.metrics, "idbroker_sts_credentials_issued_total")
		}
	}
	var profDone chan struct{}
	if b.opts.profileDir != "" && t.kind == "idbroker" && conns == firstConns(b.opts.conns) {
		profDone = b.profile(ctx, t.addr, f.name, conns)
	}
	var redis0 procStats
	if b.redisPid > 0 && t.kind == "idbroker" {
		redis0, _ = readProc(b.redisPid)
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	res := runLoad(loadSpec{Addr: t.addr, Dial: t.dial, Conns: conns, Warmup: b.opts.warmup, Duration: b.opts.duration,
		MaxRequests: b.opts.maxRequests, NewGen: p.newGen, Check: p.check})
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	if profDone != nil {
		<-profDone
	}
	r.loadResult = res
	total := float64(res.Requests)
	if total > 0 {
		r.DriverCPUus = float64(cpuDelta(ru0, ru1).Microseconds()) / total
	}
	if b.redisPid > 0 && t.kind == "idbroker" && total > 0 {
		if redis1, err := readProc(b.redisPid); err == nil {
			r.RedisCPUus = float64(redis1.CPUTicks-redis0.CPUTicks) * (1e6 / clkTck) / (total + float64(res.WarmupRequests))
		}
	}
	if readMetrics && metricsErr == nil {
		throttles1, err1 := counterSum(ctx, b.metrics, "idbroker_throttles_total")
		issued1, err2 := counterSum(ctx, b.metrics, "idbroker_sts_credentials_issued_total")
		metricsErr = errors.Join(err1, err2)
		if metricsErr == nil {
			r.Metrics = &metricsFigures{Throttles: throttles1 - throttles0, Issued: issued1 - issued0}
		}
	}
	if metricsErr != nil {
		b.log.Warn("metrics not read", "flow", f.name, "err", metricsErr)
	}
	if len(pids) > 0 {
		samples := sampler.finish()
		after, per, err := readProcs(pids)
		if err == nil {
			r.PeakRSSMiB = float64(after.HWMKiB) / 1024
			if len(per) > 1 {
				for _, ps := range per {
					r.PeakRSSPerReplicaMiB = append(r.PeakRSSPerReplicaMiB, float64(ps.HWMKiB)/1024)
				}
			}
			if total > 0 {
				// The server's CPU covers the warm-up requests too.
				r.ServerCPUus = float64(after.CPUTicks-before.CPUTicks) * (1e6 / clkTck) / (total + float64(res.WarmupRequests))
				r.DiskBytesPerReq = float64(after.WriteBytes-before.WriteBytes) / total
				r.WriteBytesPerOK = float64(after.WriteChar-before.WriteChar) / total
			}
		}
		if len(samples) > 0 {
			r.RSSStartMiB = float64(samples[0]) / 1024
			r.RSSEndMiB = float64(samples[len(samples)-1]) / 1024
		}
	}
	return r
}

func cpuDelta(a, b syscall.Rusage) time.Duration {
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(b.Utime) + tv(b.Stime) - tv(a.Utime) - tv(a.Stime)
}

func firstConns(s string) int {
	c, _ := parseInts(s)
	if len(c) == 0 {
		return 0
	}
	return c[0]
}

// profile fetches a CPU and an allocation profile of the measured interval.
func (b *bench) profile(ctx context.Context, addr, flow string, conns int) chan struct{} {
	done := make(chan struct{})
	secs := int((b.opts.warmup + b.opts.duration - time.Second).Seconds())
	secs = max(secs, 1)
	fetch := func(kind string) {
		url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", addr, kind, secs)
		path := filepath.Join(b.opts.profileDir, fmt.Sprintf("%s-%d.%s.pprof", flow, conns, kind))
		if err := fetchToFile(ctx, url, path, time.Duration(secs+30)*time.Second); err != nil {
			b.log.Warn("profile", "kind", kind, "err", err)
		}
	}
	go func() {
		defer close(done)
		if err := os.MkdirAll(b.opts.profileDir, 0o755); err != nil {
			b.log.Warn("profile dir", "err", err)
			return
		}
		time.Sleep(b.opts.warmup)
		ch := make(chan struct{})
		go func() { fetch("allocs"); close(ch) }()
		fetch("profile")
		<-ch
	}()
	return done
}

func fetchToFile(ctx context.Context, url, path string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d (is server.pprof true?)", url, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10_000 {
			return nil, fmt.Errorf("%q is not a connection count (1..10000)", f)
		}
		out = append(out, n)
	}
	return out, nil
}
