package main

import (
	"errors"
	"fmt"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/idbroker/idbroker/internal/store"
)

// storeConfig is the store block: where the state every replica shares
// lives (sessions, revocations, replay caches, lock-out counters).
//
//	store: {type: memory}                                  # one process, forgets at exit (the demo)
//	store: {type: file, path: /var/lib/idbroker/state.db}  # one process, kept across restarts
//	store: {type: redis, url: redis://127.0.0.1:6379/0, replicas: 3}
type storeConfig struct {
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
	Path string `yaml:"path"`
	// Replicas is how many broker processes share the store; more than one
	// requires type redis.
	Replicas int `yaml:"replicas"`
}

func (c storeConfig) store() store.Config {
	return store.Config{Type: c.Type, URL: c.URL, Path: c.Path, Replicas: c.Replicas}
}

// validate is internal/store's check of the block, one problem per key.
func (c storeConfig) validate() []error {
	err := c.store().Validate()
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkStoreOpens is config check's look at a file store: the file must be
// one this process could open (created if absent). A file held by another
// process (the running server) is not an error: note says so.
func checkStoreOpens(c storeConfig) (note string, err error) {
	if c.Type != store.TypeFile {
		return "", nil
	}
	st, err := store.Open(c.store())
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Sprintf("store.path: %s is held by another process (a running server?); not opened", c.Path), nil
	case err != nil:
		return "", err
	}
	return "", st.Close()
}
