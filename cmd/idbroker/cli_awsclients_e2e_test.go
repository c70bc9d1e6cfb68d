package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A config file as people keep them, which two logins must leave byte for
// byte: comments, odd spacing, nested values, an inline comment.
const personalAWSConfig = `# my AWS config
[default]
region=eu-west-1
output = json

; work account
[profile work]
role_arn = arn:aws:iam::111111111111:role/x   # inline
source_profile=default
s3 =
  max_concurrent_requests = 20
  addressing_style = path

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
`

const boto3CallerScript = `
import os, boto3
s = boto3.Session(profile_name=os.environ["PROFILE"])
print(s.client("sts", endpoint_url=os.environ["URL"], region_name="us-east-1").get_caller_identity()["Arn"])
`

// TestCLIWithAWSClients: one `idbroker login --password-stdin` against a
// running broker (the built binary), then the AWS CLI and boto3 use the
// profiles it wrote; a second call of each is served from the cache (the
// broker issues once per profile); the person's AWS config file keeps its
// profiles, comments and order after two logins; env's exports work in a
// real shell; the password is nowhere on disk.
func TestCLIWithAWSClients(t *testing.T) {
	needAWSClients(t)
	bin := buildIdbroker(t)
	cfgPath := filepath.Join(t.TempDir(), "idbroker.yaml")
	if err := os.WriteFile(cfgPath, cliDemoConfig(t), 0o600); err != nil {
		t.Fatal(err)
	}
	broker := startBrokerBinary(t, bin, cfgPath)
	base := broker.base
	home := newCLIHome(t, bin)
	if err := os.MkdirAll(filepath.Dir(home.awsConfig), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(home.awsConfig, []byte(personalAWSConfig), 0o600); err != nil {
		t.Fatal(err)
	}

	out := home.login(base, "carol", carolPassword)
	for _, want := range []string{"Signed in to " + base + " as carol (demo)", "Wrote 2 profile(s) to " + home.awsConfig,
		"Developer", "Admin", "Try: aws sts get-caller-identity --profile Developer --endpoint-url " + base} {
		if !strings.Contains(out, want) {
			t.Errorf("login output lacks %q:\n%s", want, out)
		}
	}
	cfg1, _ := os.ReadFile(home.awsConfig)
	if !bytes.HasPrefix(cfg1, []byte(personalAWSConfig)) {
		t.Fatalf("the person's config was changed:\n%s", cfg1)
	}
	added := string(cfg1[len(personalAWSConfig):])
	wantAdded := "\n[profile Developer]\ncredential_process = " + bin + " credential-process --profile Developer\nregion = us-east-1\n" +
		"idbroker_url = " + base + "\nidbroker_role = arn:aws:iam::123456789012:role/Developer\n\n[profile Admin]\ncredential_process = " + bin +
		" credential-process --profile Admin\nregion = us-east-1\nidbroker_url = " + base + "\nidbroker_role = arn:aws:iam::123456789012:role/Admin\n"
	if added != wantAdded {
		t.Errorf("profiles written:\n%s\nwant:\n%s", added, wantAdded)
	}

	t.Run("AWS CLI, the second call from the cache", func(t *testing.T) {
		before := broker.issued(t)
		for range 2 {
			if arn := home.callerARN(base, "Admin"); arn != "arn:aws:sts::123456789012:assumed-role/Admin/carol" {
				t.Fatalf("caller %s", arn)
			}
		}
		if n := broker.issued(t) - before; n != 1 {
			t.Errorf("the broker issued %d times for two AWS CLI calls, want 1", n)
		}
	})

	t.Run("boto3, the second process from the cache", func(t *testing.T) {
		before := broker.issued(t)
		for range 2 {
			code, out, errOut := home.exec(exec.Command(python3, "-c", boto3CallerScript), "", "PROFILE=Developer", "URL="+base)
			if code != 0 || strings.TrimSpace(out) != "arn:aws:sts::123456789012:assumed-role/Developer/carol" {
				t.Fatalf("boto3: exit %d\n%s%s", code, out, errOut)
			}
		}
		if n := broker.issued(t) - before; n != 1 {
			t.Errorf("the broker issued %d times for two boto3 processes, want 1", n)
		}
	})

	t.Run("env in a real shell", func(t *testing.T) {
		code, exports, errOut := home.run("", "env", "--profile", "Admin")
		if code != 0 || !strings.Contains(exports, "export AWS_SESSION_TOKEN='") || !strings.Contains(exports, "export AWS_REGION='us-east-1'") {
			t.Fatalf("env: exit %d\n%s%s", code, exports, errOut)
		}
		script := exports + awsCLI + ` sts get-caller-identity --endpoint-url "$URL" --query Arn --output text`
		code, out, errOut := home.exec(exec.Command("sh", "-c", script), "", "URL="+base, "AWS_CONFIG_FILE=/dev/null")
		if code != 0 || strings.TrimSpace(out) != "arn:aws:sts::123456789012:assumed-role/Admin/carol" {
			t.Fatalf("aws with env's exports: exit %d\n%s%s", code, out, errOut)
		}
		if code, _, errOut := home.run("", "env", "--profile", "Admin", "--format", "csh"); code != 2 || !strings.Contains(errOut, "use one of sh, fish, powershell") {
			t.Errorf("--format csh: exit %d %s", code, errOut)
		}
	})

	t.Run("a second login keeps the file and adds only its profile", func(t *testing.T) {
		out := home.login(base, "carol", carolPassword, "--role", "Admin", "--profile", "carol-admin", "--region", "eu-west-3")
		if !strings.Contains(out, "Wrote 1 profile(s)") || !strings.Contains(out, "carol-admin") {
			t.Errorf("login output:\n%s", out)
		}
		cfg2, _ := os.ReadFile(home.awsConfig)
		if !bytes.HasPrefix(cfg2, cfg1) {
			t.Fatalf("the second login changed what was there:\n%s", cfg2)
		}
		if got := string(cfg2[len(cfg1):]); !strings.HasPrefix(got, "\n[profile carol-admin]\n") || !strings.Contains(got, "region = eu-west-3\n") {
			t.Errorf("added:\n%s", got)
		}
		// And the first login again: the same file, byte for byte.
		home.login(base, "carol", carolPassword)
		if cfg3, _ := os.ReadFile(home.awsConfig); !bytes.Equal(cfg3, cfg2) {
			t.Errorf("logging in again changed the file:\n%s", cfg3)
		}
		if arn := home.callerARN(base, "carol-admin"); arn != "arn:aws:sts::123456789012:assumed-role/Admin/carol" {
			t.Errorf("carol-admin: %s", arn)
		}
	})

	t.Run("status", func(t *testing.T) {
		code, out, errOut := home.run("", "status")
		if code != 0 {
			t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{base, "carol", "demo", "active", "carol-admin", "Admin", "none cached", "until "} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("the cache is private and holds no password", func(t *testing.T) {
		fi, err := os.Stat(home.cacheDir)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("cache directory: %v %v", fi.Mode(), err)
		}
		entries, _ := os.ReadDir(home.cacheDir)
		if len(entries) < 4 {
			t.Errorf("cache files: %v", entries)
		}
		for _, e := range entries {
			p := filepath.Join(home.cacheDir, e.Name())
			fi, _ := os.Stat(p)
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v", e.Name(), fi.Mode())
			}
			raw, _ := os.ReadFile(p)
			noSecretIn(t, e.Name(), string(raw), carolPassword)
		}
		cfg, _ := os.ReadFile(home.awsConfig)
		token, _ := home.cachedSession()["session_token"].(string)
		noSecretIn(t, "the AWS config file", string(cfg), carolPassword, token)
		noSecretIn(t, "the broker's log", broker.log.String(), carolPassword, token)
	})
}
