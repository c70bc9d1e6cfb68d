package sts

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is an adjustable clock for a ring's schedule and a Service.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// dirRing loads dir into a ring on clk.
func dirRing(t *testing.T, dir string, clk *testClock) *KeyRing {
	t.Helper()
	k := &KeyRing{now: clk.now}
	if err := k.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	return k
}

// authCode is "" when c authenticates at the service's now, else the AWS code.
func authCode(t *testing.T, s *Service, c Credentials) string {
	t.Helper()
	req, body := signedCallerIdentity(t, c, s.now())
	if _, err := s.Authenticate(req, body); err != nil {
		return err.(*Error).Code
	}
	return ""
}

// sealedBy is the id of the key that sealed a session token.
func sealedBy(t *testing.T, tok string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < 2 || len(raw) < 2+int(raw[1]) {
		t.Fatalf("not a session token: %v", err)
	}
	return string(raw[2 : 2+int(raw[1])])
}

func readManifest(t *testing.T, dir string) keyManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m keyManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeManifest(t *testing.T, dir string, m keyManifest) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifestName), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeLegacyKey writes a key file as "keys init" did before keyring.json.
func writeLegacyKey(t *testing.T, dir, id string) {
	t.Helper()
	material, err := newKeyMaterial()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id+".key"), []byte(base64.StdEncoding.EncodeToString(material)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func infoOf(t *testing.T, infos []KeyInfo, id string) KeyInfo {
	t.Helper()
	for _, i := range infos {
		if i.ID == id {
			return i
		}
	}
	t.Fatalf("no key %s in %+v", id, infos)
	return KeyInfo{}
}

// A directory made before keyring.json existed loads as it did (every key
// verifies, the greatest id seals), lists without a schedule, and its first
// rotation records one that keeps the old keys for RetireMargin from then.
func TestKeyDirWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	const older, newer = "20250101T000000Z-0000000a", "20250201T000000Z-0000000b"
	writeLegacyKey(t, dir, older)
	writeLegacyKey(t, dir, newer)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := newTestClock(now)
	ring := dirRing(t, dir, clk)
	if ids := ring.KeyIDs(); !slices.Equal(ids, []string{older, newer}) || ring.ActiveKeyID() != newer {
		t.Fatalf("ids %v active %s", ids, ring.ActiveKeyID())
	}
	infos, err := ListKeyDir(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if o, n := infoOf(t, infos, older), infoOf(t, infos, newer); o.Active || !n.Active || !o.RetiresAt.IsZero() || !o.Verifies(now) {
		t.Errorf("list: %+v", infos)
	}
	s := testService(t, ring, clk.now)
	old := mintFor(t, s, time.Hour)

	rot, err := RotateKeyDir(dir, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir)
	if len(m.Keys) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for _, k := range m.Keys {
		if k.ID != rot.ID && (!k.DeactivatedAt.Equal(now) || !k.RetiresAt.Equal(now.Add(RetireMargin))) {
			t.Errorf("converted key %+v: want deactivated now and retiring RetireMargin later", k)
		}
	}
	if _, err := ring.Reload(); err != nil {
		t.Fatal(err)
	}
	if ring.ActiveKeyID() != rot.ID || authCode(t, s, old) != "" {
		t.Errorf("after rotation active %s, old credentials %q", ring.ActiveKeyID(), authCode(t, s, old))
	}
	for _, f := range []string{filepath.Join(dir, manifestName), filepath.Join(dir, rot.ID+".key")} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}
}

