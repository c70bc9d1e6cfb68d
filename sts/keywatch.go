package sts

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// errKeyDirInFlux: the key directory changed while it was being read (a
// rotation or a Kubernetes Secret update under way); the next read sees the
// settled state.
var errKeyDirInFlux = errors.New("sts: key dir changed while being read")

// Watch follows the ring's key directory until ctx is done: every interval
// it reads the directory and, when it changed (or a key reached its
// retirement), swaps in the new keys at once. A read that fails (a
// half-written directory, a bad file mode, a missing sealing key) keeps the
// keys the ring holds and is logged once until the directory changes or
// loads again. A ring held only in memory is left alone. Nothing of the key
// material is logged; key ids are not secret.
func (k *KeyRing) Watch(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		dir := k.Dir()
		if dir == "" {
			continue
		}
		changed, err := k.Reload()
		switch {
		case errors.Is(err, errKeyDirInFlux):
			log.Debug("sts key directory changed while being read; reading it again at the next poll", "dir", dir)
			continue
		case err != nil:
			if msg := err.Error(); msg != failing {
				log.Error("sts key directory reload failed; keeping the previous key ring", "dir", dir, "err", err)
				failing = msg
			}
			continue
		case failing != "":
			log.Info("sts key directory loads again", "dir", dir)
			failing = ""
		}
		if changed {
			k.logLoaded(log, "sts key ring reloaded")
		}
	}
}

// logLoaded logs the ring's ids, its sealing key, and the key files the last
// load ignored.
func (k *KeyRing) logLoaded(log *slog.Logger, msg string) {
	k.mu.Lock()
	dir, unlisted := k.dir, append([]string(nil), k.unlisted...)
	k.mu.Unlock()
	log.Info(msg, "dir", dir, "sealing_key", k.ActiveKeyID(), "keys", k.KeyIDs())
	if len(unlisted) > 0 {
		log.Warn("sts key files not listed in "+manifestName+" are ignored (add keys with 'idbroker keys rotate')", "dir", dir, "ids", unlisted)
	}
}

// LogLoaded logs what the ring holds (its key ids and sealing key, never
// key material), for a server starting up.
func (k *KeyRing) LogLoaded(log *slog.Logger) { k.logLoaded(log, "sts key ring loaded") }
