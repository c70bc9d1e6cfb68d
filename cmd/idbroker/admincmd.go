package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
)

// The administrators' commands: idbroker revoke and idbroker sessions call
// the broker's administrators' APIs with the AWS credentials of the
// environment (adminclient.go).

const revokeUsage = `usage: idbroker revoke --url URL SELECTOR [--region R] [--json]

Revoke at a running broker, on every replica: the sessions named end, and
every credential minted from them (or of the role, or with the key) before
now is refused by the STS, together with every credential chained from it.

selector (exactly one):
  --user U [--provider P]   every session of user U (at provider P, or at every provider)
  --group G [--provider P]  every session whose user is in group G
  --role R                  every credential of role R (a name, or an ARN)
  --session ID              one session (ids as 'idbroker sessions' lists them)
  --access-key AKID         one access key (ASIA…)

The request is signed with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN: keys the broker issued for a role of admin.roles whose
policies allow idbroker:Revoke. The region is --region, else AWS_REGION or
AWS_DEFAULT_REGION, else us-east-1 (it must be the broker's).

examples:
  idbroker revoke --url https://idbroker.example.org --user alice
  idbroker revoke --url https://idbroker.example.org --user alice --provider corp-ldap
  idbroker revoke --url https://idbroker.example.org --group contractors
  idbroker revoke --url https://idbroker.example.org --role Admin
  idbroker revoke --url http://127.0.0.1:8080 --session S0K2GGDrzsDITkVxEXLCyg
  idbroker revoke --url http://127.0.0.1:8080 --access-key ASIAEXAMPLEKEY123456

flags:
`

const sessionsUsage = `usage: idbroker sessions --url URL [--user U] [--provider P] [--region R] [--json]

List the broker's sessions: of one user (at one provider, or every provider),
of one provider, or all. Sessions that ended, or expired less than 12 hours
ago, are listed too: their credentials may still be alive (revoke them with
'idbroker revoke --session ID').

The request is signed with the AWS credentials of the environment, as for
'idbroker revoke'; their role needs idbroker:ListSessions.

examples:
  idbroker sessions --url https://idbroker.example.org --user alice
  idbroker sessions --url http://127.0.0.1:8080 --provider demo --json

flags:
`

// revocationAnswer is the broker's answer to a revocation.
type revocationAnswer struct {
	ID       string   `json:"id"`
	IDs      []string `json:"ids"`
	Selector struct {
		Kind, Value, Provider string
	} `json:"selector"`
	RoleARN       string   `json:"role_arn"`
	NotBefore     string   `json:"not_before"`
	Sessions      []string `json:"sessions"`
	SessionsEnded []string `json:"sessions_ended"`
}

func runRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, revokeUsage); fs.PrintDefaults() }
	base := fs.String("url", "", "the broker's public URL")
	region := fs.String("region", "", "the broker's region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
	asJSON := fs.Bool("json", false, "print the broker's answer as JSON")
	sel := map[string]*string{
		"user":       fs.String("user", "", "revoke every session of this user"),
		"group":      fs.String("group", "", "revoke every session whose user is in this group"),
		"role":       fs.String("role", "", "revoke every credential of this role (name or ARN)"),
		"session":    fs.String("session", "", "revoke this session (its id)"),
		"access-key": fs.String("access-key", "", "revoke this access key (ASIA…)"),
		"provider":   fs.String("provider", "", "with --user or --group: only at this provider"),
	}
	if err := fs.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "revoke", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	body := map[string]string{}
	for flagName, key := range map[string]string{"user": "user", "group": "group", "role": "role", "session": "session", "access-key": "access_key_id"} {
		if v := *sel[flagName]; v != "" {
			body[key] = v
		}
	}
	if len(body) != 1 {
		return usageError(stderr, "revoke", errors.New("give exactly one of --user, --group, --role, --session, --access-key"))
	}
	if p := *sel["provider"]; p != "" {
		if body["user"] == "" && body["group"] == "" {
			return usageError(stderr, "revoke", errors.New("--provider goes with --user or --group"))
		}
		body["provider"] = p
	}
	c, err := newAdminClient(*base, *region, getenv)
	if err != nil {
		return commandError(stderr, "revoke", err)
	}
	var ans json.RawMessage
	if err := c.call(ctx, "POST", "/api/v1/admin/revocations", nil, body, 201, &ans, "the revocation", "idbroker:Revoke"); err != nil {
		return commandError(stderr, "revoke", err)
	}
	if *asJSON {
		return printJSON(stdout, stderr, ans)
	}
	var r revocationAnswer
	if err := json.Unmarshal(ans, &r); err != nil {
		return commandError(stderr, "revoke", err)
	}
	printRevocation(stdout, r)
	return 0
}

