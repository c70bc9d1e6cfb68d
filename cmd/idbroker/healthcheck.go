package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/loopback"
)

const healthcheckUsage = `usage: idbroker healthcheck [--url URL] [--timeout D] [--insecure]

Asks a running broker whether it is ready (GET URL) and exits 0 when it
answers 200, 1 otherwise, printing what it answered. For a container's
HEALTHCHECK (the distroless image has no shell, curl or wget):

  HEALTHCHECK CMD ["/usr/local/bin/idbroker", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]

flags:
  --url URL      the readiness (or liveness: /healthz) URL (default http://127.0.0.1:8080/readyz)
  --timeout D    give up after D (default 5s)
  --insecure     do not verify the server's TLS certificate (loopback URLs only:
                 the certificate names the public host, not 127.0.0.1)
`

// runHealthcheck is `idbroker healthcheck`.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rawURL := fs.String("url", "http://127.0.0.1:8080/readyz", "")
	timeout := fs.Duration("timeout", 5*time.Second, "")
	insecure := fs.Bool("insecure", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, healthcheckUsage)
			return 0
		}
		fmt.Fprintf(stderr, "idbroker healthcheck: %v\n\n%s", err, healthcheckUsage)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "idbroker healthcheck: unexpected argument %q\n\n%s", fs.Arg(0), healthcheckUsage)
		return 2
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "idbroker healthcheck: --url: %q is not an http:// or https:// URL\n", *rawURL)
		return 2
	}
	if *insecure && (u.Scheme != "https" || !loopback.Host(u.Hostname())) {
		fmt.Fprintln(stderr, "idbroker healthcheck: --insecure is for https:// URLs on a loopback address only")
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "idbroker healthcheck: --timeout must be positive")
		return 2
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // a probe of this machine never goes through a proxy
	if *insecure {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // loopback only, checked above
	}
	client := &http.Client{Transport: transport, Timeout: *timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintf(stderr, "idbroker healthcheck: %v\n", err)
		return 2
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "idbroker healthcheck: %s: no answer: %v\n", u.Redacted(), err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	line := strings.TrimSpace(strings.SplitN(string(body), "\n", 2)[0])
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "idbroker healthcheck: %s: %d %s\n", u.Redacted(), resp.StatusCode, line)
		return 1
	}
	fmt.Fprintln(stdout, line)
	return 0
}
