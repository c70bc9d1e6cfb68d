package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/idbroker/idbroker/sts/policy"
)

const policyUsage = `usage:
  idbroker policy simulate < request.json
      request: {"policies":[{…}], "session_policies":[{…}], "action":"s3:GetObject",
                "resource":"arn:aws:s3:::b/k", "context":{"aws:username":"alice","aws:TagKeys":["a","b"]},
                "principal":{"AWS":["123456789012"]}, "kind":"identity|trust|resource"}
      "session_policies" absent: identity policies alone; present (even []): they must allow too.
      prints {"decision":"Allow"|"ExplicitDeny"|"ImplicitDeny","matched":[{"policy":…,"sid":…}]}
      exit 0 for any decision, 2 for a malformed policy or request.
  idbroker policy validate [--kind auto|identity|trust|resource] [--session] FILE...
      exit 0 when every file is valid, 2 otherwise; one line per problem, naming the file.
`

// policyMaxInput bounds what simulate reads from stdin.
const policyMaxInput = 8 << 20

// runPolicy implements "idbroker policy simulate|validate". It needs nothing
// else from package main.
func runPolicy(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	switch args[0] {
	case "simulate":
		return runPolicySimulate(args[1:], stdin, stdout, stderr)
	case "validate":
		return runPolicyValidate(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, policyUsage)
		return 0
	}
	fmt.Fprintf(stderr, "idbroker policy: unknown subcommand %q\n\n%s", args[0], policyUsage)
	return 2
}

// policySimInput is the JSON read by "policy simulate".
type policySimInput struct {
	Policies        []json.RawMessage          `json:"policies"`
	SessionPolicies []json.RawMessage          `json:"session_policies"` // nil when absent
	Action          string                     `json:"action"`
	Resource        string                     `json:"resource"`
	Context         map[string]json.RawMessage `json:"context"`
	Principal       map[string]json.RawMessage `json:"principal"`
	Kind            string                     `json:"kind"`
}

type policySimMatch struct {
	Policy string `json:"policy"`
	Sid    string `json:"sid"`
}

type policySimOutput struct {
	Decision string           `json:"decision"`
	Matched  []policySimMatch `json:"matched"`
}

func runPolicySimulate(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintf(stderr, "idbroker policy simulate: takes no arguments (request on stdin)\n")
		return 2
	}
	data, err := io.ReadAll(io.LimitReader(stdin, policyMaxInput+1))
	if err != nil {
		fmt.Fprintf(stderr, "idbroker policy simulate: reading stdin: %v\n", err)
		return 2
	}
	if len(data) > policyMaxInput {
		fmt.Fprintf(stderr, "idbroker policy simulate: request larger than %d bytes\n", policyMaxInput)
		return 2
	}
	var in policySimInput
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintf(stderr, "idbroker policy simulate: invalid request: %v\n", err)
		return 2
	}
	if in.Action == "" {
		fmt.Fprintf(stderr, "idbroker policy simulate: invalid request: \"action\" is required\n")
		return 2
	}
	if in.Resource == "" {
		in.Resource = "*"
	}
	kind, err := policyKindFlag(in.Kind, policy.Identity)
	if err != nil {
		fmt.Fprintf(stderr, "idbroker policy simulate: invalid request: %v\n", err)
		return 2
	}
	identity, err := policyParseList("policies", in.Policies, kind)
	if err != nil {
		fmt.Fprintf(stderr, "MalformedPolicyDocument: %v\n", err)
		return 2
	}
	var session []*policy.Policy
	if in.SessionPolicies != nil {
		session, err = policyParseList("session_policies", in.SessionPolicies, policy.Identity)
		if err != nil {
			fmt.Fprintf(stderr, "MalformedPolicyDocument: %v\n", err)
			return 2
		}
		if session == nil {
			session = []*policy.Policy{}
		}
	}
	ctx := policy.NewContext()
	for k, raw := range in.Context {
		vals, err := policy.ContextValues(raw)
		if err != nil {
			fmt.Fprintf(stderr, "idbroker policy simulate: invalid request: context key %q: %v\n", k, err)
			return 2
		}
		ctx.Set(k, vals...)
	}
	var principal map[string][]string
	if len(in.Principal) > 0 {
		principal = make(map[string][]string, len(in.Principal))
		for k, raw := range in.Principal {
			vals, err := policy.ContextValues(raw)
			if err != nil {
				fmt.Fprintf(stderr, "idbroker policy simulate: invalid request: principal %q: %v\n", k, err)
				return 2
			}
			principal[k] = vals
		}
	}
	res := policy.Authorize(&policy.Request{Action: in.Action, Resource: in.Resource, Principal: principal, Context: ctx}, identity, session)
	out := policySimOutput{Decision: res.Decision.String(), Matched: []policySimMatch{}}
	for _, m := range res.Matched {
		out.Matched = append(out.Matched, policySimMatch{Policy: m.Policy, Sid: m.Sid})
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintf(stderr, "idbroker policy simulate: writing result: %v\n", err)
		return 1
	}
	return 0
}

