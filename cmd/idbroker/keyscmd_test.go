package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/sts"
)

// buildIdbroker builds the idbroker command into a temporary directory.
func buildIdbroker(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not found to build idbroker: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "idbroker")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// idbrokerCmd runs the binary to completion: exit code, stdout, stderr.
func idbrokerCmd(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	case err != nil:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return 0, out.String(), errOut.String()
}

// lockedBuffer is a goroutine-safe output sink for a child process.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sealingKeyOf is the id of the STS key that sealed a session token.
func sealingKeyOf(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 2 || len(raw) < 2+int(raw[1]) {
		t.Fatalf("not a session token: %v", err)
	}
	return string(raw[2 : 2+int(raw[1])])
}

// callerCode is "" when the credentials authenticate with base's STS, else
// the AWS error code.
func callerCode(t *testing.T, base string, creds map[string]any) string {
	t.Helper()
	c := awssts.New(awssts.Options{BaseEndpoint: aws.String(base), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: creds["AccessKeyId"].(string), SecretAccessKey: creds["SecretAccessKey"].(string),
				SessionToken: creds["SessionToken"].(string)}, nil
		})})
	_, err := c.GetCallerIdentity(context.Background(), &awssts.GetCallerIdentityInput{})
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return ae.ErrorCode()
}

