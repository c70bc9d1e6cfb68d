package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/idbroker/idbroker/providers"
)

// runExplain prints how the rules of a configuration map one identity.
func runExplain(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file")
	idFile := fs.String("identity", "", "identity as JSON (providers.Identity), - for stdin")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || *idFile == "" {
		fmt.Fprintln(stderr, "usage: idbroker explain --config FILE --identity FILE.json [--json]")
		return 2
	}
	cfg, err := loadConfigFile(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var raw []byte
	if *idFile == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		raw, err = os.ReadFile(*idFile)
	}
	if err != nil {
		fmt.Fprintln(stderr, "read identity:", err)
		return 1
	}
	var id providers.Identity
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&id); err != nil {
		fmt.Fprintln(stderr, "identity file is not an Identity JSON object:", err)
		return 1
	}
	sec, err := generateSecrets()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	a, err := assemble(cfg, sec, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer a.close()
	ex := a.mapper.Explain(id)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(ex); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprint(stdout, ex.Text())
	return 0
}
