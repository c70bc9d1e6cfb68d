// Command idbroker-bench is the load driver of idbroker: it drives a running
// server over loopback, flow by flow, with C connections for T seconds, and
// compares each flow with its floor — a bare net/http server (this binary's
// "floor" subcommand) doing only the work the flow cannot avoid.
//
//	idbroker-bench --server bin/idbroker [--flows web-identity,caller-identity,api-login]
//	               [--conns 64,256] [--duration 10s] [--rss-conns 1000] [--json out.json]
//	               [--profile-dir DIR]
//	idbroker-bench --addr 127.0.0.1:8080 --pid N --issuer-listen 127.0.0.1:18081 …
//	idbroker-bench config --listen 127.0.0.1:8080 --issuer-listen 127.0.0.1:18081
//	idbroker-bench floor --listen 127.0.0.1:0 --issuer URL --bcrypt-hash HASH
//
// It prints a table and, with --json, writes the same figures as JSON.
// Only loopback addresses are accepted.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/internal/loopback"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// benchBcryptCost is the cost of the bench user's hash: the minimum, so the
// api-login flow measures the broker rather than bcrypt (cost 10 alone is
// ~50 ms of CPU per login).
const benchBcryptCost = bcrypt.MinCost

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type floorArgs struct {
	listen, issuer, bcryptHash string
	ldapURL, ldapCAFile        string
	samlCert                   string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "floor":
			fs := flag.NewFlagSet("floor", flag.ContinueOnError)
			fs.SetOutput(stderr)
			var fa floorArgs
			fs.StringVar(&fa.listen, "listen", "127.0.0.1:0", "loopback address to listen on")
			fs.StringVar(&fa.issuer, "issuer", "", "bench issuer URL (its JWKS is read once)")
			fs.StringVar(&fa.bcryptHash, "bcrypt-hash", "", "bcrypt hash of the bench user's password")
			fs.StringVar(&fa.ldapURL, "ldap-url", "", "ldaps:// URL of the bench directory (ldap floor)")
			fs.StringVar(&fa.ldapCAFile, "ldap-ca-file", "", "CA certificate of the bench directory")
			fs.StringVar(&fa.samlCert, "saml-cert", "", "PEM certificate of the bench SAML IdP (saml floor)")
			if err := fs.Parse(args[1:]); err != nil {
				return 2
			}
			if err := serveFloor(ctx, fa, stdout); err != nil {
				fmt.Fprintln(stderr, "idbroker-bench floor:", err)
				return 1
			}
			return 0
		case "config":
			return runConfig(args[1:], stdout, stderr)
		}
	}
	var o options
	fs := flag.NewFlagSet("idbroker-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", "", "idbroker binary to start (with a generated bench config)")
	fs.StringVar(&o.addr, "addr", "", "address of an already running idbroker (started with `idbroker-bench config`)")
	fs.IntVar(&o.pid, "pid", 0, "pid of the running idbroker, for RSS and CPU figures")
	fs.StringVar(&o.issuerListen, "issuer-listen", "127.0.0.1:0", "loopback address of the bench OIDC issuer")
	fs.StringVar(&o.flows, "flows", "web-identity,caller-identity,saml,ldap,api-login", "flows to run")
	fs.StringVar(&o.conns, "conns", "64,256", "concurrencies (connections)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per flow and concurrency")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before each run")
	fs.IntVar(&o.maxRequests, "max-requests", 1_000_000, "upper bound of requests per connection per run")
	fs.IntVar(&o.samlPool, "saml-pool", 16000, "signed SAML Responses minted before each saml run (each is used once)")
	fs.IntVar(&o.rssConns, "rss-conns", 1000, "connections of the final web-identity RSS run (0 = none)")
	fs.BoolVar(&o.noFloor, "no-floor", false, "do not run the floor servers")
	fs.StringVar(&o.jsonOut, "json", "", "write the results as JSON to this file")
	fs.StringVar(&o.profileDir, "profile-dir", "", "save CPU and allocation profiles of idbroker (needs server.pprof) here")
	fs.Func("server-env", "KEY=VALUE added to the started server's environment (repeatable; e.g. GOMEMLIMIT=80MiB)", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	fs.StringVar(&o.note, "note", "", "free text recorded with the results (e.g. 'machine busy')")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (o.server == "") == (o.addr == "") {
		fmt.Fprintln(stderr, "idbroker-bench: give exactly one of --server BIN and --addr HOST:PORT")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep, err := benchmark(ctx, o, log)
	if err != nil {
		fmt.Fprintln(stderr, "idbroker-bench:", err)
		return 1
	}
	printTable(stdout, rep)
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(o.jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "idbroker-bench: write json:", err)
			return 1
		}
	}
	return 0
}

type options struct {
	server, addr, issuerListen string
	pid                        int
	flows, conns               string
	duration, warmup           time.Duration
	maxRequests, rssConns      int
	samlPool                   int
	noFloor                    bool
	jsonOut, profileDir, note  string
	serverEnv                  []string
}

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
}

