package sts

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// secretVolume mimics the kubelet's atomic writer for a mounted Secret: the
// files live in a timestamped "..<ts>" directory, "..data" is a symlink to
// it, and each file name is a symlink "name -> ..data/name". An update
// writes a new timestamped directory, renames a new symlink over "..data"
// (the atomic switch), then adds and removes the per-file symlinks and
// deletes the old directory.
type secretVolume struct {
	dir     string
	version int
	current string // the timestamped directory ..data points to
}

// publish copies the non-dot files of src into the volume as a new version,
// with the Secret's defaultMode 0400. Between the switch of "..data" and the
// per-file symlinks it calls between (when not nil).
func (v *secretVolume) publish(t *testing.T, src string, between func()) {
	t.Helper()
	v.version++
	ts := fmt.Sprintf("..2026_03_01_12_00_00.%09d", v.version)
	if err := os.Mkdir(filepath.Join(v.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v.dir, ts, e.Name()), data, 0o400); err != nil {
			t.Fatal(err)
		}
		names[e.Name()] = true
	}
	if err := os.Symlink(ts, filepath.Join(v.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(v.dir, "..data_tmp"), filepath.Join(v.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if between != nil {
		between()
	}
	top, _ := os.ReadDir(v.dir)
	for _, e := range top {
		if !strings.HasPrefix(e.Name(), ".") && !names[e.Name()] {
			_ = os.Remove(filepath.Join(v.dir, e.Name()))
		}
	}
	for name := range names {
		if _, err := os.Lstat(filepath.Join(v.dir, name)); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if v.current != "" {
		_ = os.RemoveAll(filepath.Join(v.dir, v.current))
	}
	v.current = ts
}

// A key directory mounted from a Kubernetes Secret follows the Secret's
// atomic swaps, reading one version whole even while the per-file symlinks
// still name the previous one; the operator's commands refuse to edit it.
func TestKeyDirKubernetesSecret(t *testing.T) {
	work := filepath.Join(t.TempDir(), "work")
	if err := InitKeyDir(work); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "broker-cookie.bin"), make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	vol := &secretVolume{dir: filepath.Join(t.TempDir(), "mount")}
	if err := os.Mkdir(vol.dir, 0o1777); err != nil { // tmpfs mounts are world-writable, sticky
		t.Fatal(err)
	}
	vol.publish(t, work, nil)

	ring, err := LoadKeyRing(vol.dir)
	if err != nil {
		t.Fatal(err)
	}
	s := testService(t, ring, time.Now)
	k1 := ring.ActiveKeyID()
	c1 := mintFor(t, s, time.Hour)

	rot, err := RotateKeyDir(work, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	vol.publish(t, work, func() {
		// ..data names the new version; the new key has no symlink of its own yet.
		if _, err := os.Lstat(filepath.Join(vol.dir, rot.ID+".key")); !os.IsNotExist(err) {
			t.Fatalf("the test's swap is not half-way: %v", err)
		}
		if changed, err := ring.Reload(); err != nil || !changed {
			t.Fatalf("reload half-way through the swap: changed %v err %v", changed, err)
		}
	})
	if ring.ActiveKeyID() != rot.ID || authCode(t, s, c1) != "" {
		t.Fatalf("after the swap: active %s, old credentials %q", ring.ActiveKeyID(), authCode(t, s, c1))
	}
	if changed, err := ring.Reload(); err != nil || changed {
		t.Errorf("the same version through new symlinks reloaded: changed %v err %v", changed, err)
	}

	if _, err := RetireKey(work, k1, time.Now()); err != nil {
		t.Fatal(err)
	}
	vol.publish(t, work, nil)
	if _, err := ring.Reload(); err != nil {
		t.Fatal(err)
	}
	if code := authCode(t, s, c1); code != "InvalidClientTokenId" {
		t.Errorf("credentials of the retired key after the swap: %q", code)
	}

	if _, err := RotateKeyDir(vol.dir, time.Now(), 0); err == nil || !strings.Contains(err.Error(), "Kubernetes") {
		t.Errorf("rotating a mounted Secret: %v", err)
	}
}

// syncLog is a goroutine-safe log sink.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Watch swaps in a rotation, keeps the ring through a broken directory
// (saying why in the log, once), loads again once repaired, and never logs
// key material.
func TestWatch(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	ring, err := LoadKeyRing(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ring.Watch(ctx, 10*time.Millisecond, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	t.Cleanup(func() { cancel(); <-done })

	rot, err := RotateKeyDir(dir, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rotation", func() bool { return ring.ActiveKeyID() == rot.ID })
	waitFor(t, "the reload log line", func() bool { return strings.Contains(logs.String(), "sts key ring reloaded") })

	manifest, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	// Written as a whole (by rename), so that every poll sees the same failure.
	if err := writeFileAtomic(dir, manifestName, []byte("{")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failure log line", func() bool { return strings.Contains(logs.String(), "reload failed; keeping the previous key ring") })
	if ring.ActiveKeyID() != rot.ID || len(ring.KeyIDs()) != 2 {
		t.Fatalf("a failed reload changed the ring: %v", ring.KeyIDs())
	}
	if err := writeFileAtomic(dir, manifestName, manifest); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovery log line", func() bool { return strings.Contains(logs.String(), "loads again") })
	if n := strings.Count(logs.String(), "reload failed"); n != 1 {
		t.Errorf("the same failure logged %d times", n)
	}

	files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		material, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		for _, secret := range []string{strings.TrimSpace(string(data)), string(material)} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log holds the key material of %s", filepath.Base(f))
			}
		}
	}
}
