package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The cache holds, per user, what the terminal commands share: the
// sessions (one per broker URL and user; the token is a secret), the
// profiles login wrote (which session and role each one uses) and the
// keys of each profile. Never a password.
//
// Directory 0700, files 0600, owned by the user; a file or directory with
// wider permissions, another owner, or that is not a plain file (a
// symbolic link) is refused, not used. Writes are atomic (a temporary
// file renamed over the old one), so a reader sees the old file or the
// new one, never half of one.
//
//	session-<sha256(url \x00 user)[:16] hex>.json   CachedSession
//	profile-<name>.json                              ProfileBinding
//	keys-<name>.json                                 CachedKeys

// maxCacheFile bounds what is read of one cache file.
const maxCacheFile = 1 << 20

// DefaultCacheDir is $XDG_CACHE_HOME/idbroker (an absolute
// XDG_CACHE_HOME), else ~/.cache/idbroker.
func DefaultCacheDir() (string, error) {
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "idbroker"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set XDG_CACHE_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".cache", "idbroker"), nil
}

// Cache is the cache directory.
type Cache struct{ Dir string }

// UnsafeError is a cache file or directory refused for its permissions,
// owner or kind.
type UnsafeError struct {
	Path, Why, Fix string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("%s %s, so it is not used: %s", e.Path, e.Why, e.Fix)
}

// OpenCache opens the cache directory dir, creating it (0700) when
// missing. A directory that others can read or write, that belongs to
// someone else or is a symbolic link is refused.
func OpenCache(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir():
		return nil, &UnsafeError{Path: dir, Why: "is not a directory (a symbolic link?)", Fix: "remove it, and sign in again"}
	case fi.Mode().Perm()&0o077 != 0:
		return nil, &UnsafeError{Path: dir, Why: fmt.Sprintf("has permissions %04o (others may read it)", fi.Mode().Perm()),
			Fix: "make it yours alone with: chmod 700 " + dir}
	}
	if err := checkOwner(fi); err != nil {
		return nil, &UnsafeError{Path: dir, Why: err.Error(), Fix: "remove it, and sign in again"}
	}
	return &Cache{Dir: dir}, nil
}