// TestKeysCommands runs the idbroker binary as an operator does: keys
// init, a server on that directory, keys rotate (the running server seals
// with the new key within 10 seconds, and the old credentials keep
// working), keys list, keys retire (the server refuses the retired key's
// credentials within 10 seconds, and nothing else), and the refusals.
func TestKeysCommands(t *testing.T) {
	bin := buildIdbroker(t)
	dir := filepath.Join(t.TempDir(), "keys")

	if code, out, errOut := idbrokerCmd(t, bin, "keys", "init", dir); code != 0 || !strings.Contains(out, "keys written to "+dir) {
		t.Fatalf("keys init: exit %d\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key dir: %v %v", fi.Mode(), err)
	}
	for _, pattern := range []string{"*.key", "keyring.json"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, f := range files {
			if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v", f, fi.Mode().Perm())
			}
		}
		if len(files) != 1 {
			t.Fatalf("%s: %v", pattern, files)
		}
	}
	code, out, errOut := idbrokerCmd(t, bin, "keys", "list", "--dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !regexp.MustCompile(`^ID\s+CREATED\s+ACTIVE\s+RETIRES AT$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{8}\s+\S+Z\s+yes\s+-$`).MatchString(lines[1]) {
		t.Fatalf("keys list: exit %d\n%s%s", code, out, errOut)
	}
	first := strings.Fields(lines[1])[0]

	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	cfg := strings.Replace(string(configs.Demo), `keys: {dir: ""}`, fmt.Sprintf("keys: {dir: %q}", dir), 1)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	serveLog := &lockedBuffer{}
	srv := exec.Command(bin, "serve", "--config", cfgPath, "--listen", addr)
	srv.Stdout, srv.Stderr = serveLog, serveLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = srv.Process.Kill()
		}
	})
	waitHealthy(t, base)
	login := func() map[string]any {
		t.Helper()
		status, creds := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
		if status != 200 {
			t.Fatalf("login: %d %v", status, creds)
		}
		return creds
	}
	old := login()
	if k := sealingKeyOf(t, old["SessionToken"].(string)); k != first {
		t.Fatalf("sealed by %s, want %s", k, first)
	}

	code, out, errOut = idbrokerCmd(t, bin, "keys", "rotate", "--dir", dir, "--activate-after", "0s")
	m := regexp.MustCompile(`^new key (\S+) seals from \S+Z\n$`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errOut)
	}
	second := m[1]
	var fresh map[string]any
	pollUntil(t, 10*time.Second, "sealing with the rotated key", func() string {
		if fresh = login(); sealingKeyOf(t, fresh["SessionToken"].(string)) != second {
			return "the server still seals with " + first + "\n" + serveLog.String()
		}
		return ""
	})
	if c := callerCode(t, base, old); c != "" {
		t.Errorf("credentials of the previous key after the rotation: %s", c)
	}
	code, out, _ = idbrokerCmd(t, bin, "keys", "list", "--dir", dir)
	if code != 0 || !regexp.MustCompile(first+`\s+\S+Z\s+no\s+\S+Z\n`).MatchString(out) || !regexp.MustCompile(second+`\s+\S+Z\s+yes\s+-\n`).MatchString(out) {
		t.Errorf("keys list after the rotation:\n%s", out)
	}

	// Retire the previous key: its credentials stop within 10 s, the others do not.
	code, out, errOut = idbrokerCmd(t, bin, "keys", "retire", "--dir", dir, "--id", first)
	if code != 0 || !strings.Contains(out, "key "+first+" retired") {
		t.Fatalf("keys retire: exit %d\n%s%s", code, out, errOut)
	}
	pollUntil(t, 10*time.Second, "refusing the retired key's credentials", func() string {
		if c := callerCode(t, base, old); c != "InvalidClientTokenId" {
			return "its credentials still answer " + c + "\n" + serveLog.String()
		}
		return ""
	})
	if c := callerCode(t, base, fresh); c != "" {
		t.Errorf("credentials of the remaining key after the retirement: %s", c)
	}
	code, out, _ = idbrokerCmd(t, bin, "keys", "list", "--dir", dir)
	if code != 0 || !regexp.MustCompile(first+`\s+\S+Z\s+no\s+retired\n`).MatchString(out) {
		t.Errorf("keys list after the retirement:\n%s", out)
	}

	// Refusals: the only key, an unknown id, missing flags.
	if code, _, errOut := idbrokerCmd(t, bin, "keys", "retire", "--dir", dir, "--id", second); code != 1 || !strings.Contains(errOut, "only key") {
		t.Errorf("retiring the only key: exit %d: %s", code, errOut)
	}
	if code, _, errOut := idbrokerCmd(t, bin, "keys", "retire", "--dir", dir, "--id", "20200101T000000Z-00000000"); code != 1 || !strings.Contains(errOut, "has no key") {
		t.Errorf("retiring an unknown key: exit %d: %s", code, errOut)
	}
	for _, args := range [][]string{{"keys", "rotate"}, {"keys", "retire", "--dir", dir}, {"keys", "list", dir}, {"keys", "spin"}} {
		if code, _, _ := idbrokerCmd(t, bin, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}

	// The default rotation is scheduled: listed as pending, nothing to prune.
	code, out, errOut = idbrokerCmd(t, bin, "keys", "rotate", "--dir", dir)
	if code != 0 {
		t.Fatalf("keys rotate: exit %d\n%s%s", code, out, errOut)
	}
	third := strings.Fields(out)[2]
	code, out, _ = idbrokerCmd(t, bin, "keys", "list", "--dir", dir)
	if code != 0 || !regexp.MustCompile(third+`\s+\S+Z\s+from \S+Z\s+-\n`).MatchString(out) || !regexp.MustCompile(second+`\s+\S+Z\s+yes\s+\S+Z\n`).MatchString(out) {
		t.Errorf("keys list with a pending key:\n%s", out)
	}
	if code, out, _ := idbrokerCmd(t, bin, "keys", "prune", "--dir", dir); code != 0 || !strings.Contains(out, "no key is past its retirement") {
		t.Errorf("keys prune: exit %d: %s", code, out)
	}

	waitForLog := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(serveLog.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the server log:\n%s", what, serveLog.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitForLog("sts key ring reloaded")
	for _, f := range mustGlob(t, filepath.Join(dir, "*.key")) {
		data, _ := os.ReadFile(f)
		if strings.Contains(serveLog.String(), strings.TrimSpace(string(data))) {
			t.Errorf("the server log holds the key material of %s", filepath.Base(f))
		}
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("glob %s: %v %v", pattern, files, err)
	}
	return files
}

// TestReloadFollowsKeyDir: after a configuration reload the server still
// follows keys.dir (a reload keeping it keeps the watched ring; one
// changing it moves the watcher to the new directory).
func TestReloadFollowsKeyDir(t *testing.T) {
	tmp := t.TempDir()
	dirs := []string{filepath.Join(tmp, "keys-a"), filepath.Join(tmp, "keys-b")}
	for _, d := range dirs {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"keys", "init", d}, nil, &out, &errOut); code != 0 {
			t.Fatalf("keys init: %s", errOut.String())
		}
	}
	path := filepath.Join(tmp, "config.yaml")
	writeCfg := func(dir string) {
		t.Helper()
		cfg := strings.Replace(string(configs.Demo), `keys: {dir: ""}`, fmt.Sprintf("keys: {dir: %q}", dir), 1)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(dirs[0])
	cfg, err := loadServeConfig(path, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	trigger := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() {
		done <- serveReloading(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)), ready, trigger, func() (*fileConfig, error) { return loadServeConfig(path, "") })
	}()
	base := "http://" + <-ready
	t.Cleanup(func() { cancel(); <-done })
	sealer := func() string {
		status, creds := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"})
		if status != 200 {
			t.Fatalf("login: %d %v", status, creds)
		}
		return sealingKeyOf(t, creds["SessionToken"].(string))
	}
	reloads := 0
	reload := func() {
		t.Helper()
		reloads++
		trigger <- syscall.SIGHUP
		waitFor(t, func() bool { return strings.Count(logs.String(), "configuration reloaded") == reloads })
	}
	rotateAndSee := func(dir string) {
		t.Helper()
		rot, err := sts.RotateKeyDir(dir, time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return sealer() == rot.ID })
	}

	reload() // same keys.dir
	rotateAndSee(dirs[0])
	writeCfg(dirs[1])
	reload() // keys.dir moves
	rotateAndSee(dirs[1])
}
