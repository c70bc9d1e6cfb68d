package sts

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/idbroker/idbroker/internal/awsspec"
)

// # Key directory format
//
// A key directory (mode 0700) holds one file per key, named "<id>.key"
// (mode 0600: never group- or world-accessible), whose content is one line,
// the standard base64 encoding of 32 random bytes. The id is
// "YYYYMMDDTHHMMSSZ-<8 hex>" (creation time, UTC). Next to them,
// "keyring.json" (mode 0600, replaced atomically by rename) records the
// rotation schedule:
//
//	{"format": 1, "keys": [
//	  {"id": "20260301T120000Z-3fa9c2d1", "created": "2026-03-01T12:00:00Z",
//	   "activates_at": "2026-03-01T12:00:00Z",
//	   "deactivated_at": "2026-04-01T09:01:00Z", "retires_at": "2026-04-01T21:16:00Z"},
//	  {"id": "20260401T090000Z-0badcafe", "created": "2026-04-01T09:00:00Z",
//	   "activates_at": "2026-04-01T09:01:00Z"},
//	  {"id": "20260201T080000Z-00c0ffee", "created": "2026-02-01T08:00:00Z",
//	   "activates_at": "2026-02-01T08:00:00Z", "retired_at": "2026-02-03T10:00:00Z"}]}
//
// The key with the latest activates_at not after now seals (of keys
// activating at the same instant, the one listed last); a key whose activates_at is still ahead is pending: it
// already verifies, so that every replica knows it before any seals with
// it. A key stops sealing when its successor activates (deactivated_at)
// and keeps verifying until retires_at = deactivated_at + the longest
// session (awsspec.MaxSessionDuration) + the clock skew replicas are allowed
// (15 minutes); after that it verifies nothing and may be pruned. A key
// with retired_at was ended by "keys retire": it never verifies again, and
// its entry stays as a tombstone (its file is deleted) so that a stray copy
// of the file cannot bring it back.
//
// A directory without keyring.json (made by an older "keys init") loads as
// it always did: every key file verifies and the greatest id seals. The
// first rotation writes keyring.json for it.
//
// Dotfiles and other files are ignored. When the directory holds a
// "..data" symlink (a mounted Kubernetes Secret or ConfigMap, whose files
// are symlinks into a "..data" directory replaced by renaming the symlink),
// the files are read from "..data" so that one load sees one version.

// manifestName is the key directory's record of the rotation schedule.
const manifestName = "keyring.json"

// manifestFormat is the version of keyring.json this code writes and reads.
const manifestFormat = 1

// RetireMargin is how long a key keeps verifying after it stops sealing:
// the longest credential it may have sealed (awsspec.MaxSessionDuration)
// plus the clock skew allowed between replicas (maxSkew).
const RetireMargin = awsspec.MaxSessionDuration + maxSkew

// keyManifest is keyring.json.
type keyManifest struct {
	Format int           `json:"format"`
	Keys   []manifestKey `json:"keys"`
}

// manifestKey is one key's record in keyring.json.
type manifestKey struct {
	ID            string    `json:"id"`
	Created       time.Time `json:"created"`
	ActivatesAt   time.Time `json:"activates_at"`
	DeactivatedAt time.Time `json:"deactivated_at,omitzero"`
	RetiresAt     time.Time `json:"retires_at,omitzero"`
	RetiredAt     time.Time `json:"retired_at,omitzero"`
}

// verifies reports whether the key may verify at now: not retired, not past
// its retirement.
func (m *manifestKey) verifies(now time.Time) bool {
	return m.RetiredAt.IsZero() && (m.RetiresAt.IsZero() || now.Before(m.RetiresAt))
}

// dirSnapshot is what one read of a key directory saw.
type dirSnapshot struct {
	dir      string
	root     string // where the files were read: dir, or its "..data"
	manifest []byte // nil: no keyring.json
	files    map[string]keyFile
	digest   [sha256.Size]byte
}

// keyFile is one "<id>.key" file as read.
type keyFile struct {
	path string
	mode fs.FileMode
	data []byte
}

