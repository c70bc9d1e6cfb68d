package sts

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// The operator's actions on a key directory (idbroker keys …). Each runs
// under an exclusive lock of the directory, validates it as a replica would
// load it, then writes new key files first, keyring.json second (by
// rename), and deletes files last, so that a replica reading at any moment
// sees a consistent directory: a key it does not know yet is not listed,
// and a key it still has to verify is not deleted.

// DefaultActivationDelay is how long after a rotation the new key starts
// sealing. Until then it only verifies, so that every replica (each re-reads
// the directory every few seconds, see Watch) knows it before any replica
// seals a token with it.
const DefaultActivationDelay = time.Minute

// KeyInfo describes one key of a key directory (ListKeyDir).
type KeyInfo struct {
	ID      string
	Created time.Time
	// ActivatesAt is when the key starts (or started) sealing; zero when
	// not recorded (a directory without keyring.json).
	ActivatesAt time.Time
	// Active: the key seals now.
	Active bool
	// DeactivatedAt is when the key stops (or stopped) sealing and
	// RetiresAt when it stops verifying; zero while not scheduled or not
	// recorded.
	DeactivatedAt, RetiresAt time.Time
	// RetiredAt is when "keys retire" ended the key: it verifies nothing.
	RetiredAt time.Time
	// Unlisted: a key file keyring.json does not list; it is ignored.
	Unlisted bool
}

// Verifies reports whether the key verifies tokens at now.
func (i *KeyInfo) Verifies(now time.Time) bool {
	return !i.Unlisted && i.RetiredAt.IsZero() && (i.RetiresAt.IsZero() || now.Before(i.RetiresAt))
}

// KeyRotation is what RotateKeyDir did.
type KeyRotation struct {
	ID          string    // the new key
	ActivatesAt time.Time // when it starts sealing
	Pruned      []string  // keys past their retirement, removed
}

// InitKeyDir creates dir (mode 0700) if needed and, when it holds no key,
// writes a first key (mode 0600) that seals at once, and keyring.json. A
// directory that already holds keys is only checked: rotate it with
// RotateKeyDir.
func InitKeyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sts: key dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("sts: key dir: %w", err)
	}
	return editKeyDir(dir, time.Now(), func(snap *dirSnapshot, now time.Time) (*keyEdit, error) {
		if snap.manifest != nil || len(snap.files) > 0 {
			_, err := snap.plan(now)
			return nil, err
		}
		e := &keyEdit{manifest: keyManifest{Format: manifestFormat}}
		return e, e.addKey(now, now)
	})
}

