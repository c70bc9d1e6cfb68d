package main

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// writeConfigFile writes a configuration for the commands that take --config.
func writeConfigFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "idbroker.yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCmd runs the idbroker command line and returns exit code, stdout, stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// `idbroker explain --provider corp --user NAME` looks the user up in slapd
// (service bind and searches, no password) and explains the rules for the
// identity found: alice's direct groups give a choice of two roles; bob's
// org-all comes only through nested groups.
func TestExplainLookupLDAP(t *testing.T) {
	srv := ldaptest.Start(t)
	cfg := writeConfigFile(t, ldapConfig(ldapProviderBlock(srv.LDAPSURL, srv.CAFile, ""), ""))
	tests := []struct {
		name         string
		provider     string
		user         string
		wantDecision string
		wantGroups   []string // group names that must be listed
		wantMatched  []string // "rules[i] name" lines marked MATCHED
		wantNot      []string // "rules[i] name" lines marked NOT MATCHED
		wantRoles    []string
	}{
		{name: "alice", provider: "corp", user: ldaptest.Alice.UID, wantDecision: "choose",
			wantGroups:  []string{ldaptest.GroupDevelopers, ldaptest.GroupPosixDev},
			wantMatched: []string{"rules[1] corp-devs", "rules[2] corp-builders"},
			wantNot:     []string{"rules[0] demo-devs"},
			wantRoles:   []string{ldapDeveloperARN, ldapBuilderARN}},
		{name: "bob nested", provider: "corp", user: ldaptest.Bob.UID, wantDecision: "grant",
			wantGroups:  []string{ldaptest.GroupTeamA, ldaptest.GroupDeptX, ldaptest.GroupOrgAll},
			wantMatched: []string{"rules[3] corp-org"},
			wantNot:     []string{"rules[1] corp-devs", "rules[2] corp-builders"},
			wantRoles:   []string{ldapDeveloperARN}},
		{name: "bob typed in capitals", provider: "corp", user: "BOB", wantDecision: "grant",
			wantGroups: []string{ldaptest.GroupOrgAll}, wantMatched: []string{"rules[3] corp-org"},
			wantRoles: []string{ldapDeveloperARN}},
		{name: "carol", provider: "corp", user: ldaptest.Carol.UID, wantDecision: "grant",
			wantGroups: []string{ldaptest.GroupAuditors}, wantMatched: []string{"rules[4] corp-auditors"},
			wantNot: []string{"rules[3] corp-org"}, wantRoles: []string{"arn:aws:iam::123456789012:role/Auditor"}},
		{name: "admin: no rule", provider: "corp", user: ldaptest.Admin.UID, wantDecision: "deny",
			wantGroups: []string{ldaptest.GroupAdmins},
			wantNot:    []string{"rules[1] corp-devs", "rules[2] corp-builders", "rules[3] corp-org", "rules[4] corp-auditors"}},
		{name: "static user", provider: "demo", user: "alice", wantDecision: "grant",
			wantGroups: []string{"developers"}, wantMatched: []string{"rules[0] demo-devs"},
			wantRoles: []string{ldapDeveloperARN}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, "explain", "--config", cfg, "--provider", tc.provider, "--user", tc.user)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			head, rules, ok := strings.Cut(out, "\ndecision: ")
			if !ok {
				t.Fatalf("no decision after the identity:\n%s", out)
			}
			if !strings.Contains(head, "identity (looked up in provider "+tc.provider+")") ||
				!strings.Contains(head, "provider: "+tc.provider) || !strings.Contains(head, "subject:  ") {
				t.Errorf("identity summary:\n%s", head)
			}
			if tc.provider == "corp" && !strings.Contains(head, "username: "+strings.ToLower(tc.user)+"\n") {
				t.Errorf("username is not the directory's:\n%s", head)
			}
			for _, g := range tc.wantGroups {
				if !strings.Contains(head, "\n    "+g+"\n") {
					t.Errorf("group %q not listed:\n%s", g, head)
				}
			}
			if !strings.HasPrefix(rules, tc.wantDecision+" ") {
				t.Errorf("decision: %s, want %s", strings.SplitN(rules, "\n", 2)[0], tc.wantDecision)
			}
			for _, r := range tc.wantMatched {
				if !strings.Contains(rules, "  MATCHED     "+r+"\n") {
					t.Errorf("%s not MATCHED:\n%s", r, rules)
				}
			}
			for _, r := range tc.wantNot {
				if !strings.Contains(rules, "  NOT MATCHED "+r+"\n") {
					t.Errorf("%s not NOT MATCHED:\n%s", r, rules)
				}
			}
			grants, _, _ := strings.Cut(rules, "\nrules:")
			for _, arn := range tc.wantRoles {
				if !strings.Contains(grants, ". "+arn+"\n") {
					t.Errorf("grant %s missing:\n%s", arn, grants)
				}
			}
			if n := strings.Count(grants, ". arn:"); n != len(tc.wantRoles) {
				t.Errorf("%d grants, want %d:\n%s", n, len(tc.wantRoles), grants)
			}
			if strings.Contains(out+errOut, "CANARY") {
				t.Error("a password in the output")
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		code, out, errOut := runCmd(t, "explain", "--config", cfg, "--provider", "corp", "--user", ldaptest.Bob.UID, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got struct {
			Identity struct {
				Provider, Subject, Username string
				Groups                      []string
				Attributes                  map[string][]string
			} `json:"identity"`
			Decision string `json:"decision"`
			Grants   []struct {
				RoleARN string `json:"role_arn"`
				Rule    string `json:"rule"`
			} `json:"grants"`
			Rules []struct {
				Name    string `json:"name"`
				Matched bool   `json:"matched"`
			} `json:"rules"`
		}
		dec := json.NewDecoder(strings.NewReader(out))
		if err := dec.Decode(&got); err != nil || dec.More() {
			t.Fatalf("not one JSON document (%v):\n%s", err, out)
		}
		id := got.Identity
		if id.Provider != "corp" || id.Username != ldaptest.Bob.UID || len(id.Subject) != 36 ||
			!slices.Contains(id.Groups, ldaptest.GroupOrgAll) || len(id.Attributes["dn"]) != 1 {
			t.Errorf("identity = %+v", id)
		}
		if got.Decision != "grant" || len(got.Grants) != 1 || got.Grants[0].RoleARN != ldapDeveloperARN || got.Grants[0].Rule != "corp-org" {
			t.Errorf("decision %q grants %+v", got.Decision, got.Grants)
		}
		var matched []string
		for _, r := range got.Rules {
			if r.Matched {
				matched = append(matched, r.Name)
			}
		}
		if !slices.Equal(matched, []string{"corp-org"}) {
			t.Errorf("matched rules %q, want [corp-org]", matched)
		}
	})

	// Names that are no user: unknown, filter injection, impossible.
	for _, user := range []string{"nobody", "*", ")(uid=*", "admin)(|(uid=*", "al\x00ice"} {
		t.Run("no such user "+strings.ToValidUTF8(user, "?"), func(t *testing.T) {
			code, out, errOut := runCmd(t, "explain", "--config", cfg, "--provider", "corp", "--user", user)
			if code != 1 || out != "" || !strings.Contains(errOut, "no such user") || !strings.Contains(errOut, "provider corp") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}

	t.Run("directory down", func(t *testing.T) {
		srv.Stop()
		start := time.Now()
		code, out, errOut := runCmd(t, "explain", "--config", cfg, "--provider", "corp", "--user", ldaptest.Bob.UID)
		if code != 1 || out != "" || !strings.Contains(errOut, "look up") || strings.Contains(errOut, "no such user") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v", d)
		}
		if strings.Contains(errOut, "CANARY") {
			t.Error("a password in the error")
		}
	})
}

// A directory that accepts connections and never answers: --timeout bounds
// the look-up even when the provider's own login_timeout is longer.
func TestExplainLookupTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	block := ldapProviderBlock("ldap://"+ln.Addr().String(), "", "\n    insecure_no_tls: true")
	block = strings.NewReplacer("dial_timeout: 1s", "dial_timeout: 30s", "request_timeout: 2s", "request_timeout: 30s",
		"login_timeout: 3s", "login_timeout: 30s").Replace(block)
	cfg := writeConfigFile(t, ldapConfig(block, ""))
	start := time.Now()
	code, out, errOut := runCmd(t, "explain", "--config", cfg, "--provider", "corp", "--user", "bob", "--timeout", "500ms")
	took := time.Since(start)
	// Where the deadline strikes (dial, bind, search) decides the wording:
	// "timeout" from the context or "timed out" from go-ldap.
	if code != 1 || out != "" || !(strings.Contains(errOut, "timeout") || strings.Contains(errOut, "timed out")) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if took > 5*time.Second {
		t.Errorf("took %v with --timeout 500ms", took)
	}
}

// Providers that cannot look users up (SAML, OIDC) are refused clearly;
// flag misuse is a usage error (exit 2). None of these needs the network:
// the upstreams below do not exist.
func TestExplainLookupRefusals(t *testing.T) {
	cfg := writeConfigFile(t, []byte(`
account_id: "123456789012"
providers:
  - name: demo
    type: static
    users:
      - {username: alice, password_hash: "$2a$10$U9aZVUyLR.VgL4OPhZD3d.buFnvxyv3lZxDNy10Bapp2.tH9pU/7G", groups: [developers]}
  - name: okta
    type: saml
    idp_metadata_url: https://idp.invalid/metadata
    groups_attribute: groups
  - name: google
    type: oidc
    issuer: https://accounts.invalid
    client_id: x
    client_secret: y
rules:
  - {name: devs, when: {groups_any: [developers]}, roles: [Developer]}
roles:
  - name: Developer
`))
	idFile := filepath.Join("testdata", "explain", "alice.identity.json")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"saml", []string{"--provider", "okta", "--user", "alice"}, 1, "provider okta (saml) cannot look users up; use --identity"},
		{"oidc", []string{"--provider", "google", "--user", "alice"}, 1, "provider google (oidc) cannot look users up; use --identity"},
		{"unknown provider", []string{"--provider", "corp", "--user", "alice"}, 1, `no provider "corp" in the configuration (providers: demo, okta, google)`},
		{"unknown static user", []string{"--provider", "demo", "--user", "mallory"}, 1, `no such user "mallory" in provider demo`},
		{"both identity and provider", []string{"--identity", idFile, "--provider", "demo", "--user", "alice"}, 2, "either --identity or --provider"},
		{"identity and user", []string{"--identity", idFile, "--user", "alice"}, 2, "either --identity or --provider"},
		{"provider without user", []string{"--provider", "demo"}, 2, "--provider and --user go together"},
		{"user without provider", []string{"--user", "alice"}, 2, "--provider and --user go together"},
		{"neither", nil, 2, "usage: idbroker explain"},
		{"zero timeout", []string{"--provider", "demo", "--user", "alice", "--timeout", "0s"}, 2, "--timeout must be positive"},
		{"stray argument", []string{"--provider", "demo", "--user", "alice", "extra"}, 2, "usage: idbroker explain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append([]string{"explain", "--config", cfg}, tc.args...)...)
			if code != tc.wantCode || out != "" || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d (want %d), stdout %q, stderr %q (want %q)", code, tc.wantCode, out, errOut, tc.wantErr)
			}
		})
	}
	// The static provider in the same file does look up.
	code, out, errOut := runCmd(t, "explain", "--config", cfg, "--provider", "demo", "--user", "alice")
	if code != 0 || !strings.Contains(out, "  MATCHED     rules[0] devs\n") {
		t.Fatalf("demo alice: exit %d\n%s%s", code, out, errOut)
	}
}

// providers.Lookuper finds users without a password: only the explain
// command may use it. No code of the broker (every HTTP route) or of the
// server's wiring may name it or declare an interface with a Lookup method.
func TestLookuperOnlyInExplain(t *testing.T) {
	allowed := map[string]bool{"explain.go": true}
	checked := 0
	for _, dir := range []string{"../../broker", "."} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || dir == "." && allowed[filepath.Base(f)] {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if n.Sel.Name == "Lookuper" {
						t.Errorf("%s names providers.Lookuper: password-less look-ups must stay out of the server", f)
					}
				case *ast.InterfaceType:
					for _, m := range n.Methods.List {
						for _, name := range m.Names {
							if name.Name == "Lookup" {
								t.Errorf("%s declares an interface with Lookup", f)
							}
						}
					}
				}
				return true
			})
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d files: wrong directory?", checked)
	}
}
