package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idbroker/idbroker/configs"
	"github.com/idbroker/idbroker/ldapauth/ldaptest"
)

// clientPorts are the local ports of the ESTABLISHED TCP connections to
// 127.0.0.1:port, as the kernel lists them (/proc/net/tcp): the
// directory's clients, seen from outside the broker.
func clientPorts(t *testing.T, port int) map[int]bool {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp to count connections: %v", err)
	}
	defer f.Close()
	out := map[int]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st …; addresses are HEXIP:HEXPORT.
		if len(fields) < 4 || fields[3] != "01" {
			continue
		}
		local, remote := strings.Split(fields[1], ":"), strings.Split(fields[2], ":")
		if len(local) != 2 || len(remote) != 2 || remote[0] != "0100007F" {
			continue
		}
		rp, _ := strconv.ParseInt(remote[1], 16, 32)
		lp, _ := strconv.ParseInt(local[1], 16, 32)
		if int(rp) == port {
			out[int(lp)] = true
		}
	}
	return out
}

// TestReloadClosesPreviousPools: after a configuration reload, the LDAP
// connections the previous configuration pooled are closed (the
// directory's side of the sockets sees them go) instead of staying open
// until shutdown, and the new configuration logs in.
func TestReloadClosesPreviousPools(t *testing.T) {
	slapd := ldaptest.Start(t)
	port, err := strconv.Atoi(slapd.LDAPSURL[strings.LastIndex(slapd.LDAPSURL, ":")+1:])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	write := func(displayName string) {
		t.Helper()
		block := strings.Replace(ldapProviderBlock(slapd.LDAPSURL, slapd.CAFile, ""), "display_name: Corp directory", "display_name: "+displayName, 1)
		if err := os.WriteFile(path, ldapConfig(block, ""), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("Corp directory")
	cfg, err := loadServeConfig(path, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	trigger := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveReloading(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)), ready, trigger, func() (*fileConfig, error) { return loadServeConfig(path, "") })
	}()
	base := "http://" + <-ready
	t.Cleanup(func() { cancel(); <-done })

	login := func() {
		t.Helper()
		if status, out := apiLogin(t, base, map[string]any{"provider": "corp", "username": ldaptest.Bob.UID, "password": ldaptest.Bob.Password}); status != 200 {
			t.Fatalf("LDAP login: %d %v", status, out)
		}
	}
	login()
	old := clientPorts(t, port)
	if len(old) == 0 {
		t.Fatal("no connection to the directory after a login")
	}

	write("Corp directory (reloaded)")
	trigger <- os.Interrupt
	waitFor(t, func() bool { return strings.Contains(logs.String(), "configuration reloaded") })
	pollUntil(t, 20*time.Second, "the previous configuration's LDAP connections closed", func() string {
		now := clientPorts(t, port)
		var still []int
		for p := range old {
			if now[p] {
				still = append(still, p)
			}
		}
		if len(still) > 0 {
			return fmt.Sprintf("still open from local ports %v", still)
		}
		return ""
	})
	login()
	if status, page := getBody(t, base+"/"); status != 200 || !strings.Contains(page, "Corp directory (reloaded)") {
		t.Errorf("the sign-in page after the reload: %d", status)
	}
}

// TestReloadRetiresAfterInflight: the app a reload replaces is closed only
// once the requests it was serving have ended; requests that arrive after
// the swap go to the new app.
func TestReloadRetiresAfterInflight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var oldFinished, closedEarly, closed atomic.Bool
	old := &app{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		oldFinished.Store(true)
		_, _ = w.Write([]byte("old"))
	})}
	old.closeProviders = func() {
		closedEarly.Store(!oldFinished.Load())
		closed.Store(true)
	}
	next := &app{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("new")) })}
	var nextClosed atomic.Bool
	next.closeProviders = func() { nextClosed.Store(true) }

	current := &swapHandler{}
	current.set(old)
	srv := httptest.NewServer(current)
	defer srv.Close()
	slow := make(chan string, 1)
	go func() {
		_, body := getBody(t, srv.URL)
		slow <- body
	}()
	<-entered
	current.set(next)
	if _, body := getBody(t, srv.URL); body != "new" {
		t.Errorf("a request after the swap was served by %q", body)
	}
	if closed.Load() {
		t.Error("the previous app was closed while a request was in flight")
	}
	close(release)
	if body := <-slow; body != "old" {
		t.Errorf("the request in flight: %q", body)
	}
	pollUntil(t, 10*time.Second, "the previous app closed", func() string {
		if !closed.Load() {
			return "not closed"
		}
		return ""
	})
	if closedEarly.Load() {
		t.Error("the previous app was closed before its request ended")
	}
	current.closeAll()
	if !nextClosed.Load() {
		t.Error("shutdown did not close the current app")
	}
}

// TestReloadNamesRestartSettings: a reload that changes settings read only
// at start (the listen address, TLS, the store, logging) keeps their
// running values and names them in the log; the rest of the file applies.
func TestReloadNamesRestartSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	demo := strings.Replace(string(configs.Demo), "listen: 127.0.0.1:8080", "listen: 127.0.0.1:0", 1)
	if err := os.WriteFile(path, []byte(demo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadServeConfig(path, "")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	trigger := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveReloading(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)), ready, trigger, func() (*fileConfig, error) { return loadServeConfig(path, "") })
	}()
	base := "http://" + <-ready
	t.Cleanup(func() { cancel(); <-done })

	reload := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(logs.String(), "configuration reloaded")
		trigger <- os.Interrupt
		waitFor(t, func() bool { return strings.Count(logs.String(), "configuration reloaded") > n })
	}
	// Nothing restart-only changes (the file's listen address is the one
	// it started from): nothing is named.
	reload(strings.Replace(demo, "description: Read access to the demo buckets.", "description: Reloaded.", 1))
	if strings.Contains(logs.String(), "only on restart") {
		t.Errorf("a reload changing nothing restart-only warned:\n%s", logs.String())
	}
	changed := strings.Replace(demo, "listen: 127.0.0.1:0", "listen: 127.0.0.1:9999", 1)
	changed = strings.Replace(changed, "store: {type: memory}", "store: {type: file, path: "+filepath.Join(t.TempDir(), "state.db")+"}", 1)
	changed += "\nlogging: {level: debug}\n"
	reload(changed)
	var warned string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "only on restart") {
			warned = line
		}
	}
	if !strings.Contains(warned, `"settings":"[server.listen store logging]"`) {
		t.Errorf("the restart-only settings are not named: %q\n%s", warned, logs.String())
	}
	// Still serving on the running address and store.
	if status, out := apiLogin(t, base, map[string]any{"provider": "demo", "username": "alice", "password": "alice"}); status != 200 {
		t.Errorf("after the reload: %d %v", status, out)
	}
}
