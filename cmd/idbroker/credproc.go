package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/idbroker/idbroker/internal/cli"
)

// credentialGetter gets profiles' keys from the cache or the broker.
func credentialGetter(cache *cli.Cache) *cli.Getter {
	return &cli.Getter{Cache: cache, Client: brokerClient, Now: time.Now}
}

// processCredentials is the AWS credential_process answer (Version 1).
type processCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

const credentialProcessUsage = `usage: idbroker credential-process --profile NAME

Print the keys of a profile written by "idbroker login" as the AWS
credential_process JSON. The AWS CLI and SDKs run it (the profile's
credential_process line); keys are cached until 5 minutes before they expire.
Without a usable session it prints nothing on stdout, says on stderr what to run,
and exits 1.

flags:
`

func runCredentialProcess(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("credential-process", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, credentialProcessUsage); fs.PrintDefaults() }
	profile := fs.String("profile", "", "the profile (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *profile == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "idbroker credential-process: --profile NAME is required (and nothing else)")
		return 2
	}
	cache, err := openCLICache()
	if err != nil {
		return cliFailed(stderr, "credential-process", err)
	}
	c, _, err := credentialGetter(cache).Get(ctx, *profile)
	if err != nil {
		return cliFailed(stderr, "credential-process", err)
	}
	out, err := json.Marshal(processCredentials{Version: 1, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		SessionToken: c.SessionToken, Expiration: c.Expiration.UTC().Format(time.RFC3339)})
	if err != nil {
		return cliFailed(stderr, "credential-process", err)
	}
	fmt.Fprintln(stdout, string(out))
	return 0
}

const envUsage = `usage: idbroker env --profile NAME [--format sh|fish|powershell]

Print the keys of a profile as environment variables, for tools that read only
those:   eval "$(idbroker env --profile Developer)"

flags:
`

func runEnv(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, envUsage); fs.PrintDefaults() }
	profile := fs.String("profile", "", "the profile (required)")
	format := fs.String("format", "sh", "sh (bash, zsh), fish or powershell")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *profile == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "idbroker env: --profile NAME is required")
		return 2
	}
	if err := cli.CheckShellFormat(*format); err != nil {
		fmt.Fprintln(stderr, "idbroker env:", err)
		return 2
	}
	cache, err := openCLICache()
	if err != nil {
		return cliFailed(stderr, "env", err)
	}
	c, b, err := credentialGetter(cache).Get(ctx, *profile)
	if err != nil {
		return cliFailed(stderr, "env", err)
	}
	out, err := cli.FormatEnv(*format, cli.CredentialEnv(c, b.Region))
	if err != nil {
		return cliFailed(stderr, "env", err)
	}
	fmt.Fprint(stdout, out)
	return 0
}