// readKeyDir reads the manifest and every key file of dir once.
func readKeyDir(dir string) (*dirSnapshot, error) {
	snap := &dirSnapshot{dir: dir, root: dir, files: map[string]keyFile{}}
	if target, err := os.Readlink(filepath.Join(dir, "..data")); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		snap.root = target
	}
	entries, err := os.ReadDir(snap.root)
	if err != nil {
		return nil, fmt.Errorf("sts: key dir: %w", err)
	}
	h := sha256.New()
	for _, e := range entries { // sorted by name
		name := e.Name()
		if strings.HasPrefix(name, ".") || (name != manifestName && !strings.HasSuffix(name, ".key")) {
			continue
		}
		path := filepath.Join(snap.root, name)
		info, err := os.Stat(path) // follows the symlinks of a mounted Secret
		if err != nil {
			return nil, fmt.Errorf("sts: key dir: %w", err)
		}
		if info.IsDir() {
			continue
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("sts: %s: not a regular file", path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("sts: key dir: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", name, info.Mode().Perm(), len(data))
		h.Write(data)
		if name == manifestName {
			if info.Mode().Perm()&0o022 != 0 {
				return nil, fmt.Errorf("sts: %s: mode %v is writable by group or others; chmod 600 it", path, info.Mode().Perm())
			}
			snap.manifest = data
			continue
		}
		snap.files[strings.TrimSuffix(name, ".key")] = keyFile{path: path, mode: info.Mode().Perm(), data: data}
	}
	h.Sum(snap.digest[:0])
	return snap, nil
}

// keyPlan is a validated key directory: its schedule (read, or inferred for
// a directory without keyring.json) and the key material of every file.
type keyPlan struct {
	legacy   bool // no keyring.json
	manifest keyManifest
	material map[string][]byte // by id; files the manifest does not list included
	// unlisted are the ids of key files keyring.json does not list: they
	// are ignored (a rotation writes the key file before keyring.json).
	unlisted []string
}

// plan validates a snapshot at now. It refuses a key file that is
// malformed or accessible by group or others (naming it), a keyring.json
// that does not parse, and a half-written directory: a key that should
// verify at now without its file, or nothing to seal with at now.
func (s *dirSnapshot) plan(now time.Time) (*keyPlan, error) {
	p := &keyPlan{material: map[string][]byte{}}
	for id, f := range s.files {
		if f.mode&0o077 != 0 {
			return nil, fmt.Errorf("sts: key file %s: mode %v is accessible by group or others; chmod 600 it", f.path, f.mode)
		}
		material, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(f.data)))
		if err != nil {
			return nil, fmt.Errorf("sts: key file %s: not base64: %w", f.path, err)
		}
		if _, err := newRingKey(id, material); err != nil {
			return nil, fmt.Errorf("sts: key file %s: %w", f.path, err)
		}
		p.material[id] = material
	}
	if s.manifest == nil {
		return p, p.inferLegacy(s.dir)
	}
	dec := json.NewDecoder(bytes.NewReader(s.manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p.manifest); err != nil {
		return nil, fmt.Errorf("sts: %s: %w", filepath.Join(s.root, manifestName), err)
	}
	if err := p.manifest.check(); err != nil {
		return nil, fmt.Errorf("sts: %s: %w", filepath.Join(s.root, manifestName), err)
	}
	listed := map[string]bool{}
	for _, k := range p.manifest.Keys {
		listed[k.ID] = true
	}
	for id := range p.material {
		if !listed[id] {
			p.unlisted = append(p.unlisted, id)
		}
	}
	sort.Strings(p.unlisted)
	sealing := false
	for _, k := range p.manifest.Keys {
		if !k.verifies(now) {
			continue
		}
		if _, ok := p.material[k.ID]; !ok {
			return nil, fmt.Errorf("sts: key dir %s: %s lists key %s but %s.key is missing (a half-written directory?)", s.dir, manifestName, k.ID, k.ID)
		}
		sealing = sealing || !k.ActivatesAt.After(now)
	}
	if !sealing {
		return nil, fmt.Errorf("sts: key dir %s holds no key that seals at %s (run 'idbroker keys rotate --dir %s')", s.dir, now.UTC().Format(time.RFC3339), s.dir)
	}
	return p, nil
}

// inferLegacy describes a directory without keyring.json: every key
// verifies and the greatest id seals; when the others stopped sealing is
// not known.
func (p *keyPlan) inferLegacy(dir string) error {
	if len(p.material) == 0 {
		return errors.New("sts: key dir " + dir + " holds no key (run 'idbroker keys init " + dir + "')")
	}
	p.legacy = true
	p.manifest = keyManifest{Format: manifestFormat}
	for id := range p.material {
		created, _ := time.Parse(keyIDTimeFormat, id[:len(keyIDTimeFormat)])
		p.manifest.Keys = append(p.manifest.Keys, manifestKey{ID: id, Created: created})
	}
	sort.Slice(p.manifest.Keys, func(i, j int) bool { return p.manifest.Keys[i].ID < p.manifest.Keys[j].ID })
	return nil
}

// check validates keyring.json on its own.
func (m *keyManifest) check() error {
	if m.Format != manifestFormat {
		return fmt.Errorf("format %d: this version reads format %d", m.Format, manifestFormat)
	}
	seen := map[string]bool{}
	for i, k := range m.Keys {
		switch {
		case !keyIDPattern.MatchString(k.ID):
			return fmt.Errorf("keys[%d]: id %q must look like 20260301T120000Z-0123abcd", i, k.ID)
		case seen[k.ID]:
			return fmt.Errorf("keys[%d]: key %s listed twice", i, k.ID)
		case k.Created.IsZero() || k.ActivatesAt.IsZero():
			return fmt.Errorf("keys[%d]: key %s needs created and activates_at", i, k.ID)
		case k.DeactivatedAt.IsZero() != k.RetiresAt.IsZero():
			return fmt.Errorf("keys[%d]: key %s needs both deactivated_at and retires_at, or neither", i, k.ID)
		case k.RetiresAt.Before(k.DeactivatedAt):
			return fmt.Errorf("keys[%d]: key %s retires before it is deactivated", i, k.ID)
		}
		seen[k.ID] = true
	}
	return nil
}

