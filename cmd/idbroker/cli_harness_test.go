package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/idbroker/idbroker/configs"
)

// The harness of the terminal commands' tests: the built idbroker as a
// person runs it, in a home of its own (HOME, XDG_CACHE_HOME,
// AWS_CONFIG_FILE), against a running broker, with Debian's AWS CLI and
// boto3 reading the profiles it writes.

const (
	awsCLI  = "/usr/bin/aws"
	python3 = "/usr/bin/python3"
	// carol's password appears nowhere but where she types it: the tests
	// look for it in files and outputs.
	carolPassword = "carol-CANARY-pw-7d1e"
)

// cliDemoConfig is the embedded demo with carol (developers and admins,
// like bob) whose password is not her name.
func cliDemoConfig(t *testing.T) []byte {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(carolPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	carol := fmt.Sprintf("      - username: carol\n        password_hash: %q\n        groups: [developers, admins]\n", hash)
	anchor := "        attributes: {department: [operations]}\n"
	cfg := string(configs.Demo)
	if !strings.Contains(cfg, anchor) {
		t.Fatal("the demo configuration changed: no anchor for carol")
	}
	cfg = strings.Replace(cfg, anchor, anchor+carol, 1)
	return []byte(cfg)
}

// cliHome is one person's machine: a home directory with the AWS config
// file and the idbroker cache in it.
type cliHome struct {
	t         *testing.T
	bin, dir  string
	awsConfig string
	cacheDir  string
	extraEnv  []string
}

func newCLIHome(t *testing.T, bin string) *cliHome {
	t.Helper()
	dir := t.TempDir()
	return &cliHome{t: t, bin: bin, dir: dir, awsConfig: filepath.Join(dir, ".aws", "config"),
		cacheDir: filepath.Join(dir, ".cache", "idbroker")}
}

// env is the environment of every command: only what it needs, so that
// nothing of the machine's AWS setup leaks in.
func (h *cliHome) env(extra ...string) []string {
	env := []string{"HOME=" + h.dir, "PATH=" + os.Getenv("PATH"), "AWS_CONFIG_FILE=" + h.awsConfig,
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true", "LANG=C.UTF-8"}
	env = append(env, h.extraEnv...)
	return append(env, extra...)
}

// run runs idbroker with stdin: exit code, stdout, stderr.
func (h *cliHome) run(stdin string, args ...string) (int, string, string) {
	h.t.Helper()
	return h.exec(exec.Command(h.bin, args...), stdin)
}

func (h *cliHome) exec(cmd *exec.Cmd, stdin string, extraEnv ...string) (int, string, string) {
	h.t.Helper()
	cmd.Env = h.env(extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	case err != nil:
		h.t.Fatalf("%v: %v", cmd.Args, err)
	}
	return 0, out.String(), errOut.String()
}

// login signs user in with --password-stdin and more flags.
func (h *cliHome) login(base, user, password string, flags ...string) string {
	h.t.Helper()
	args := append([]string{"login", "--url", base, "--username", user, "--password-stdin"}, flags...)
	code, out, errOut := h.run(password+"\n", args...)
	if code != 0 {
		h.t.Fatalf("idbroker login: exit %d\n%s%s", code, out, errOut)
	}
	return out
}

// aws runs Debian's AWS CLI (always with --endpoint-url).
func (h *cliHome) aws(base string, args ...string) (int, string, string) {
	h.t.Helper()
	return h.exec(exec.Command(awsCLI, append(args, "--endpoint-url", base)...), "")
}

// callerARN is the Arn of aws sts get-caller-identity with profile.
func (h *cliHome) callerARN(base, profile string) string {
	h.t.Helper()
	code, out, errOut := h.aws(base, "sts", "get-caller-identity", "--profile", profile, "--output", "json")
	if code != 0 {
		h.t.Fatalf("aws sts get-caller-identity --profile %s: exit %d\n%s%s", profile, code, out, errOut)
	}
	var who struct{ Arn string }
	if err := json.Unmarshal([]byte(out), &who); err != nil {
		h.t.Fatalf("aws output %q: %v", out, err)
	}
	return who.Arn
}

// cachedSession reads the one cached session file (as an attacker with
// the person's account, or an administrator, could).
func (h *cliHome) cachedSession() map[string]any {
	h.t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.cacheDir, "session-*.json"))
	if len(files) != 1 {
		h.t.Fatalf("cached sessions: %v", files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		h.t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// needAWSClients skips (fails in CI) without Debian's AWS CLI and boto3.
func needAWSClients(t *testing.T) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(awsCLI); err != nil {
		missing = append(missing, awsCLI+" (apt-get install awscli)")
	}
	if err := exec.Command(python3, "-c", "import boto3").Run(); err != nil {
		missing = append(missing, "boto3 (apt-get install python3-boto3)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing in CI: %s", strings.Join(missing, ", "))
	}
	t.Skipf("SKIPPED: missing %s", strings.Join(missing, ", "))
}

// brokerBinary is `idbroker serve` running as a separate process.
type brokerBinary struct {
	base string
	// metrics is its metrics listener's base URL (--metrics-listen).
	metrics string
	cmd     *exec.Cmd
	log     *lockedBuffer
	done    chan error
}

// startBrokerBinary runs bin serve with the configuration file cfgPath
// ("" for the embedded demo) on a free port, until the test ends.
func startBrokerBinary(t *testing.T, bin, cfgPath string) *brokerBinary {
	t.Helper()
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	args := []string{"serve", "--listen", addr, "--metrics-listen", metricsAddr}
	if cfgPath != "" {
		args = append(args, "--config", cfgPath)
	}
	b := &brokerBinary{base: "http://" + addr, metrics: "http://" + metricsAddr, cmd: exec.Command(bin, args...), log: &lockedBuffer{}, done: make(chan error, 1)}
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	t.Cleanup(func() { b.stop(t) })
	waitHealthy(t, b.base)
	return b
}

func (b *brokerBinary) stop(t *testing.T) {
	if b.cmd.ProcessState != nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
}

// issued reads the STS's issuance counter from the metrics listener.
func (b *brokerBinary) issued(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(b.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	m := issuedMetric.FindSubmatch(raw)
	if m == nil {
		t.Fatal("no idbroker_sts_credentials_issued_total in /metrics")
	}
	f, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return int(f)
}

// noSecretIn fails when a secret appears in text (secrets shorter than 12
// characters could match by chance and are not looked for).
func noSecretIn(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if len(s) >= 12 && strings.Contains(text, s) {
			t.Errorf("a secret (%.6s…) appears in %s", s, where)
		}
	}
}