// report is the whole output.
type report struct {
	Date        string   `json:"date"`
	Commit      string   `json:"commit"`
	CPUModel    string   `json:"cpu_model"`
	Cores       int      `json:"cores"`
	GoVersion   string   `json:"go_version"`
	LoadStart   string   `json:"loadavg_start"`
	LoadEnd     string   `json:"loadavg_end"`
	Note        string   `json:"note,omitempty"`
	ServerEnv   []string `json:"server_env,omitempty"`
	DurationSec float64  `json:"duration_sec"`
	Rows        []row    `json:"rows"`
}

// row is one flow x target x concurrency.
type row struct {
	Flow    string `json:"flow"`
	Target  string `json:"target"` // idbroker | floor
	Conns   int    `json:"conns"`
	Skipped string `json:"skipped,omitempty"`
	loadResult
	PeakRSSMiB      float64 `json:"peak_rss_mib,omitempty"`
	RSSStartMiB     float64 `json:"rss_start_mib,omitempty"`
	RSSEndMiB       float64 `json:"rss_end_mib,omitempty"`
	ServerCPUus     float64 `json:"server_cpu_us_per_req,omitempty"`
	DriverCPUus     float64 `json:"driver_cpu_us_per_req,omitempty"`
	DiskBytesPerReq float64 `json:"disk_write_bytes_per_req"`
	WriteBytesPerOK float64 `json:"write_bytes_per_req"` // wchar: logs to a pipe included
	FloorFraction   float64 `json:"floor_fraction,omitempty"`
	P99VsFloor      float64 `json:"p99_vs_floor,omitempty"`
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
	rep := &report{Date: time.Now().UTC().Format(time.RFC3339), Commit: gitCommit(), CPUModel: cpuModel(),
		Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAvg(), Note: o.note, ServerEnv: o.serverEnv,
		DurationSec: o.duration.Seconds()}

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
	pid := o.pid
	b.samlSkip = "the saml flow needs --server (the driver registers its IdP in the server's config)"
	if o.server != "" {
		dir, err := os.MkdirTemp("", "idbroker-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		server.addr, err = freeLoopbackAddr()
		if err != nil {
			return nil, err
		}
		if wanted["saml"] {
			if b.saml, err = newSAMLIdP(dir); err != nil {
				return nil, err
			}
		}
		cfgPath := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(cfgPath, []byte(benchConfig(server.addr, b.issuer.url, string(b.hash), b.ldap, b.saml)), 0o600); err != nil {
			return nil, err
		}
		srv, err := startServer(ctx, o.server, cfgPath, server.addr, o.serverEnv)
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		pid = srv.pid()
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
			r := b.runFlow(ctx, f, server, pid, c)
			if fl != nil {
				fr := b.runFlow(ctx, f, target{kind: "floor", addr: fl.addr}, fl.pid(), c)
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
				rep.Rows = append(rep.Rows, b.runFlow(ctx, f, server, pid, o.rssConns))
				if fl != nil {
					rep.Rows = append(rep.Rows, b.runFlow(ctx, f, target{kind: "floor", addr: fl.addr}, fl.pid(), o.rssConns))
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

// runFlow runs one flow against one target at one concurrency.
func (b *bench) runFlow(ctx context.Context, f flowDef, t target, pid, conns int) row {
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
	if pid > 0 {
		_ = resetPeakRSS(pid)
		before, _ = readProc(pid)
		sampler = sampleRSS(pid, 250*time.Millisecond)
	}
	var profDone chan struct{}
	if b.opts.profileDir != "" && t.kind == "idbroker" && conns == firstConns(b.opts.conns) {
		profDone = b.profile(ctx, t.addr, f.name, conns)
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	res := runLoad(loadSpec{Addr: t.addr, Conns: conns, Warmup: b.opts.warmup, Duration: b.opts.duration,
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
	if pid > 0 {
		samples := sampler.finish()
		after, err := readProc(pid)
		if err == nil {
			r.PeakRSSMiB = float64(after.HWMKiB) / 1024
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

func printTable(w io.Writer, rep *report) {
	fmt.Fprintf(w, "# %s  commit %s  %s x%d  %s  load %s -> %s\n", rep.Date, rep.Commit, rep.CPUModel, rep.Cores, rep.GoVersion, rep.LoadStart, rep.LoadEnd)
	if rep.Note != "" {
		fmt.Fprintf(w, "# note: %s\n", rep.Note)
	}
	if len(rep.ServerEnv) > 0 {
		fmt.Fprintf(w, "# server environment: %s\n", strings.Join(rep.ServerEnv, " "))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "flow\ttarget\tconns\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\tpeak RSS MiB\tRSS start->end\tsrv CPU us/req\tdisk B/req\tof floor\tp99/floor\t")
	var skipped []string
	for _, r := range rep.Rows {
		if r.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s, %d conns): %s", r.Flow, r.Target, r.Conns, r.Skipped))
			continue
		}
		frac, p99 := "", ""
		if r.FloorFraction > 0 {
			frac, p99 = fmt.Sprintf("%.2f", r.FloorFraction), fmt.Sprintf("%.2f", r.P99VsFloor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%.1f\t%.1f->%.1f\t%.0f\t%.1f\t%s\t%s\t\n",
			r.Flow, r.Target, r.Conns, r.ReqPerSec, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, formatErrors(r.Errors),
			r.PeakRSSMiB, r.RSSStartMiB, r.RSSEndMiB, r.ServerCPUus, r.DiskBytesPerReq, frac, p99)
	}
	_ = tw.Flush()
	for _, s := range skipped {
		fmt.Fprintln(w, "skipped:", s)
	}
}

func formatErrors(m map[string]uint64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return strings.Join(parts, ",")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func gitCommit() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// runConfig prints the bench configuration for a server started by hand.
func runConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "the server's loopback address")
	issuerListen := fs.String("issuer-listen", "127.0.0.1:18081", "where the driver will serve its issuer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !loopback.Addr(*listen) || !loopback.Addr(*issuerListen) {
		fmt.Fprintln(stderr, "idbroker-bench config: addresses must be loopback")
		return 2
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), benchBcryptCost)
	if err != nil {
		fmt.Fprintln(stderr, "idbroker-bench config:", err)
		return 1
	}
	fmt.Fprint(stdout, benchConfig(*listen, "http://"+*issuerListen, string(hash), nil, nil))
	return 0
}

// benchConfig is the idbroker configuration the flows need: the bench
// issuer registered in sts.oidc_providers, a role trusting it (and the
// broker), a static user with a cheap hash, pprof on; with idp, the bench
// SAML IdP in sts.saml_providers and trusted by the role.
func benchConfig(listen, issuerURL, hash string, dir *ldapDir, idp *samlIdP) string {
	hostPath := strings.TrimPrefix(issuerURL, "http://")
	var ldapProvider, ldapRule, ldapSTS, samlTrust, samlSTS string
	if idp != nil {
		samlTrust = fmt.Sprintf(`        - Sid: TrustBenchSAMLIdP
          Effect: Allow
          Principal: {Federated: %q}
          Action: sts:AssumeRoleWithSAML
          Condition:
            StringEquals: {"SAML:aud": %q}
`, samlProviderARN, samlRecipient)
		samlSTS = fmt.Sprintf("  saml_providers:\n    - name: %s\n      metadata_file: %s\n", samlProviderName, idp.metadataPath)
	}
	if dir != nil {
		ldapProvider = fmt.Sprintf(`  - name: %s
    type: ldap
    url: %s
    ca_file: %s
    bind_dn: %q
    bind_password: %q
    user_search: {base_dn: %q, filter: %q}
    group_search: {base_dn: %q, filter: %q}
`, ldapProviderName, dir.URL, dir.CAFile, ldaptest.BindDN, ldaptest.BindPassword, ldaptest.BaseDN, ldapUserFilter, ldaptest.GroupsDN, ldapGroupFilter)
		ldapRule = fmt.Sprintf(`  - name: ldap
    when: {provider: %s}
    roles: [%s]
`, ldapProviderName, benchRole)
		ldapSTS = "  ldap_provider: " + ldapProviderName + "\n"
	}
	return fmt.Sprintf(`# Generated by idbroker-bench: loopback only, keys in memory.
server:
  listen: %[1]s
  pprof: true
account_id: "%[4]s"
region: %[6]s
keys: {dir: ""}
store: {type: memory}
logging: {level: info, format: text}
providers:
  - name: bench
    type: static
    users:
      - username: %[5]s
        password_hash: %[3]q
        groups: [bench]
%[10]srules:
  - name: bench
    when: {provider: bench}
    roles: [%[7]s]
%[11]sroles:
  - name: %[7]s
    max_session_duration: 1h
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Sid: TrustBenchIssuer
          Effect: Allow
          Principal: {Federated: "arn:aws:iam::%[4]s:oidc-provider/%[8]s"}
          Action: sts:AssumeRoleWithWebIdentity
          Condition:
            StringEquals: {"%[8]s:aud": %[9]q}
%[13]s    policies:
      - Version: "2012-10-17"
        Statement: [{Effect: Allow, Action: "sts:GetCallerIdentity", Resource: "*"}]
sts:
  oidc_providers:
    - issuer: %[2]s
      client_ids: [%[9]s]
%[12]s%[14]s`, listen, issuerURL, hash, benchAccount, benchUser, benchRegion, benchRole, hostPath, benchAudience,
		ldapProvider, ldapRule, ldapSTS, samlTrust, samlSTS)
}
