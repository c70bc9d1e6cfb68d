// Command idbroker-bench is the load driver of idbroker: it drives a running
// server over loopback, flow by flow, with C connections for T seconds, and
// compares each flow with its floor — a bare net/http server (this binary's
// "floor" subcommand) doing only the work the flow cannot avoid.
//
//	idbroker-bench --server bin/idbroker [--flows web-identity,caller-identity,api-login]
//	               [--conns 64,256] [--duration 10s] [--rss-conns 1000] [--json out.json]
//	               [--profile-dir DIR] [--ops] [--replicas N [--redis-url URL]]
//	idbroker-bench --addr 127.0.0.1:8080 --pid N --issuer-listen 127.0.0.1:18081 …
//	idbroker-bench config --listen 127.0.0.1:8080 --issuer-listen 127.0.0.1:18081 [--ops]
//	idbroker-bench floor --listen 127.0.0.1:0 --issuer URL --bcrypt-hash HASH
//
// --ops turns on what production runs (rate limits that are never reached,
// a metrics listener); --replicas N starts N servers on one Redis and one
// key directory and spreads the connections over them round robin.
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
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
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
	fs.BoolVar(&o.ops, "ops", false, "production settings: rate limits per user, role and source (1000000/s, never reached) and a metrics listener")
	fs.IntVar(&o.replicas, "replicas", 1, "with --server: start N replicas on one Redis and one key directory; connection i goes to replica i mod N")
	fs.StringVar(&o.redisURL, "redis-url", "", "with --replicas: a running Redis the replicas share (default: the driver starts a redis-server)")
	fs.StringVar(&o.note, "note", "", "free text recorded with the results (e.g. 'machine busy')")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (o.server == "") == (o.addr == "") {
		fmt.Fprintln(stderr, "idbroker-bench: give exactly one of --server BIN and --addr HOST:PORT")
		return 2
	}
	if o.replicas < 1 || o.replicas > 16 || (o.replicas > 1 && o.server == "") {
		fmt.Fprintln(stderr, "idbroker-bench: --replicas is 1..16, and more than one needs --server BIN")
		return 2
	}
	if o.redisURL != "" && o.replicas < 2 {
		fmt.Fprintln(stderr, "idbroker-bench: --redis-url is for --replicas 2 or more")
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
	// ops: the generated configuration turns on rate limits and metrics
	// (with --addr: the server was started with `config --ops`).
	ops bool
	// replicas servers of one configuration; redisURL is their Redis.
	replicas int
	redisURL string
}
