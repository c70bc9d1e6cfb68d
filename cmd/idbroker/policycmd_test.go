package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicySimulate(t *testing.T) {
	roleS3 := `{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}`
	tests := []struct {
		name     string
		in       string
		decision string
		matched  string
	}{
		{"allow with variable", `{"policies":[` + roleS3 + `],"action":"s3:GetObject","resource":"arn:aws:s3:::b/alice/k","context":{"aws:username":"alice"}}`, "Allow", "policies[0]/Read"},
		{"implicit deny", `{"policies":[` + roleS3 + `],"action":"s3:GetObject","resource":"arn:aws:s3:::b/bob/k","context":{"aws:username":"alice"}}`, "ImplicitDeny", ""},
		{"session cannot widen", `{"policies":[` + roleS3 + `],"session_policies":[{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}],"action":"iam:CreateUser","resource":"*"}`, "ImplicitDeny", ""},
		{"session deny wins", `{"policies":[{"Statement":{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}}],"session_policies":[{"Statement":[{"Sid":"S","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoDel","Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}],"action":"s3:DeleteObject","resource":"arn:aws:s3:::b/k"}`, "ExplicitDeny", "session_policies[0]/NoDel"},
		{"empty session list denies", `{"policies":[{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}],"session_policies":[],"action":"s3:GetObject","resource":"*"}`, "ImplicitDeny", ""},
		{"both allow", `{"policies":[{"Statement":{"Sid":"A","Effect":"Allow","Action":"*","Resource":"*"}}],"session_policies":[{"Statement":{"Sid":"B","Effect":"Allow","Action":"s3:*","Resource":"*"}}],"action":"s3:GetObject","resource":"*"}`, "Allow", "policies[0]/A,session_policies[0]/B"},
		{"list context values", `{"policies":[{"Version":"2012-10-17","Statement":{"Sid":"T","Effect":"Allow","Action":"ec2:CreateTags","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}}}}],"action":"ec2:CreateTags","context":{"aws:TagKeys":["env","owner"]}}`, "ImplicitDeny", ""},
		{"policy given as a string", `{"policies":["{\"Statement\":{\"Sid\":\"S\",\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"],"action":"s3:GetObject"}`, "Allow", "policies[0]/S"},
		{"trust kind with principal", `{"kind":"trust","policies":[{"Statement":{"Sid":"T","Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"accounts.google.com:aud":"c1"}}}}],"action":"sts:AssumeRoleWithWebIdentity","principal":{"Federated":"accounts.google.com"},"context":{"accounts.google.com:aud":"c1"}}`, "Allow", "policies[0]/T"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runPolicy([]string{"simulate"}, strings.NewReader(tc.in), &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d, stderr %s", code, errb.String())
			}
			var res struct {
				Decision string `json:"decision"`
				Matched  []struct {
					Policy string `json:"policy"`
					Sid    string `json:"sid"`
				} `json:"matched"`
			}
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			var m []string
			for _, x := range res.Matched {
				m = append(m, x.Policy+"/"+x.Sid)
			}
			if res.Decision != tc.decision || strings.Join(m, ",") != tc.matched {
				t.Errorf("got %s [%s], want %s [%s]", res.Decision, strings.Join(m, ","), tc.decision, tc.matched)
			}
			if !strings.Contains(out.String(), `"matched":[`) {
				t.Errorf("matched must always be a list: %s", out.String())
			}
		})
	}
}

func TestPolicySimulateErrors(t *testing.T) {
	tests := []struct {
		name, in, stderr string
	}{
		{"duplicate Effect", `{"policies":[{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}],"action":"s3:GetObject"}`, "MalformedPolicyDocument: policies[0]: Duplicate key"},
		{"session policy malformed", `{"policies":[],"session_policies":[{"Statement":{"Effect":"Allow","Action":"*"}}],"action":"s3:GetObject"}`, "MalformedPolicyDocument: session_policies[0]: Policy statement must contain resources."},
		{"principal in identity policy", `{"policies":[{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}],"action":"s3:GetObject"}`, "MalformedPolicyDocument: policies[0]: Policy document should not specify a principal."},
		{"not JSON", `{`, "invalid request"},
		{"unknown field", `{"polices":[],"action":"s3:GetObject"}`, "invalid request"},
		{"no action", `{"policies":[]}`, "\"action\" is required"},
		{"context object", `{"policies":[],"action":"a:b","context":{"k":{"x":1}}}`, "context key"},
		{"bad kind", `{"policies":[],"action":"a:b","kind":"scp"}`, "unknown policy kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := runPolicy([]string{"simulate"}, strings.NewReader(tc.in), &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2 (stdout %s)", code, out.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tc.stderr)
			}
			if out.Len() != 0 {
				t.Errorf("stdout not empty: %s", out.String())
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)
	trust := write("trust.json", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity"}}`)
	dup := write("dup.json", `{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"*","Resource":"*"}}`)
	badTrust := write("badtrust.json", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}`)
	wide := write("wide.json", `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/`+"\u0100"+`"}}`)
	missing := filepath.Join(dir, "missing.json")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"all valid", []string{good, trust}, 0, []string{good + ": ok (Identity", trust + ": ok (Trust"}, nil},
		{"one bad", []string{good, dup}, 2, []string{good + ": ok"}, []string{dup + ": MalformedPolicyDocument: Duplicate key"}},
		{"forced kind", []string{"--kind", "trust", good}, 2, nil, []string{good + ": MalformedPolicyDocument: Missing required field Principal."}},
		{"auto resource kind", []string{badTrust}, 0, []string{badTrust + ": ok (Resource"}, nil},
		{"trust kind forbids Resource", []string{"--kind=trust", badTrust}, 2, nil, []string{badTrust + ": MalformedPolicyDocument: Has prohibited field Resource."}},
		{"session charset", []string{"--session", wide}, 2, nil, []string{wide + ": ValidationError:"}},
		{"without --session charset is not checked", []string{wide}, 0, []string{wide + ": ok"}, nil},
		{"missing file", []string{missing, good}, 2, []string{good + ": ok"}, []string{missing + ":"}},
		{"one line per problem", []string{dup, missing}, 2, nil, []string{dup + ":", missing + ":"}},
		{"no files", nil, 2, nil, []string{"usage"}},
		{"bad kind", []string{"--kind", "scp", good}, 2, nil, []string{"unknown policy kind"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runPolicy(append([]string{"validate"}, tc.args...), strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout %q lacks %q", out.String(), s)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr %q lacks %q", errb.String(), s)
				}
			}
			if tc.name == "one line per problem" {
				if n := strings.Count(strings.TrimSpace(errb.String()), "\n") + 1; n != 2 {
					t.Errorf("%d lines, want 2: %q", n, errb.String())
				}
			}
		})
	}
}

func TestPolicyUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runPolicy(nil, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Fatalf("no args: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := runPolicy([]string{"frobnicate"}, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown subcommand") {
		t.Fatalf("unknown: %d %q", code, errb.String())
	}
	out.Reset()
	if code := runPolicy([]string{"help"}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "simulate") {
		t.Fatalf("help: %d %q", code, out.String())
	}
	errb.Reset()
	if code := runPolicy([]string{"simulate", "extra"}, strings.NewReader("{}"), &out, &errb); code != 2 {
		t.Fatalf("simulate with args: %d", code)
	}
}
