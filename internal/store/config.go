package store

import (
	"errors"
	"fmt"
	"net/url"
)

// The store types a configuration may name.
const (
	TypeMemory = "memory"
	TypeRedis  = "redis"
	TypeFile   = "file"
)

// Config is the `store:` section of the broker's configuration.
type Config struct {
	// Type is memory (the default when empty), redis or file.
	Type string
	// URL is the redis:// or rediss:// URL of a redis store.
	URL string
	// Path is the bbolt file of a file store.
	Path string
	// Replicas is how many broker processes will share the store (0 or 1:
	// one). More than one needs a shared store (redis).
	Replicas int
}

// Validate checks c without any I/O. Each error names its configuration
// key ("store.url: …") and never repeats a URL's password.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("store.%s: "+format, append([]any{key}, args...)...))
	}
	typ := c.Type
	if typ == "" {
		typ = TypeMemory
	}
	switch typ {
	case TypeMemory, TypeFile:
		if c.Replicas > 1 {
			add("replicas", "%d replicas cannot share a %s store, which serves one process: use type redis", c.Replicas, typ)
		}
	case TypeRedis:
	default:
		add("type", "%q must be memory, redis or file", c.Type)
	}
	switch {
	case typ == TypeRedis && c.URL == "":
		add("url", "required for type redis (redis://host:port/db or rediss://…)")
	case typ == TypeRedis:
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			add("url", "must be a redis:// or rediss:// URL")
		}
	case c.URL != "":
		add("url", "only type redis takes a url")
	}
	switch {
	case typ == TypeFile && c.Path == "":
		add("path", "required for type file (the bbolt file, created mode 0600 if absent)")
	case typ != TypeFile && c.Path != "":
		add("path", "only type file takes a path")
	}
	if c.Replicas < 0 {
		add("replicas", "%d must not be negative", c.Replicas)
	}
	return errors.Join(errs...)
}

// Open validates c and opens the store it names. A file store is opened
// (and locked) at once, so a path that cannot be used, or that another
// process holds, is an error here; a redis store dials on first use (call
// Ping to check it is reachable). Errors name their configuration key.
func Open(c Config) (Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Type {
	case TypeRedis:
		r, err := NewRedis(c.URL)
		if err != nil {
			return nil, fmt.Errorf("store.url: %w", err)
		}
		return r, nil
	case TypeFile:
		f, err := NewFile(c.Path, nil)
		if err != nil {
			return nil, fmt.Errorf("store.path: %w", err)
		}
		return f, nil
	default:
		return NewMemory(nil), nil
	}
}