// RotateKeyDir adds a new key to dir that starts sealing activateAfter from
// now (DefaultActivationDelay leaves every replica time to load it first);
// the key it replaces keeps verifying until RetireMargin after that. Keys
// past their retirement are pruned. A directory without keyring.json gets
// one; its older keys then retire RetireMargin after now, since when they
// stopped sealing was not recorded.
func RotateKeyDir(dir string, now time.Time, activateAfter time.Duration) (*KeyRotation, error) {
	if activateAfter < 0 {
		return nil, errors.New("sts: a rotation cannot activate in the past")
	}
	var rot KeyRotation
	err := editKeyDir(dir, now, func(snap *dirSnapshot, now time.Time) (*keyEdit, error) {
		e, err := editFrom(snap, now)
		if err != nil {
			return nil, err
		}
		rot.Pruned = e.prune(now)
		if err := e.addKey(now, now.Add(activateAfter)); err != nil {
			return nil, err
		}
		rot.ID, rot.ActivatesAt = e.added, now.Add(activateAfter)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return &rot, nil
}

// RetireKey ends key id of dir at now: no replica verifies what it sealed
// once it reads the directory (within seconds, see Watch), and its file is
// deleted. When id is the key sealing now, a new key is made to seal at
// once first. Retiring the only key that verifies is refused (rotate
// first). It returns the id of the key made to seal, if any.
func RetireKey(dir, id string, now time.Time) (string, error) {
	var made string
	err := editKeyDir(dir, now, func(snap *dirSnapshot, now time.Time) (*keyEdit, error) {
		e, err := editFrom(snap, now)
		if err != nil {
			return nil, err
		}
		target := e.find(id)
		if target == nil {
			return nil, fmt.Errorf("sts: key dir %s has no key %q", dir, id)
		}
		if !target.RetiredAt.IsZero() {
			return nil, fmt.Errorf("sts: key %s was already retired at %s", id, target.RetiredAt.Format(time.RFC3339))
		}
		others := 0
		for i := range e.manifest.Keys {
			if k := &e.manifest.Keys[i]; k.ID != id && k.verifies(now) {
				others++
			}
		}
		if others == 0 {
			return nil, fmt.Errorf("sts: key %s is the only key of %s: rotate first ('idbroker keys rotate --dir %s --activate-after 0s'), then retire it", id, dir, dir)
		}
		if e.sealingAt(now) == id {
			if err := e.addKey(now, now); err != nil {
				return nil, err
			}
			made = e.added
		}
		target = e.find(id) // addKey may have moved the slice
		target.RetiredAt = now
		e.remove = append(e.remove, id)
		e.rechain()
		return e, nil
	})
	return made, err
}

// PruneKeyDir removes the keys of dir past their retirement (they verify
// nothing any more) and the files of retired keys. Tombstones of retired
// keys stay in keyring.json. It returns the ids removed.
func PruneKeyDir(dir string, now time.Time) ([]string, error) {
	var pruned []string
	err := editKeyDir(dir, now, func(snap *dirSnapshot, now time.Time) (*keyEdit, error) {
		if snap.manifest == nil {
			_, err := snap.plan(now)
			return nil, err // nothing is known to be past its retirement
		}
		e, err := editFrom(snap, now)
		if err != nil {
			return nil, err
		}
		pruned = e.prune(now)
		return e, nil
	})
	return pruned, err
}

// ListKeyDir describes every key of dir at now, oldest first.
func ListKeyDir(dir string, now time.Time) ([]KeyInfo, error) {
	snap, err := readKeyDir(dir)
	if err != nil {
		return nil, err
	}
	p, err := snap.plan(now)
	if err != nil {
		return nil, err
	}
	var out []KeyInfo
	if p.legacy {
		newest := p.manifest.Keys[len(p.manifest.Keys)-1].ID
		for _, k := range p.manifest.Keys {
			out = append(out, KeyInfo{ID: k.ID, Created: k.Created, Active: k.ID == newest})
		}
		return out, nil
	}
	sealing := (&keyEdit{manifest: p.manifest}).sealingAt(now)
	for _, k := range p.manifest.Keys {
		out = append(out, KeyInfo{ID: k.ID, Created: k.Created, ActivatesAt: k.ActivatesAt, Active: k.ID == sealing,
			DeactivatedAt: k.DeactivatedAt, RetiresAt: k.RetiresAt, RetiredAt: k.RetiredAt})
	}
	for _, id := range p.unlisted {
		created, _ := time.Parse(keyIDTimeFormat, id[:len(keyIDTimeFormat)])
		out = append(out, KeyInfo{ID: id, Created: created, Unlisted: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// keyEdit is a change to a key directory: its next keyring.json, key files
// to write, and key files to delete after.
type keyEdit struct {
	manifest keyManifest
	write    map[string][]byte // id -> key material
	remove   []string          // ids whose files go
	added    string            // the id addKey made
}

// editFrom starts an edit of a validated directory; one without
// keyring.json gets the schedule described at RotateKeyDir.
func editFrom(snap *dirSnapshot, now time.Time) (*keyEdit, error) {
	p, err := snap.plan(now)
	if err != nil {
		return nil, err
	}
	e := &keyEdit{manifest: p.manifest}
	e.manifest.Keys = append([]manifestKey(nil), p.manifest.Keys...)
	if !p.legacy {
		return e, nil
	}
	for i := range e.manifest.Keys {
		k := &e.manifest.Keys[i]
		k.ActivatesAt = k.Created
		if k.ActivatesAt.After(now) {
			k.ActivatesAt = now
		}
		if i < len(e.manifest.Keys)-1 {
			k.DeactivatedAt, k.RetiresAt = now, now.Add(RetireMargin)
		}
	}
	return e, nil
}

func (e *keyEdit) find(id string) *manifestKey {
	for i := range e.manifest.Keys {
		if e.manifest.Keys[i].ID == id {
			return &e.manifest.Keys[i]
		}
	}
	return nil
}

// sealingAt is the id of the key that seals at now ("" if none).
func (e *keyEdit) sealingAt(now time.Time) string {
	var best *manifestKey
	for i := range e.manifest.Keys {
		k := &e.manifest.Keys[i]
		if k.verifies(now) && !k.ActivatesAt.After(now) && (best == nil || !activatesBefore(k, best)) {
			best = k
		}
	}
	if best == nil {
		return ""
	}
	return best.ID
}

// addKey makes a key created at now that seals from activates.
func (e *keyEdit) addKey(now, activates time.Time) error {
	id, err := newKeyID(now)
	if err != nil {
		return err
	}
	material, err := newKeyMaterial()
	if err != nil {
		return err
	}
	if e.write == nil {
		e.write = map[string][]byte{}
	}
	e.write[id] = material
	e.added = id
	e.manifest.Keys = append(e.manifest.Keys, manifestKey{ID: id, Created: now.UTC(), ActivatesAt: activates.UTC()})
	e.rechain()
	return nil
}

// prune drops the keys past their retirement and schedules the deletion of
// their files and of retired keys' files.
func (e *keyEdit) prune(now time.Time) []string {
	var pruned []string
	kept := e.manifest.Keys[:0:0]
	for _, k := range e.manifest.Keys {
		switch {
		case !k.RetiredAt.IsZero():
			e.remove = append(e.remove, k.ID) // a tombstone: its file, if any, goes
		case !k.RetiresAt.IsZero() && !now.Before(k.RetiresAt):
			pruned = append(pruned, k.ID)
			e.remove = append(e.remove, k.ID)
			continue
		}
		kept = append(kept, k)
	}
	e.manifest.Keys = kept
	return pruned
}

// rechain sets when each key stops sealing and verifying from the order in
// which keys activate: a key stops sealing when the next one that sealed or
// will seal activates, and retires RetireMargin later. A key retired before
// it activated never sealed and is skipped. A retirement already recorded
// is never brought forward (a later one is kept): a key may have sealed
// until then.
func (e *keyEdit) rechain() {
	var order []*manifestKey
	for i := range e.manifest.Keys {
		k := &e.manifest.Keys[i]
		if !k.RetiredAt.IsZero() && !k.RetiredAt.After(k.ActivatesAt) {
			continue
		}
		order = append(order, k)
	}
	sort.SliceStable(order, func(i, j int) bool { return activatesBefore(order[i], order[j]) })
	for i, k := range order {
		if !k.RetiredAt.IsZero() {
			continue
		}
		if i == len(order)-1 {
			k.DeactivatedAt, k.RetiresAt = time.Time{}, time.Time{}
			continue
		}
		d := order[i+1].ActivatesAt
		if k.RetiresAt.IsZero() || k.RetiresAt.Before(d.Add(RetireMargin)) {
			k.DeactivatedAt, k.RetiresAt = d, d.Add(RetireMargin)
		}
	}
}

// editKeyDir runs change on dir at now under the directory's lock and
// applies the edit it returns (nil: nothing to write).
func editKeyDir(dir string, now time.Time, change func(*dirSnapshot, time.Time) (*keyEdit, error)) error {
	if err := checkWritableKeyDir(dir); err != nil {
		return err
	}
	unlock, err := lockKeyDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	snap, err := readKeyDir(dir)
	if err != nil {
		return err
	}
	e, err := change(snap, now)
	if err != nil || e == nil {
		return err
	}
	return e.apply(dir)
}

// apply writes the new key files, then keyring.json, then deletes files.
func (e *keyEdit) apply(dir string) error {
	ids := make([]string, 0, len(e.write))
	for id := range e.write {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		name := id + ".key"
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sts: key file %s already exists", filepath.Join(dir, name))
		}
		if err := writeFileAtomic(dir, name, []byte(base64.StdEncoding.EncodeToString(e.write[id])+"\n")); err != nil {
			return err
		}
	}
	data, err := json.MarshalIndent(e.manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("sts: %s: %w", manifestName, err)
	}
	if err := writeFileAtomic(dir, manifestName, append(data, '\n')); err != nil {
		return err
	}
	for _, id := range e.remove {
		if err := os.Remove(filepath.Join(dir, id+".key")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sts: remove key file: %w", err)
		}
	}
	return syncDir(dir)
}

// checkWritableKeyDir refuses a directory others may write to (they could
// plant a key) and a mounted Kubernetes Secret (read-only; edit a copy and
// update the Secret).
func checkWritableKeyDir(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sts: key dir: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("sts: key dir %s is not a directory", dir)
	}
	if info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("sts: key dir %s: mode %v is writable by group or others; chmod 700 it", dir, info.Mode().Perm())
	}
	if _, err := os.Lstat(filepath.Join(dir, "..data")); err == nil {
		return fmt.Errorf("sts: key dir %s is a mounted Kubernetes Secret (it has ..data): change a copy and update the Secret from it", dir)
	}
	return nil
}

// writeFileAtomic writes dir/name (mode 0600) through a dotfile renamed
// over it, so that a reader sees the old or the new content, whole.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("sts: write %s: %w", name, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("sts: write %s: %w", filepath.Join(dir, name), err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("sts: write %s: %w", filepath.Join(dir, name), err)
	}
	return syncDir(dir)
}

// syncDir makes the directory's renames and removals durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sts: key dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sts: key dir %s: sync: %w", dir, err)
	}
	return nil
}