// policyParseList parses each document, naming it "<field>[i]". A document
// may be a JSON object or a string holding one.
func policyParseList(field string, raws []json.RawMessage, kind policy.Kind) ([]*policy.Policy, error) {
	var out []*policy.Policy
	for i, raw := range raws {
		name := fmt.Sprintf("%s[%d]", field, i)
		doc := []byte(raw)
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '"' {
			var s string
			if err := json.Unmarshal(t, &s); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			doc = []byte(s)
		}
		p, err := policy.Parse(doc, kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p.SetName(name)
		out = append(out, p)
	}
	return out, nil
}

func policyKindFlag(s string, def policy.Kind) (policy.Kind, error) {
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "identity", "session", "permissions":
		return policy.Identity, nil
	case "trust":
		return policy.Trust, nil
	case "resource":
		return policy.Resource, nil
	}
	return 0, fmt.Errorf("unknown policy kind %q (identity, trust, resource)", s)
}

func runPolicyValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("idbroker policy validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kindFlag := fs.String("kind", "auto", "policy kind: auto, identity, trust or resource")
	session := fs.Bool("session", false, "also apply the session policy limits (2048 characters, TAB/LF/CR/U+0020-U+00FF)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	auto := strings.EqualFold(*kindFlag, "auto")
	var fixed policy.Kind
	if !auto {
		k, err := policyKindFlag(*kindFlag, policy.Identity)
		if err != nil {
			fmt.Fprintf(stderr, "idbroker policy validate: %v\n", err)
			return 2
		}
		fixed = k
	}
	bad := 0
	for _, file := range fs.Args() {
		data, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", file, err)
			bad++
			continue
		}
		kind := fixed
		if auto {
			kind = policyGuessKind(data)
		}
		problems := 0
		if *session {
			if err := policy.ValidateSessionPolicyText(string(data)); err != nil {
				fmt.Fprintf(stderr, "%s: ValidationError: %v\n", file, err)
				problems++
			}
		}
		p, err := policy.Parse(data, kind)
		if err != nil {
			fmt.Fprintf(stderr, "%s: MalformedPolicyDocument: %v\n", file, err)
			problems++
		}
		if problems > 0 {
			bad++
			continue
		}
		fmt.Fprintf(stdout, "%s: ok (%s policy, version %s, %d statements)\n", file, kind, p.Version(), p.Statements())
	}
	if bad > 0 {
		return 2
	}
	return 0
}

// policyGuessKind picks the kind for --kind auto: statements with a
// Principal but no Resource are a trust policy, with both a resource-based
// policy, otherwise an identity policy. Parse does the strict checking.
func policyGuessKind(data []byte) policy.Kind {
	var doc struct {
		Statement json.RawMessage
	}
	if json.Unmarshal(data, &doc) != nil {
		return policy.Identity
	}
	var stmts []map[string]json.RawMessage
	if json.Unmarshal(doc.Statement, &stmts) != nil {
		var one map[string]json.RawMessage
		if json.Unmarshal(doc.Statement, &one) != nil {
			return policy.Identity
		}
		stmts = []map[string]json.RawMessage{one}
	}
	principal, resource := false, false
	for _, s := range stmts {
		_, p := s["Principal"]
		_, np := s["NotPrincipal"]
		_, r := s["Resource"]
		_, nr := s["NotResource"]
		principal = principal || p || np
		resource = resource || r || nr
	}
	switch {
	case principal && resource:
		return policy.Resource
	case principal:
		return policy.Trust
	}
	return policy.Identity
}