// state builds the ring snapshot of a validated plan at now, leaving out the
// ids in retired (those this process has seen retired).
func (p *keyPlan) state(now time.Time, retired map[string]bool) (*ringState, error) {
	st := &ringState{keys: map[string]*ringKey{}}
	if p.legacy {
		for id, material := range p.material {
			if retired[id] {
				continue
			}
			rk, err := newRingKey(id, material)
			if err != nil {
				return nil, err
			}
			st.keys[id] = rk
			if st.active == nil || id > st.active.id {
				st.active = rk
			}
		}
		if st.active == nil {
			return nil, errors.New("sts: every key of the key dir was retired")
		}
		return st, nil
	}
	live := make([]manifestKey, 0, len(p.manifest.Keys))
	for _, k := range p.manifest.Keys {
		if k.verifies(now) && !retired[k.ID] {
			live = append(live, k)
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return activatesBefore(&live[i], &live[j]) })
	for _, k := range live {
		rk, err := newRingKey(k.ID, p.material[k.ID])
		if err != nil {
			return nil, err
		}
		st.keys[k.ID] = rk
		switch {
		case k.ActivatesAt.After(now):
			st.pending = append(st.pending, pendingKey{at: k.ActivatesAt, key: rk})
		default:
			st.active = rk
		}
		if !k.RetiresAt.IsZero() && (st.refresh.IsZero() || k.RetiresAt.Before(st.refresh)) {
			st.refresh = k.RetiresAt
		}
	}
	if st.active == nil {
		return nil, errors.New("sts: no key of the key dir seals now")
	}
	return st, nil
}

// activatesBefore orders keys by activation time. Sorts by it are stable:
// of keys activating at the same instant, the one later in keyring.json
// (the later rotation) seals.
func activatesBefore(a, b *manifestKey) bool { return a.ActivatesAt.Before(b.ActivatesAt) }

// LoadKeyRing loads the key directory dir (see the format above) into a
// ring that follows it (Reload, Watch). It fails if the directory holds no
// key, if a key file is group- or world-accessible or malformed (the error
// names it), or if the directory is half-written.
func LoadKeyRing(dir string) (*KeyRing, error) {
	k := &KeyRing{}
	if err := k.LoadDir(dir); err != nil {
		return nil, err
	}
	return k, nil
}

// LoadDir makes the ring follow dir and loads it now, replacing the ring's
// keys at once. On error the ring is left as it was.
func (k *KeyRing) LoadDir(dir string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.loadLocked(dir, true)
}

// Reload re-reads the ring's key directory and swaps in what it holds when
// it changed (or when a key reached its retirement). It reports whether the
// ring changed. On error the ring keeps its keys: a half-written or
// unreadable directory never empties it.
func (k *KeyRing) Reload() (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dir == "" {
		return false, nil
	}
	before := k.state.Load()
	err := k.loadLocked(k.dir, false)
	return k.state.Load() != before, err
}

// loadLocked reads dir and publishes its keys. Unless force, identical
// contents are not loaded again while no key has reached its retirement.
// A directory that changes while it is read is read again, a few times.
func (k *KeyRing) loadLocked(dir string, force bool) error {
	now := k.clock()
	var snap *dirSnapshot
	for attempt := 0; ; attempt++ {
		first, err := readKeyDir(dir)
		if err != nil {
			return err
		}
		if !force && dir == k.dir && first.digest == k.loaded && !k.refreshDue(now) {
			return nil
		}
		again, err := readKeyDir(dir)
		if err != nil {
			return err
		}
		if again.digest == first.digest {
			snap = again
			break
		}
		if attempt == 2 {
			return fmt.Errorf("%w: %s", errKeyDirInFlux, dir)
		}
	}
	plan, err := snap.plan(now)
	if err != nil {
		return err
	}
	retired := map[string]bool{}
	for id := range k.retired {
		retired[id] = true
	}
	for _, m := range plan.manifest.Keys {
		if !m.RetiredAt.IsZero() {
			retired[m.ID] = true
		}
	}
	st, err := plan.state(now, retired)
	if err != nil {
		return fmt.Errorf("%w (key dir %s)", err, dir)
	}
	k.retired = retired
	k.dir, k.loaded, k.unlisted = dir, snap.digest, plan.unlisted
	k.state.Store(st)
	return nil
}

// refreshDue reports whether a key of the current snapshot has reached its
// retirement, so that the directory must be loaded again even unchanged.
func (k *KeyRing) refreshDue(now time.Time) bool {
	st := k.state.Load()
	return st != nil && !st.refresh.IsZero() && !now.Before(st.refresh)
}
