package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/cli"
	"github.com/idbroker/idbroker/internal/loopback"
)

const credentialsServerUsage = `usage: idbroker credentials-server --profile NAME [--listen 127.0.0.1:0] [--token-file F]

Serve a profile's keys on this machine in the format of the ECS/EKS container
credentials provider, for SDKs and containers that read
AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN.
It gets the first keys, then prints the two variables (sh syntax) and serves
until interrupted, with fresh keys before the old ones expire. Loopback only.

  eval "$(idbroker credentials-server --profile Developer &)"   # or copy the two lines

flags:
`

func runCredentialsServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("credentials-server", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, credentialsServerUsage); fl.PrintDefaults() }
	profile := fl.String("profile", "", "the profile (required)")
	listen := fl.String("listen", "127.0.0.1:0", "the loopback address to listen on")
	tokenFile := fl.String("token-file", "", "the authorization token's file: read when it exists, else written with a new random token (0600)")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if *profile == "" || fl.NArg() > 0 {
		fmt.Fprintln(stderr, "idbroker credentials-server: --profile NAME is required")
		return 2
	}
	if !loopback.Addr(*listen) {
		fmt.Fprintf(stderr, "idbroker credentials-server: --listen %q is not a loopback address (127.0.0.1:PORT or [::1]:PORT): the keys are served to this machine only\n", *listen)
		return 2
	}
	cache, err := openCLICache()
	if err != nil {
		return cliFailed(stderr, "credentials-server", err)
	}
	token, err := serverToken(*tokenFile)
	if err != nil {
		return cliFailed(stderr, "credentials-server", err)
	}
	getter := credentialGetter(cache)
	// The first keys before the variables are printed: an SDK started
	// with them must not wait on a sign-in.
	first, _, err := getter.Get(ctx, *profile)
	if err != nil {
		return cliFailed(stderr, "credentials-server", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return cliFailed(stderr, "credentials-server", fmt.Errorf("listen: %w", err))
	}
	defer ln.Close()
	if !loopback.Addr(ln.Addr().String()) {
		return cliFailed(stderr, "credentials-server", fmt.Errorf("%s is not a loopback address", ln.Addr()))
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	h := &cli.ContainerCredentials{Token: token, Log: log, Get: func(ctx context.Context) (*cli.Credentials, error) {
		c, _, err := getter.Get(ctx, *profile)
		return c, err
	}}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: cli.RequestTimeout + 10*time.Second, MaxHeaderBytes: 16 << 10,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "export AWS_CONTAINER_CREDENTIALS_FULL_URI='http://%s/'\n", ln.Addr())
	fmt.Fprintf(stdout, "export AWS_CONTAINER_AUTHORIZATION_TOKEN='%s'\n", token)
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	log.Info("serving credentials", "profile", *profile, "role", first.RoleARN, "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return cliFailed(stderr, "credentials-server", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}

// serverToken is the authorization token: from path when it exists (a
// file only its owner can read), written there when it does not, random
// (256 bits) when path is empty.
func serverToken(path string) (string, error) {
	if path != "" {
		raw, err := os.ReadFile(path)
		switch {
		case err == nil:
			fi, err := os.Stat(path)
			if err != nil {
				return "", err
			}
			if fi.Mode().Perm()&0o077 != 0 {
				return "", fmt.Errorf("--token-file %s has permissions %04o: others may read the token; chmod 600 it", path, fi.Mode().Perm())
			}
			tok := strings.TrimSpace(string(raw))
			if len(tok) < 16 || strings.ContainsAny(tok, "\r\n\t ") {
				return "", fmt.Errorf("--token-file %s: the token must be one line of at least 16 characters", path)
			}
			return tok, nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("--token-file: %w", err)
		}
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	if path != "" {
		if err := cli.WriteFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
	}
	return tok, nil
}
