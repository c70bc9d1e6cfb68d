// Command idbroker is an identity broker with its own AWS-compatible STS:
// people sign in with LDAP, SAML or OIDC and leave with temporary keys.
//
//	idbroker serve [--config FILE] [--listen ADDR]
//	idbroker config check --config FILE [--online]
//	idbroker explain --config FILE (--identity FILE | --provider NAME --user NAME) [--json]
//	idbroker revoke --url URL (--user U [--provider P] | --group G [--provider P] | --role R | --session ID | --access-key AKID) [--json]
//	idbroker sessions --url URL [--user U] [--provider P] [--json]
//	idbroker report credentials|access --url URL …
//	idbroker mfa enroll [--profile NAME | --url URL] · mfa reset --url URL --user U [--provider P]
//	idbroker keys init|rotate|list|retire|prune --dir DIR …
//	idbroker policy simulate|validate …
//	idbroker hash-password
//	idbroker login --url URL [--provider P] [--profile NAME] [--role R]… [--browser|--device]
//	idbroker credential-process --profile NAME
//	idbroker logout [--profile NAME | --all] · status · env --profile NAME
//	idbroker credentials-server --profile NAME [--listen 127.0.0.1:0]
//	idbroker healthcheck [--url URL]
//	idbroker version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: idbroker <command> [flags]

commands:
  serve [--config FILE] [--listen ADDR]   run the broker and STS (no --config: the embedded demo)
  config check --config FILE [--online]  validate a configuration file and run its rule tests
                                         (--online: also bind and search each LDAP directory)
  explain --config FILE --identity FILE  show how the rules map an identity to roles
  explain --config FILE --provider NAME --user NAME
                                         the same for a user looked up in the provider (LDAP, static)
  revoke --url URL (--user U [--provider P] | --group G | --role R | --session ID | --access-key AKID)
                                         revoke sessions and credentials at a running broker
                                         (signed with the AWS credentials of the environment)
  sessions --url URL [--user U] [--provider P]
                                         list a running broker's sessions (idem)
  report credentials --url URL [--format csv|json]
                                         the credential report: people, sign-ins, keys, MFA (idem)
  report access --url URL [--role R]     the access advisor: actions asked about, allowed unused (idem)
  mfa reset --url URL --user U [--provider P]
                                         remove a person's TOTP enrolment (idem)
  keys init DIR                          create a key directory (STS session keys, broker keys)
  keys rotate|list|retire|prune --dir DIR
                                         rotate the STS keys without a restart (idbroker keys help)
  policy simulate < request.json         evaluate IAM policies for one request
  policy validate FILE...                check IAM policy documents
  hash-password                          read a password on stdin, print a bcrypt hash for static users
  healthcheck [--url URL]                exit 0 when a running broker is ready (for HEALTHCHECK)

terminal (from one sign-in to every AWS tool on this machine):
  login --url URL [--provider P] [--profile NAME] [--role R]... [--browser | --device]
                                         sign in once and write AWS profiles (idbroker login -h)
  credential-process --profile NAME      the keys of a profile, for the AWS CLI and SDKs
  logout [--profile NAME | --all]        end the session at the broker and forget its keys
  status                                 sessions and profiles, with their expiry
  env --profile NAME [--format sh|fish|powershell]
                                         the keys as environment variables
  credentials-server --profile NAME [--listen 127.0.0.1:0] [--token-file F]
                                         serve the keys to containers and SDKs (ECS format)
  mfa enroll [--profile NAME | --url URL]
                                         enrol a TOTP authenticator (QR code, recovery codes)
  version                                print the version
`

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "config":
		if len(args) > 1 && args[1] == "check" {
			return runConfigCheck(ctx, args[2:], stdout, stderr)
		}
	case "explain":
		return runExplain(ctx, args[1:], stdout, stderr)
	case "revoke":
		return runRevoke(ctx, args[1:], os.Getenv, stdout, stderr)
	case "sessions":
		return runSessions(ctx, args[1:], os.Getenv, stdout, stderr)
	case "report":
		return runReport(ctx, args[1:], os.Getenv, stdout, stderr)
	case "mfa":
		return runMFA(ctx, args[1:], os.Getenv, stdin, stdout, stderr)
	case "keys":
		return runKeys(args[1:], stdout, stderr)
	case "policy":
		return runPolicy(args[1:], stdin, stdout, stderr)
	case "hash-password":
		return runHashPassword(stdin, stdout, stderr)
	case "login":
		return runLogin(ctx, args[1:], stdin, stdout, stderr)
	case "credential-process":
		return runCredentialProcess(ctx, args[1:], stdout, stderr)
	case "logout":
		return runLogout(ctx, args[1:], stdout, stderr)
	case "status":
		return runStatus(ctx, args[1:], stdout, stderr)
	case "env":
		return runEnv(ctx, args[1:], stdout, stderr)
	case "credentials-server":
		return runCredentialsServer(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "idbroker", buildVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "idbroker: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			return "devel+" + rev + dirty + " " + bi.GoVersion
		}
		return "devel " + bi.GoVersion
	}
	return "devel"
}