// printRevocation says what a revocation did, readably.
func printRevocation(w io.Writer, r revocationAnswer) {
	what := r.Selector.Kind + " " + r.Selector.Value
	switch r.Selector.Kind {
	case "access_key_id":
		what = "access key " + r.Selector.Value
	case "role":
		what = "role " + r.RoleARN
	}
	if r.Selector.Provider != "" {
		what += " at provider " + r.Selector.Provider
	}
	fmt.Fprintf(w, "Revoked %s (revocation %s).\n", what, strings.Join(r.IDs, ", "))
	switch r.Selector.Kind {
	case "role":
		fmt.Fprintf(w, "Credentials of this role issued before %s, and those chained from them, are refused on every replica.\n", r.NotBefore)
		return
	case "access_key_id":
		fmt.Fprintf(w, "The key, if issued before %s, and the credentials chained from it are refused on every replica.\n", r.NotBefore)
		return
	}
	before := len(r.Sessions) - len(r.SessionsEnded)
	fmt.Fprintf(w, "%d session(s) ended now", len(r.SessionsEnded))
	if before > 0 {
		fmt.Fprintf(w, ", %d had ended or expired before", before)
	}
	fmt.Fprintf(w, "; credentials issued from them before %s, and those chained from them, are refused on every replica.\n", r.NotBefore)
	if len(r.Sessions) == 0 {
		fmt.Fprintln(w, "No session matched (a user or group name is compared without case; a provider no longer configured must be named with --provider).")
	}
	for _, id := range r.Sessions {
		fmt.Fprintln(w, "  "+id)
	}
}

// adminSession is one session as the broker lists it.
type adminSession struct {
	ID            string   `json:"id"`
	Provider      string   `json:"provider"`
	User          string   `json:"user"`
	Method        string   `json:"method"`
	Carrier       string   `json:"carrier"`
	CreatedAt     string   `json:"created_at"`
	ExpiresAt     string   `json:"expires_at"`
	LastRecheckAt string   `json:"last_recheck_at"`
	Live          bool     `json:"live"`
	Ended         bool     `json:"ended"`
	EndedAt       string   `json:"ended_at,omitempty"`
	EndReason     string   `json:"end_reason,omitempty"`
	Roles         []string `json:"roles"`
}

// maxSessionPages bounds how many pages idbroker sessions follows.
const maxSessionPages = 1000

func runSessions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sessionsUsage); fs.PrintDefaults() }
	base := fs.String("url", "", "the broker's public URL")
	region := fs.String("region", "", "the broker's region (default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1)")
	user := fs.String("user", "", "only this user's sessions")
	provider := fs.String("provider", "", "only sessions of this provider")
	asJSON := fs.Bool("json", false, `print {"sessions":[…]} as JSON`)
	if err := fs.Parse(args); err != nil {
		return helpOrUsage(err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "sessions", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	c, err := newAdminClient(*base, *region, getenv)
	if err != nil {
		return commandError(stderr, "sessions", err)
	}
	q := url.Values{"limit": {strconv.Itoa(maxSessionsPage)}}
	if *user != "" {
		q.Set("user", *user)
	}
	if *provider != "" {
		q.Set("provider", *provider)
	}
	all := []adminSession{}
	seen := map[string]bool{}
	unreadable := 0
	for page := 0; page < maxSessionPages; page++ {
		var ans struct {
			Sessions   []adminSession `json:"sessions"`
			NextCursor string         `json:"next_cursor"`
			Unreadable int            `json:"unreadable"`
		}
		if err := c.call(ctx, "GET", "/api/v1/admin/sessions", q, nil, 200, &ans, "the session listing", "idbroker:ListSessions"); err != nil {
			return commandError(stderr, "sessions", err)
		}
		unreadable += ans.Unreadable
		for _, s := range ans.Sessions {
			if !seen[s.ID] {
				seen[s.ID] = true
				all = append(all, s)
			}
		}
		if ans.NextCursor == "" {
			break
		}
		q.Set("cursor", ans.NextCursor)
	}
	if *asJSON {
		raw, _ := json.Marshal(map[string]any{"sessions": all})
		return printJSON(stdout, stderr, raw)
	}
	if len(all) == 0 {
		fmt.Fprintln(stdout, "No sessions.")
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROVIDER\tUSER\tMETHOD\tCARRIER\tCREATED\tEXPIRES\tSTATE")
		for _, s := range all {
			state := "live"
			switch {
			case s.Ended:
				state = "ended " + s.EndedAt
				if s.EndReason != "" {
					state += ": " + s.EndReason
				}
			case !s.Live:
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Provider, s.User, s.Method, s.Carrier, s.CreatedAt, s.ExpiresAt, state)
		}
		_ = tw.Flush()
	}
	if unreadable > 0 {
		fmt.Fprintf(stdout, "(%d session record(s) could not be read: sealed with another cookie key)\n", unreadable)
	}
	return 0
}

// maxSessionsPage is the page size idbroker sessions asks for.
const maxSessionsPage = 1000

func printJSON(stdout, stderr io.Writer, raw []byte) int {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		fmt.Fprintln(stderr, "idbroker:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "idbroker:", err)
		return 1
	}
	return 0
}

// helpOrUsage is the exit code of a flag parse error: 0 for --help.
func helpOrUsage(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func usageError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "idbroker %s: %v (idbroker %s --help)\n", cmd, err, cmd)
	return 2
}

// commandError prints err; a usage mistake exits 2, anything else 1.
func commandError(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, errUsage) {
		return usageError(stderr, cmd, errors.New(strings.TrimPrefix(err.Error(), errUsage.Error()+": ")))
	}
	fmt.Fprintf(stderr, "idbroker %s: %v\n", cmd, err)
	return 1
}