// A rotation's key verifies at once, seals from its activation time, and
// the key it replaces verifies until RetireMargin after that, then goes
// (without a change of the directory) and is pruned.
func TestKeyDirSchedule(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(time.Second).Truncate(time.Second) // after the first key's activation
	clk := newTestClock(base)
	ring := dirRing(t, dir, clk)
	s := testService(t, ring, clk.now)
	k1 := ring.ActiveKeyID()
	c1 := mintFor(t, s, time.Hour)

	clk.set(base.Add(time.Minute))
	rot, err := RotateKeyDir(dir, clk.now(), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	activates := base.Add(3 * time.Minute)
	if !rot.ActivatesAt.Equal(activates) {
		t.Fatalf("activates at %v, want %v", rot.ActivatesAt, activates)
	}
	if changed, err := ring.Reload(); err != nil || !changed {
		t.Fatalf("reload: changed %v err %v", changed, err)
	}
	if ring.ActiveKeyID() != k1 || ring.key(rot.ID) == nil {
		t.Fatalf("pending key: active %s, ids %v", ring.ActiveKeyID(), ring.KeyIDs())
	}
	if got := sealedBy(t, mintFor(t, s, time.Hour).SessionToken); got != k1 {
		t.Errorf("sealed by %s before the activation, want %s", got, k1)
	}
	// A pending key already verifies: a replica that activated it first may have sealed with it.
	if _, rk, err := ring.openToken(mustSeal(t, ring.key(rot.ID))); err != nil || rk.id != rot.ID {
		t.Errorf("pending key does not verify: %v", err)
	}

	clk.set(activates)
	c2 := mintFor(t, s, time.Hour)
	if ring.ActiveKeyID() != rot.ID || sealedBy(t, c2.SessionToken) != rot.ID {
		t.Fatalf("at activation: active %s, sealed by %s", ring.ActiveKeyID(), sealedBy(t, c2.SessionToken))
	}
	infos, err := ListKeyDir(dir, clk.now())
	if err != nil {
		t.Fatal(err)
	}
	old := infoOf(t, infos, k1)
	if old.Active || !old.DeactivatedAt.Equal(activates) || !old.RetiresAt.Equal(activates.Add(RetireMargin)) || !infoOf(t, infos, rot.ID).Active {
		t.Errorf("list after activation: %+v", infos)
	}

	retires := activates.Add(RetireMargin)
	clk.set(retires.Add(-time.Second))
	if changed, err := ring.Reload(); err != nil || changed {
		t.Errorf("unchanged dir reloaded: changed %v err %v", changed, err)
	}
	if code := authCode(t, s, c1); code != "ExpiredToken" { // c1 expired long ago, but its key still opens it
		t.Errorf("c1 before retirement: %q", code)
	}
	clk.set(retires)
	if changed, err := ring.Reload(); err != nil || !changed {
		t.Fatalf("retirement reload: changed %v err %v", changed, err)
	}
	if ring.key(k1) != nil {
		t.Errorf("key %s verifies after its retirement", k1)
	}
	if code := authCode(t, s, c1); code != "InvalidClientTokenId" {
		t.Errorf("c1 after retirement: %q", code)
	}
	pruned, err := PruneKeyDir(dir, clk.now())
	if err != nil || !slices.Equal(pruned, []string{k1}) {
		t.Fatalf("pruned %v err %v", pruned, err)
	}
	if _, err := os.Stat(filepath.Join(dir, k1+".key")); !os.IsNotExist(err) {
		t.Errorf("pruned key file: %v", err)
	}
	if _, err := ring.Reload(); err != nil || ring.ActiveKeyID() != rot.ID {
		t.Errorf("after prune: active %s err %v", ring.ActiveKeyID(), err)
	}
}

func mustSeal(t *testing.T, k *ringKey) string {
	t.Helper()
	tok, err := k.seal(&tokenClaims{AccessKeyID: "ASIAAAAAAAAAAAAAAAAA", Expiry: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Retiring a key ends what it sealed at the next load and nothing else; a
// sealing key is replaced first; the only key cannot be retired; a retired
// key never comes back, not even from a stray copy of its file.
func TestRetireKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := InitKeyDir(dir); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	clk := newTestClock(now)
	ring := dirRing(t, dir, clk)
	s := testService(t, ring, clk.now)
	k1 := ring.ActiveKeyID()
	if _, err := RetireKey(dir, k1, now); err == nil || !strings.Contains(err.Error(), "only key") {
		t.Fatalf("retiring the only key: %v", err)
	}
	c1 := mintFor(t, s, time.Hour)
	k1File, err := os.ReadFile(filepath.Join(dir, k1+".key"))
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]Credentials{k1: c1}
	var rotated []string
	for range 2 {
		rot, err := RotateKeyDir(dir, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.Reload(); err != nil {
			t.Fatal(err)
		}
		creds[rot.ID] = mintFor(t, s, time.Hour)
		rotated = append(rotated, rot.ID)
	}
	k2, k3 := rotated[0], rotated[1]
	if ring.ActiveKeyID() != k3 {
		t.Fatalf("active %s, want %s", ring.ActiveKeyID(), k3)
	}

	// A key no longer sealing: only its credentials stop.
	if made, err := RetireKey(dir, k2, now); err != nil || made != "" {
		t.Fatalf("retire %s: made %q err %v", k2, made, err)
	}
	if _, err := ring.Reload(); err != nil {
		t.Fatal(err)
	}
	for id, c := range creds {
		want := ""
		if id == k2 {
			want = "InvalidClientTokenId"
		}
		if got := authCode(t, s, c); got != want {
			t.Errorf("credentials of %s after retiring %s: %q, want %q", id, k2, got, want)
		}
	}
	if _, err := RetireKey(dir, k2, now); err == nil {
		t.Error("retiring a retired key succeeded")
	}

	// The sealing key: a new key seals at once first.
	made, err := RetireKey(dir, k3, now)
	if err != nil || made == "" {
		t.Fatalf("retire the sealing key: made %q err %v", made, err)
	}
	if _, err := ring.Reload(); err != nil {
		t.Fatal(err)
	}
	if ring.ActiveKeyID() != made || sealedBy(t, mintFor(t, s, time.Hour).SessionToken) != made {
		t.Errorf("after retiring the sealing key: active %s, want %s", ring.ActiveKeyID(), made)
	}
	if authCode(t, s, creds[k3]) != "InvalidClientTokenId" || authCode(t, s, creds[k1]) != "" {
		t.Errorf("k3 credentials %q, k1 credentials %q", authCode(t, s, creds[k3]), authCode(t, s, creds[k1]))
	}
	if _, err := os.Stat(filepath.Join(dir, k3+".key")); !os.IsNotExist(err) {
		t.Errorf("retired key file still there: %v", err)
	}

	// Retire k1, then put its file back: the tombstone in keyring.json keeps
	// it out of any ring, and this process remembers it even if keyring.json
	// loses the tombstone.
	if _, err := RetireKey(dir, k1, now); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, k1+".key"), k1File, 0o600); err != nil {
		t.Fatal(err)
	}
	if fresh := dirRing(t, dir, clk); fresh.key(k1) != nil {
		t.Error("a retired key's restored file verifies in a fresh ring")
	}
	m := readManifest(t, dir)
	for i := range m.Keys {
		m.Keys[i].RetiredAt = time.Time{}
		m.Keys[i].DeactivatedAt, m.Keys[i].RetiresAt = time.Time{}, time.Time{}
	}
	writeManifest(t, dir, m) // k3's file is gone: this one fails to load
	if _, err := ring.Reload(); err == nil {
		t.Fatal("a keyring.json listing a deleted key loaded")
	}
	m.Keys = slices.DeleteFunc(m.Keys, func(k manifestKey) bool { return k.ID == k2 || k.ID == k3 })
	writeManifest(t, dir, m)
	if _, err := ring.Reload(); err != nil {
		t.Fatal(err)
	}
	if ring.key(k1) != nil || authCode(t, s, c1) != "InvalidClientTokenId" {
		t.Error("a retired key verifies again after keyring.json lost its tombstone")
	}
	if err := ring.AddKey(k1, make([]byte, keySize)); err == nil {
		t.Error("AddKey of a retired id succeeded")
	}
}

// A reload that fails keeps the ring as it was (never an empty ring), for
// every way a directory can be half-written or wrong; the next good read
// loads.
func TestKeyDirReloadFailureKeepsRing(t *testing.T) {
	cases := []struct {
		name, want string
		break_     func(t *testing.T, dir string)
	}{
		{"keyring.json cut short", "unexpected EOF", func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, manifestName))
			_ = os.WriteFile(filepath.Join(dir, manifestName), data[:len(data)/2], 0o600)
		}},
		{"keyring.json unknown field", "unknown field", func(t *testing.T, dir string) {
			_ = os.WriteFile(filepath.Join(dir, manifestName), []byte(`{"format":1,"keys":[],"active":"x"}`), 0o600)
		}},
		{"keyring.json from the future", "format 2", func(t *testing.T, dir string) {
			m := readManifest(t, dir)
			m.Format = 2
			writeManifest(t, dir, m)
		}},
		{"listed key without its file", "is missing", func(t *testing.T, dir string) {
			m := readManifest(t, dir)
			m.Keys = append(m.Keys, manifestKey{ID: "20260101T000000Z-0000beef", Created: time.Now(), ActivatesAt: time.Now().Add(time.Hour)})
			writeManifest(t, dir, m)
		}},
		{"key file being written", "want 32 bytes", func(t *testing.T, dir string) {
			_ = os.WriteFile(filepath.Join(dir, "20260101T000000Z-0000cafe.key"), nil, 0o600)
		}},
		{"key file readable by others", "chmod 600", func(t *testing.T, dir string) {
			files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
			_ = os.Chmod(files[0], 0o644)
		}},
		{"keyring.json writable by others", "writable by group or others", func(t *testing.T, dir string) {
			_ = os.Chmod(filepath.Join(dir, manifestName), 0o666)
		}},
		{"nothing seals", "no key that seals", func(t *testing.T, dir string) {
			m := readManifest(t, dir)
			for i := range m.Keys {
				m.Keys[i].ActivatesAt = time.Now().Add(time.Hour)
			}
			writeManifest(t, dir, m)
		}},
		{"every key retired", "no key that seals", func(t *testing.T, dir string) {
			m := readManifest(t, dir)
			for i := range m.Keys {
				m.Keys[i].RetiredAt = time.Now()
			}
			writeManifest(t, dir, m)
		}},
		{"directory gone", "no such file", func(t *testing.T, dir string) {
			_ = os.RemoveAll(dir)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			if err := InitKeyDir(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := RotateKeyDir(dir, time.Now(), 0); err != nil {
				t.Fatal(err)
			}
			ring, err := LoadKeyRing(dir)
			if err != nil {
				t.Fatal(err)
			}
			s := testService(t, ring, time.Now)
			c := mintFor(t, s, time.Hour)
			ids, active := ring.KeyIDs(), ring.ActiveKeyID()
			good := map[string][]byte{}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				good[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
			}

			tc.break_(t, dir)
			if _, err := ring.Reload(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reload: %v, want an error with %q", err, tc.want)
			}
			if !slices.Equal(ring.KeyIDs(), ids) || ring.ActiveKeyID() != active || authCode(t, s, c) != "" {
				t.Fatalf("failed reload changed the ring: ids %v active %s", ring.KeyIDs(), ring.ActiveKeyID())
			}
			if _, err := LoadKeyRing(dir); err == nil {
				t.Error("a fresh load of the broken dir succeeded")
			}

			_ = os.RemoveAll(dir)
			_ = os.MkdirAll(dir, 0o700)
			for name, data := range good {
				_ = os.WriteFile(filepath.Join(dir, name), data, 0o600)
			}
			if _, err := ring.Reload(); err != nil || !slices.Equal(ring.KeyIDs(), ids) {
				t.Errorf("repaired dir: ids %v err %v", ring.KeyIDs(), err)
			}
		})
	}
}
