package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, _ := DefaultCacheDir(); d != "/xdg/idbroker" {
		t.Errorf("with XDG_CACHE_HOME: %s", d)
	}
	t.Setenv("XDG_CACHE_HOME", "relative/ignored")
	if d, _ := DefaultCacheDir(); d != "/home/someone/.cache/idbroker" {
		t.Errorf("without an absolute XDG_CACHE_HOME: %s", d)
	}
}

func TestCacheRoundTripAndPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idbroker")
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", fi.Mode())
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	se := &CachedSession{BrokerURL: "https://b.example", User: "alice", Provider: "corp", SessionID: "S1", Token: "S1.secret", ExpiresAt: exp}
	if err := c.SaveSession(se); err != nil {
		t.Fatal(err)
	}
	got, err := c.Session("https://b.example", "alice")
	if err != nil || got.Token != "S1.secret" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("session %+v %v", got, err)
	}
	if _, err := c.Session("https://b.example", "bob"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("another user's session: %v", err)
	}
	// One session per broker and user: a new one replaces it.
	se2 := *se
	se2.SessionID, se2.Token = "S2", "S2.secret"
	if err := c.SaveSession(&se2); err != nil {
		t.Fatal(err)
	}
	all, errs := c.Sessions()
	if len(all) != 1 || all[0].SessionID != "S2" || len(errs) != 0 {
		t.Fatalf("sessions %v %v", all, errs)
	}
	if err := c.SaveKeys(&CachedKeys{Profile: "dev", SessionID: "S2", Credentials: Credentials{AccessKeyID: "A", Expiration: exp}}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", e.Name(), fi.Mode())
		}
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}

	keys := filepath.Join(dir, keysFile("dev"))
	if err := os.Chmod(keys, 0o644); err != nil {
		t.Fatal(err)
	}
	var ue *UnsafeError
	if _, err := c.Keys("dev"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "0644") {
		t.Errorf("a file others can read: %v", err)
	}
	_ = os.Chmod(keys, 0o600)

	// A symbolic link in place of a file is refused, not followed.
	target := filepath.Join(t.TempDir(), "elsewhere.json")
	_ = os.WriteFile(target, []byte(`{"profile":"x"}`), 0o600)
	link := filepath.Join(dir, profileFile("linked"))
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Profile("linked"); !errors.As(err, &ue) {
		t.Errorf("a symbolic link: %v", err)
	}
	os.Remove(link)

	if os.Getuid() == 0 {
		// Another user's file (the tests run as root here, so they can
		// give one away).
		if err := os.Chown(keys, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Keys("dev"); !errors.As(err, &ue) || !strings.Contains(err.Error(), "4242") {
			t.Errorf("another user's file: %v", err)
		}
	}

	// A directory others can read is refused, not repaired.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCache(dir); !errors.As(err, &ue) || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("a directory others can read: %v", err)
	}
}

// TestLockProfile: a second holder waits for the first.
func TestLockProfile(t *testing.T) {
	c, err := OpenCache(filepath.Join(t.TempDir(), "idbroker"))
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := c.LockProfile(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	order := []string{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		u, err := c.LockProfile(context.Background(), "dev")
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		order = append(order, "second")
		mu.Unlock()
		u()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.LockProfile(ctx, "dev"); err == nil {
		t.Fatal("a third holder got the lock while it was held")
	}
	mu.Lock()
	order = append(order, "first")
	mu.Unlock()
	unlock()
	<-done
	if strings.Join(order, ",") != "first,second" {
		t.Errorf("order %v", order)
	}
}
