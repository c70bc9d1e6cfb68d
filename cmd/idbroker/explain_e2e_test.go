package main

import (
	"bytes"
	"context"
	"gopkg.in/yaml.v3"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
)

// explainRequest is GET /api/v1/explain with the identity JSON in the query,
// SigV4-signed with c unless c is the zero value.
func explainRequest(t *testing.T, base string, rawQuery string, c minted) decResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/explain?"+rawQuery, nil)
	if c.id != "" {
		decSign(t, req, nil, c, time.Now())
	}
	return decDo(t, req)
}

func identityQuery(t *testing.T, name string) (string, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "explain", name+".identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	return "identity=" + url.QueryEscape(string(bytes.TrimSpace(raw))), raw
}

// TestExplainAPI: an administrator (bob signed in as Admin, listed in
// admin.roles) gets byte for byte what `idbroker explain --json` prints for
// the same configuration and identity; a Developer session, an unsigned
// request and bad credentials are refused.
func TestExplainAPI(t *testing.T) {
	cfgYAML := decisionConfig(t)
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, cfgYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, cfgYAML)
	admin := decLogin(t, ts.URL, "bob", "Admin")
	developer := decLogin(t, ts.URL, "alice", "")
	bobAsDeveloper := decLogin(t, ts.URL, "bob", "Developer")

	for _, who := range []string{"alice", "bob", "eve"} {
		t.Run("admin explains "+who, func(t *testing.T) {
			q, _ := identityQuery(t, who)
			r := explainRequest(t, ts.URL, q, admin)
			if r.status != 200 {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			var cli, errb bytes.Buffer
			idFile := filepath.Join("testdata", "explain", who+".identity.json")
			if code := run(context.Background(), []string{"explain", "--config", cfgFile, "--identity", idFile, "--json"}, nil, &cli, &errb); code != 0 {
				t.Fatalf("explain --json: %d %s", code, errb.String())
			}
			if !bytes.Equal(r.raw, cli.Bytes()) {
				t.Fatalf("API and CLI differ\n--- API\n%s\n--- CLI\n%s", r.raw, cli.String())
			}
			if _, ok := r.body["decision"].(string); !ok {
				t.Fatalf("no decision: %s", r.raw)
			}
		})
	}

	aliceQ, _ := identityQuery(t, "alice")
	tampered := admin
	tampered.token = decTamper(admin.token)
	cases := []struct {
		name       string
		query      string
		c          minted
		wantStatus int
		wantCode   string
	}{
		{"developer session", aliceQ, developer, 403, "AccessDenied"},
		{"an admin user signed in to a non-admin role", aliceQ, bobAsDeveloper, 403, "AccessDenied"},
		{"unsigned", aliceQ, minted{}, 403, "MissingAuthenticationToken"},
		{"tampered token", aliceQ, tampered, 403, "InvalidClientTokenId"},
		{"no identity", "", admin, 400, "InvalidRequest"},
		{"identity twice", aliceQ + "&" + aliceQ, admin, 400, "InvalidRequest"},
		{"identity not JSON", "identity=" + url.QueryEscape(`{"provider":`), admin, 400, "InvalidRequest"},
		{"identity with an unknown field", "identity=" + url.QueryEscape(`{"provider":"demo","username":"eve","admin":true}`), admin, 400, "InvalidRequest"},
		{"identity followed by more", "identity=" + url.QueryEscape(`{"provider":"demo"} {}`), admin, 400, "InvalidRequest"},
		{"identity over 64 KiB", "identity=" + url.QueryEscape(`{"provider":"demo","username":"`+strings.Repeat("x", 65<<10)+`"}`), admin, 413, "RequestTooLarge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := explainRequest(t, ts.URL, tc.query, tc.c)
			if r.status != tc.wantStatus || r.code() != tc.wantCode {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.wantStatus, tc.wantCode)
			}
			if _, ok := r.body["rules"]; ok {
				t.Fatal("an explanation was given")
			}
		})
	}
	t.Run("query changed after signing", func(t *testing.T) {
		bobQ, _ := identityQuery(t, "bob")
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1/explain?"+aliceQ, nil)
		decSign(t, req, nil, admin, time.Now())
		req.URL.RawQuery = bobQ
		if r := decDo(t, req); r.status != 403 || r.code() != "SignatureDoesNotMatch" {
			t.Fatalf("got %d %s", r.status, r.raw)
		}
	})
	ts.assertNoSecrets(t, admin.secret, admin.token, developer.token)
	if logs := ts.Logs.String(); !strings.Contains(logs, `"event":"explain"`) || !strings.Contains(logs, `"event":"explain.refused"`) {
		t.Error("explain calls and refusals are not audited")
	}
}

// TestExplainAPIWithoutAdmins: with no admin section nobody may explain,
// not even a session of a powerful role.
func TestExplainAPIWithoutAdmins(t *testing.T) {
	ts := startServer(t, demoWithoutAdmin(t))
	admin := decLogin(t, ts.URL, "bob", "Admin")
	q, _ := identityQuery(t, "alice")
	if r := explainRequest(t, ts.URL, q, admin); r.status != 403 || r.code() != "AccessDenied" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

// TestAdminConfig: admin.roles must name roles of the configuration.
func TestAdminConfig(t *testing.T) {
	cases := []struct {
		name, extra string
		wantErr     string
	}{
		{"known role", "admin: {roles: [Admin]}\n", ""},
		{"role names are case-insensitive", "admin: {roles: [admin]}\n", ""},
		{"unknown role", "admin: {roles: [Admin, Root]}\n", `admin.roles[1]: "Root" is not a role`},
		{"unknown key", "admin: {roles: [Admin], users: [bob]}\n", "admin.users"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(append(demoWithoutAdmin(t), tc.extra...), func(string) (string, bool) { return "", false })
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr == "":
				if got := cfg.adminRoleARNs(); len(got) != 1 || got[0] != decAdminARN {
					t.Fatalf("admin role ARNs %v", got)
				}
			}
		})
	}
}

// demoWithoutAdmin is the demo configuration without its admin section.
func demoWithoutAdmin(t *testing.T) []byte {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(configs.Demo, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["admin"]; !ok {
		t.Fatal("the demo configuration has no admin section any more: update the test")
	}
	delete(doc, "admin")
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
