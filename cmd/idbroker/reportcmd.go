package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// idbroker report credentials|access: the broker's credential report and
// access advisor (GET /api/v1/admin/reports/…), signed like idbroker
// revoke (adminclient.go).

const reportUsage = `usage: idbroker report credentials --url URL [--format csv|json] [--region R]
       idbroker report access --url URL [--role R] [--json] [--region R]

credentials  the credential report: one row per person seen within the broker's
             reports.retention (default 90 days): first seen, last sign-in, sign-ins,
             last issuance, issuances per role, MFA enrolled and last used, active
             sessions, locked until, last revoked. CSV (RFC 4180, a header row) by
             default, or the broker's JSON. Needs idbroker:GetCredentialReport.
access       the access advisor: per role, each action the authorize API was asked
             about for its sessions (allowed and denied counts, last time, by whom),
             and the actions the role's policies allow that nobody used within the
             retention (what to trim). Needs idbroker:GetAccessReport.

The request is signed with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN: keys the broker issued for a role of admin.roles.

examples:
  idbroker report credentials --url https://idbroker.example.org > credential-report.csv
  idbroker report credentials --url http://127.0.0.1:8080 --format json
  idbroker report access --url http://127.0.0.1:8080 --role Developer

flags:
`

func runReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "credentials" && args[0] != "access") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, reportUsage)
			return 0
		}
		fmt.Fprint(stderr, reportUsage)
		return 2
	}
	what := args[0]
	fs := flag.NewFlagSet("report "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	base := fs.String("url", "", "the broker's public URL")
	region := fs.String("region", "", "the broker's region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
	var format, role *string
	var asJSON *bool
	if what == "credentials" {
		format = fs.String("format", "csv", "csv or json")
	} else {
		role = fs.String("role", "", "only this role (its name or ARN; default: every configured role)")
		asJSON = fs.Bool("json", false, "print the broker's JSON")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return helpOrUsage(err)
	}
	cmd := "report " + what
	if fs.NArg() > 0 {
		return usageError(stderr, cmd, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if format != nil && *format != "csv" && *format != "json" {
		return usageError(stderr, cmd, fmt.Errorf("--format %q: give csv or json", *format))
	}
	c, err := newAdminClient(*base, *region, getenv)
	if err != nil {
		return commandError(stderr, cmd, err)
	}
	if what == "credentials" {
		accept := "application/json"
		if *format == "csv" {
			accept = "text/csv"
		}
		body, err := c.send(ctx, http.MethodGet, "/api/v1/admin/reports/credentials", nil, nil, accept, "the credential report", "idbroker:GetCredentialReport")
		if err != nil {
			return commandError(stderr, cmd, err)
		}
		if *format == "json" {
			return printJSON(stdout, stderr, body)
		}
		_, _ = stdout.Write(body)
		return 0
	}
	q := url.Values{}
	if *role != "" {
		q.Set("role", *role)
	}
	body, err := c.send(ctx, http.MethodGet, "/api/v1/admin/reports/access", q, nil, "application/json", "the access report", "idbroker:GetAccessReport")
	if err != nil {
		return commandError(stderr, cmd, err)
	}
	if *asJSON {
		return printJSON(stdout, stderr, body)
	}
	var rep accessReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return commandError(stderr, cmd, fmt.Errorf("the broker's answer is not the expected JSON: %w", err))
	}
	printAccessReport(stdout, rep)
	return 0
}

// accessReport is the broker's access report (internal/reports.AccessReport).
type accessReport struct {
	RetentionDays int `json:"retention_days"`
	Roles         []struct {
		RoleARN string `json:"role_arn"`
		Actions []struct {
			Action        string `json:"action"`
			Allowed       int64  `json:"allowed"`
			Denied        int64  `json:"denied"`
			LastAsked     string `json:"last_asked"`
			LastAskedBy   string `json:"last_asked_by"`
			LastAllowed   string `json:"last_allowed"`
			LastAllowedBy string `json:"last_allowed_by"`
		} `json:"actions"`
		Unused    []string `json:"unused"`
		Truncated bool     `json:"truncated"`
	} `json:"roles"`
}

// printAccessReport prints the access report for a person: per role, a
// table of the actions asked about, then what nobody used.
func printAccessReport(w io.Writer, rep accessReport) {
	if len(rep.Roles) == 0 {
		fmt.Fprintln(w, "No roles.")
	}
	for i, r := range rep.Roles {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Role %s\n", r.RoleARN)
		if len(r.Actions) == 0 {
			fmt.Fprintf(w, "  No authorize request for its sessions in the last %d days.\n", rep.RetentionDays)
		} else {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  ACTION\tALLOWED\tDENIED\tLAST ASKED\tBY")
			for _, a := range r.Actions {
				fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\n", a.Action, a.Allowed, a.Denied, a.LastAsked, a.LastAskedBy)
			}
			_ = tw.Flush()
		}
		if r.Truncated {
			fmt.Fprintln(w, "  (more actions were asked about than one report lists)")
		}
		if len(r.Unused) == 0 {
			fmt.Fprintln(w, "  Every action its policies allow was used.")
		} else {
			fmt.Fprintf(w, "  Allowed by its policies, unused in the last %d days: %s\n", rep.RetentionDays, strings.Join(r.Unused, ", "))
		}
	}
}

// send makes a signed request (as call does) with the given Accept and
// returns the body of any 2xx answer; other answers are an *apiFailure.
func (c *adminClient) send(ctx context.Context, method, path string, query url.Values, body any, accept, what, action string) ([]byte, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, adminRequestTimeout)
	defer cancel()
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	sum := sha256.Sum256(raw)
	if err := v4.NewSigner().SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), "sts", c.region, c.now()); err != nil {
		return nil, fmt.Errorf("sign the request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the broker at %s: %w", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading the broker's answer: %w", err)
	}
	if len(ans) > maxAdminAnswer {
		return nil, fmt.Errorf("the broker's answer is larger than %d bytes", maxAdminAnswer)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		f := &apiFailure{Status: resp.StatusCode, what: what, action: action, region: c.region}
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(ans, &e) == nil && e.Error.Code != "" {
			f.Code, f.Message = e.Error.Code, e.Error.Message
		} else {
			f.Code, f.Message = http.StatusText(resp.StatusCode), "the answer is not the broker's JSON"
		}
		return nil, f
	}
	return ans, nil
}