// CachedSession is a session of one user at one broker.
type CachedSession struct {
	BrokerURL string    `json:"broker_url"`
	Provider  string    `json:"provider"`
	User      string    `json:"user"`
	SessionID string    `json:"session_id"`
	Token     string    `json:"session_token"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ProfileBinding is a profile login wrote: the session (broker URL and
// user) and the role it uses.
type ProfileBinding struct {
	Profile   string `json:"profile"`
	BrokerURL string `json:"broker_url"`
	User      string `json:"user"`
	Provider  string `json:"provider"`
	RoleARN   string `json:"role_arn"`
	Region    string `json:"region"`
	// ConfigFile is the AWS config file the profile was written to.
	ConfigFile string `json:"config_file"`
}

// CachedKeys are a profile's keys, with the session that got them.
type CachedKeys struct {
	Profile   string `json:"profile"`
	SessionID string `json:"session_id"`
	Credentials
}

func sessionFile(brokerURL, user string) string {
	h := sha256.Sum256([]byte(brokerURL + "\x00" + user))
	return "session-" + hex.EncodeToString(h[:16]) + ".json"
}

func profileFile(name string) string { return "profile-" + name + ".json" }
func keysFile(name string) string    { return "keys-" + name + ".json" }

// SaveSession stores s, replacing the session of the same broker and user.
func (c *Cache) SaveSession(s *CachedSession) error {
	return c.write(sessionFile(s.BrokerURL, s.User), s)
}

// Session is the session of user at brokerURL; an error wrapping
// fs.ErrNotExist when there is none.
func (c *Cache) Session(brokerURL, user string) (*CachedSession, error) {
	var s CachedSession
	if err := c.read(sessionFile(brokerURL, user), &s); err != nil {
		return nil, err
	}
	if s.BrokerURL != brokerURL || s.User != user {
		return nil, fmt.Errorf("%s: %w", filepath.Join(c.Dir, sessionFile(brokerURL, user)), fs.ErrNotExist)
	}
	return &s, nil
}

// RemoveSession forgets the session of user at brokerURL.
func (c *Cache) RemoveSession(brokerURL, user string) error {
	return c.remove(sessionFile(brokerURL, user))
}

// Sessions are all the cached sessions, by broker and user; a file that
// cannot be used is reported in the errors and left out.
func (c *Cache) Sessions() ([]*CachedSession, []error) {
	var out []*CachedSession
	errs := c.each("session-", func(name string) error {
		var s CachedSession
		if err := c.read(name, &s); err != nil {
			return err
		}
		out = append(out, &s)
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].BrokerURL != out[j].BrokerURL {
			return out[i].BrokerURL < out[j].BrokerURL
		}
		return out[i].User < out[j].User
	})
	return out, errs
}

// SaveProfile stores the binding of a profile.
func (c *Cache) SaveProfile(p *ProfileBinding) error {
	if err := CheckProfileName(p.Profile); err != nil {
		return err
	}
	return c.write(profileFile(p.Profile), p)
}

// Profile is the binding of profile name; an error wrapping
// fs.ErrNotExist when login never wrote it.
func (c *Cache) Profile(name string) (*ProfileBinding, error) {
	if err := CheckProfileName(name); err != nil {
		return nil, err
	}
	var p ProfileBinding
	if err := c.read(profileFile(name), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Profiles are all the profile bindings, by name.
func (c *Cache) Profiles() ([]*ProfileBinding, []error) {
	var out []*ProfileBinding
	errs := c.each("profile-", func(name string) error {
		var p ProfileBinding
		if err := c.read(name, &p); err != nil {
			return err
		}
		out = append(out, &p)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Profile < out[j].Profile })
	return out, errs
}

// SaveKeys stores a profile's keys.
func (c *Cache) SaveKeys(k *CachedKeys) error {
	if err := CheckProfileName(k.Profile); err != nil {
		return err
	}
	return c.write(keysFile(k.Profile), k)
}

// Keys are the cached keys of profile name; an error wrapping
// fs.ErrNotExist when there are none.
func (c *Cache) Keys(name string) (*CachedKeys, error) {
	if err := CheckProfileName(name); err != nil {
		return nil, err
	}
	var k CachedKeys
	if err := c.read(keysFile(name), &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RemoveKeys forgets the keys of profile name.
func (c *Cache) RemoveKeys(name string) error {
	if err := CheckProfileName(name); err != nil {
		return err
	}
	return c.remove(keysFile(name))
}

// each calls f for every file of the cache whose name starts with prefix
// and ends with .json, and collects its errors.
func (c *Cache) each(prefix string, f func(name string) error) []error {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return []error{fmt.Errorf("cache directory: %w", err)}
	}
	var errs []error
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, ".json") {
			if err := f(n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// read decodes the cache file name into v after checking that it is a
// plain file of the user's that nobody else can read or write.
func (c *Cache) read(name string, v any) error {
	path := filepath.Join(c.Dir, name)
	f, err := openNoFollow(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", path, fs.ErrNotExist)
		}
		if isSymlinkRefusal(err) {
			return &UnsafeError{Path: path, Why: "is a symbolic link", Fix: "remove it (rm " + path + "), and sign in again"}
		}
		return fmt.Errorf("cache: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	switch {
	case !fi.Mode().IsRegular():
		return &UnsafeError{Path: path, Why: "is not a plain file", Fix: "remove it, and sign in again"}
	case fi.Mode().Perm()&0o077 != 0:
		return &UnsafeError{Path: path, Why: fmt.Sprintf("has permissions %04o (others may read it)", fi.Mode().Perm()),
			Fix: "remove it (rm " + path + "), and sign in again"}
	}
	if err := checkOwner(fi); err != nil {
		return &UnsafeError{Path: path, Why: err.Error(), Fix: "remove it, and sign in again"}
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxCacheFile+1))
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if len(raw) > maxCacheFile {
		return fmt.Errorf("cache file %s is too large to be one of idbroker's", path)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("cache file %s is damaged (%v): remove it, and sign in again", path, err)
	}
	return nil
}

// write stores v as the cache file name: a temporary file (0600) in the
// directory, synced, then renamed over the old one.
func (c *Cache) write(name string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(c.Dir, name), append(raw, '\n'), 0o600)
}

func (c *Cache) remove(name string) error {
	err := os.Remove(filepath.Join(c.Dir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// LockProfile serializes the refresh of a profile's keys between
// processes (the AWS CLI may run several credential processes at once):
// the returned function releases the lock.
func (c *Cache) LockProfile(ctx context.Context, name string) (func(), error) {
	if err := CheckProfileName(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout+10*time.Second)
	defer cancel()
	unlock, err := lockFile(ctx, filepath.Join(c.Dir, "lock-"+name))
	if err != nil {
		return nil, fmt.Errorf("cache: lock of profile %s: %w", name, err)
	}
	return unlock, nil
}

// WriteFileAtomic writes data to path through a temporary file in the
// same directory (mode perm), synced and renamed over path.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	return nil
}
