package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/internal/metrics"
	"github.com/idbroker/idbroker/mapping"
	"github.com/idbroker/idbroker/sts"
)

func newLogger(cfg loggingConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// loadServeConfig reads --config, or the embedded demo when it is empty,
// and applies --listen.
func loadServeConfig(path, listen string) (*fileConfig, error) {
	data := configs.Demo
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
	}
	cfg, err := parseConfig(data, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if listen != "" {
		if _, _, err := net.SplitHostPort(listen); err != nil {
			return nil, fmt.Errorf("--listen: %q is not host:port", listen)
		}
		cfg.Server.Listen = listen
		if err := cfg.Server.pprofProblem(); err != "" {
			return nil, fmt.Errorf("server.pprof: %s", err)
		}
	}
	return cfg, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: the embedded demo)")
	listen := fs.String("listen", "", "listen address host:port (overrides server.listen)")
	metricsListen := fs.String("metrics-listen", "", "metrics listen address host:port (overrides server.metrics_listen)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	load := func() (*fileConfig, error) {
		cfg, err := loadServeConfig(*path, *listen)
		if err == nil && *metricsListen != "" {
			cfg.Server.MetricsListen = *metricsListen
		}
		return cfg, err
	}
	cfg, err := load()
	if err != nil {
		fmt.Fprintln(stderr, "idbroker:", err)
		return 1
	}
	log := newLogger(cfg.Logging, stderr)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := load
	if err := serveReloading(ctx, cfg, log, nil, hup, reload); err != nil {
		if _, ok := err.(*configError); ok {
			fmt.Fprintln(stderr, "idbroker:", err)
			return 1
		}
		log.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

// serve runs the server until ctx is done, then shuts down gracefully. When
// ready is not nil it receives the bound address once listening.
func serve(ctx context.Context, cfg *fileConfig, log *slog.Logger, ready chan<- string) error {
	return serveReloading(ctx, cfg, log, ready, nil, nil)
}

// serveReloading is serve with configuration reload: every value received
// on trigger re-reads the configuration and swaps the handler atomically. A
// bad file keeps the running configuration.
func serveReloading(ctx context.Context, cfg *fileConfig, log *slog.Logger, ready chan<- string, trigger <-chan os.Signal, reload func() (*fileConfig, error)) error {
	sec, err := loadSecrets(cfg, log, nil)
	if err != nil {
		return err
	}
	// Measurements only when someone can read them: with neither a
	// metrics listener nor metrics on the public one, nothing is counted.
	if cfg.Server.MetricsListen != "" || cfg.Server.MetricsOnPublic {
		sec.metrics = metrics.New(buildVersion())
	}
	if cfg.Server.MetricsListen != "" {
		_, stopMetrics, err := metricsListener(ctx, cfg.Server.MetricsListen, sec.metrics, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	// The key ring follows keys.dir (rotations, retirements) while it runs.
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	keys := &keyFollower{ctx: watchCtx, log: log}
	keys.follow(sec.ring)
	listenFrom := cfg.Server.Listen
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	// With port 0 the public URL follows the port actually bound.
	cfg.Server.Listen = ln.Addr().String()
	a, err := assemble(cfg, sec, log)
	if err != nil {
		// The STS's, the rules' and the providers' problems, listed as
		// the file's own are.
		return &configError{errs: problemsOf(err)}
	}
	a.startRevocations(ctx, log)
	a.startHealth(ctx)
	current := &swapHandler{}
	current.set(a)
	defer func() { current.closeAll() }()
	if trigger != nil && reload != nil {
		go reloadLoop(ctx, trigger, reload, cfg, listenFrom, sec, log, current, keys)
	}
	srv := &http.Server{
		Handler:           current,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.Server.TLS.CertFile != "" {
			errc <- srv.ServeTLS(ln, cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("idbroker listening", "addr", ln.Addr().String(), "public_url", cfg.publicURL(), "version", buildVersion())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func runConfigCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file to check")
	online := fs.Bool("online", false, "also contact the upstream providers")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "idbroker config check: --config FILE is required")
		return 2
	}
	cfg, problems, a, notes := checkConfigFile(*path)
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	if len(problems) > 0 {
		fmt.Fprintln(stderr, (&configError{errs: problems}).Error())
		return 1
	}
	defer a.close()
	failed := 0
	if results := a.mapper.RunTests(cfg.Mapping.Tests); len(results) > 0 {
		report, _ := mapping.FormatTestResults(results)
		fmt.Fprint(stdout, report)
		for _, r := range results {
			if !r.Passed {
				failed++
			}
		}
	}
	if *online {
		if n := checkLDAPProviders(ctx, cfg, stdout); n > 0 {
			fmt.Fprintf(stderr, "%d online check(s) failed\n", n)
			return 1
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%d rule test(s) failed\n", failed)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%d providers, %d roles, %d rules, %d rule tests)\n", *path, len(cfg.Providers), len(cfg.Roles), len(cfg.Mapping.Rules), len(cfg.Mapping.Tests))
	return 0
}

// checkConfigFile runs the offline stages of config check on the file and
// returns every problem found, each once with its key path, or the app
// when there is none, and notes worth printing either way.
//
// The file's own check (parseConfig: YAML, unknown keys, the settings of
// the server, store, providers) comes first. On a file it accepts, the app
// is built as serve builds it (assembleOffline): the STS reports its roles,
// policies and registrations, the mapping its rules, each provider its own
// build. On a file it refuses, nothing is built — a build would trip again
// over what the file check reported — but the stages that own checks the
// file check does not make still run: the mapping rules and the STS's
// account, roles and named policies (checkRolesAndRules). A file store is
// opened (and closed) to see that it can be (checkStoreOpens).
func checkConfigFile(path string) (*fileConfig, []error, *app, []string) {
	cfg, err := loadConfigFile(path)
	if err != nil {
		var ce *configError
		if cfg == nil || !errors.As(err, &ce) {
			return nil, []error{err}, nil, nil // unreadable, not YAML, empty
		}
		return cfg, append(ce.errs, checkRolesAndRules(cfg)...), nil, nil
	}
	var notes []string
	var problems []error
	if note, err := checkStoreOpens(cfg.Store); err != nil {
		problems = append(problems, err)
	} else if note != "" {
		notes = append(notes, note)
	}
	a, err := assembleOffline(cfg)
	if err != nil {
		return cfg, append(problems, problemsOf(err)...), nil, notes
	}
	if len(problems) > 0 {
		a.close()
		return cfg, problems, nil, notes
	}
	return cfg, nil, a, notes
}

// checkRolesAndRules is what the mapping and the STS say about the rules,
// the account, the roles and the named policies of a configuration,
// without building the rest.
func checkRolesAndRules(cfg *fileConfig) []error {
	var problems []error
	if _, err := compileMapping(cfg); err != nil {
		problems = append(problems, problemsOf(err)...)
	}
	sec, err := generateSecrets()
	if err != nil {
		return append(problems, err)
	}
	bt := broker.Trust{Partition: cfg.Partition, Account: cfg.AccountID, PublicURL: cfg.publicURL()}
	roles, policies, errs := stsRolesAndPolicies(cfg, bt)
	problems = append(problems, errs...)
	_, err = sts.New(sts.Config{
		AccountID: cfg.AccountID, Partition: cfg.Partition, Keys: sec.ring,
		Roles: roles, ManagedPolicies: policies,
	})
	return append(problems, problemsOf(err)...)
}

func runHashPassword(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "idbroker hash-password:", err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "idbroker hash-password: empty password")
		return 1
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintln(stderr, "idbroker hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, string(h))
	return 0
}
