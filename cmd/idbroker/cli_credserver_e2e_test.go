package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
)

const boto3ContainerScript = `
import boto3
s = boto3.Session()
c = s.get_credentials()
print(c.method if c else "none")
print(s.client("sts", endpoint_url=__import__("os").environ["URL"], region_name="us-east-1").get_caller_identity()["Arn"])
`

// credServer is a running `idbroker credentials-server` and the two
// variables it printed.
type credServer struct {
	cmd        *exec.Cmd
	uri, token string
	done       chan error
}

// startCredServer starts credentials-server and reads its two export
// lines.
func startCredServer(t *testing.T, home *cliHome, args ...string) *credServer {
	t.Helper()
	cmd := exec.Command(home.bin, append([]string{"credentials-server"}, args...)...)
	cmd.Env = home.env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &credServer{cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	for range 2 {
		select {
		case l := <-lines:
			name, value, _ := strings.Cut(strings.TrimPrefix(l, "export "), "=")
			value = strings.Trim(value, "'")
			switch name {
			case "AWS_CONTAINER_CREDENTIALS_FULL_URI":
				s.uri = value
			case "AWS_CONTAINER_AUTHORIZATION_TOKEN":
				s.token = value
			default:
				t.Fatalf("unexpected line %q", l)
			}
		case err := <-s.done:
			t.Fatalf("credentials-server ended: %v\n%s", err, stderr.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("credentials-server printed no variables\n%s", stderr.String())
		}
	}
	if !strings.HasPrefix(s.uri, "http://127.0.0.1:") || len(s.token) < 32 {
		t.Fatalf("variables %q %q", s.uri, s.token)
	}
	return s
}

// stop ends the server with SIGTERM: exit 0.
func (s *credServer) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("credentials-server after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("credentials-server did not stop on SIGTERM")
	}
}

// get asks the server with an Authorization header.
func (s *credServer) get(t *testing.T, auth string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.uri, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// withoutAWSEnv clears the AWS variables of the test process for the
// test (the SDK reads them) and points the config files nowhere.
func withoutAWSEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "AWS_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// TestCLICredentialsServer: aws-sdk-go-v2 and boto3 read a profile's keys
// from credentials-server through the container variables; a missing or
// wrong token is refused (401); keys near their expiry are replaced; the
// token file is kept private and reused; a non-loopback address and a
// profile without a session are refused before anything is printed.
func TestCLICredentialsServer(t *testing.T) {
	bin := buildIdbroker(t)
	ts := startServer(t, cliDemoConfig(t))
	home := newCLIHome(t, bin)

	if code, out, errOut := home.run("", "credentials-server", "--profile", "Developer"); code != 1 || out != "" || !strings.Contains(errOut, "idbroker login") {
		t.Fatalf("without a session: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := home.run("", "credentials-server", "--profile", "Developer", "--listen", "0.0.0.0:0"); code != 2 || out != "" || !strings.Contains(errOut, "not a loopback address") {
		t.Fatalf("--listen 0.0.0.0:0: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	home.login(ts.URL, "carol", carolPassword, "--role", "Developer")
	tokenFile := filepath.Join(t.TempDir(), "token")
	srv := startCredServer(t, home, "--profile", "Developer", "--token-file", tokenFile)
	if raw, _ := os.ReadFile(tokenFile); strings.TrimSpace(string(raw)) != srv.token {
		t.Errorf("token file %q, printed %q", raw, srv.token)
	}
	if fi, _ := os.Stat(tokenFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode())
	}

	t.Run("aws-sdk-go-v2 through the container variables", func(t *testing.T) {
		withoutAWSEnv(t)
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", srv.uri)
		t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", srv.token)
		ctx := context.Background()
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		who, err := awssts.NewFromConfig(cfg, func(o *awssts.Options) { o.BaseEndpoint = aws.String(ts.URL) }).GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(who.Arn); got != "arn:aws:sts::123456789012:assumed-role/Developer/carol" {
			t.Errorf("caller %s", got)
		}
		t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", srv.token+"x")
		cfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cfg.Credentials.Retrieve(ctx); err == nil {
			t.Error("the SDK got keys with a wrong token")
		}
	})

	t.Run("boto3 through the container variables", func(t *testing.T) {
		needAWSClients(t)
		code, out, errOut := home.exec(exec.Command(python3, "-c", boto3ContainerScript), "", "URL="+ts.URL,
			"AWS_CONTAINER_CREDENTIALS_FULL_URI="+srv.uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN="+srv.token, "AWS_CONFIG_FILE=/dev/null")
		if code != 0 || out != "container-role\narn:aws:sts::123456789012:assumed-role/Developer/carol\n" {
			t.Fatalf("boto3: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = home.exec(exec.Command(python3, "-c", boto3ContainerScript), "", "URL="+ts.URL,
			"AWS_CONTAINER_CREDENTIALS_FULL_URI="+srv.uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong-token-0123456789", "AWS_CONFIG_FILE=/dev/null")
		if code == 0 || strings.Contains(out, "assumed-role") {
			t.Errorf("boto3 with a wrong token: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("a missing or wrong token is refused", func(t *testing.T) {
		for _, auth := range []string{"", "wrong", "Bearer " + srv.token, srv.token[:len(srv.token)-1]} {
			if status, out := srv.get(t, auth); status != 401 || out["AccessKeyId"] != nil {
				t.Errorf("Authorization %q: %d %v", auth, status, out)
			}
		}
	})

	t.Run("keys near expiry are replaced", func(t *testing.T) {
		status, first := srv.get(t, srv.token)
		if status != 200 || first["RoleArn"] != "arn:aws:iam::123456789012:role/Developer" {
			t.Fatalf("%d %v", status, first)
		}
		// The cached keys now expire in 2 minutes: inside the 5 minutes
		// before expiry, when new ones are fetched.
		keysPath := filepath.Join(home.cacheDir, "keys-Developer.json")
		raw, err := os.ReadFile(keysPath)
		if err != nil {
			t.Fatal(err)
		}
		var k map[string]any
		_ = json.Unmarshal(raw, &k)
		k["Expiration"] = time.Now().Add(2 * time.Minute).UTC().Format(time.RFC3339)
		raw, _ = json.Marshal(k)
		if err := os.WriteFile(keysPath, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		before := ts.issued(t)
		status, second := srv.get(t, srv.token)
		if status != 200 || second["AccessKeyId"] == first["AccessKeyId"] || ts.issued(t) != before+1 {
			t.Errorf("not refreshed: %d, %v then %v", status, first["AccessKeyId"], second["AccessKeyId"])
		}
		if _, third := srv.get(t, srv.token); third["AccessKeyId"] != second["AccessKeyId"] {
			t.Error("fresh keys were not reused")
		}
	})

	srv.stop(t)
	again := startCredServer(t, home, "--profile", "Developer", "--token-file", tokenFile)
	if again.token != srv.token {
		t.Error("the token file's token was not reused")
	}
	again.stop(t)
	if err := os.Chmod(tokenFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := home.run("", "credentials-server", "--profile", "Developer", "--token-file", tokenFile); code != 1 || out != "" || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("a token file others can read: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
