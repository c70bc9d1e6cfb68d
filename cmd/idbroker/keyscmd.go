package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/idbroker/idbroker/broker"
	"github.com/idbroker/idbroker/sts"
)

// keyDirPollInterval is how often a running server re-reads keys.dir, so
// that every replica follows a rotation or a retirement within seconds.
const keyDirPollInterval = 2 * time.Second

// keyFollower keeps one watcher of keys.dir running, on the key ring the
// served configuration uses: a reload that keeps keys.dir keeps the ring
// (loaded again in place), one that changes it moves the watcher.
type keyFollower struct {
	ctx  context.Context
	log  *slog.Logger
	mu   sync.Mutex
	ring *sts.KeyRing
	stop context.CancelFunc
}

// follow makes ring the one watched (a ring held only in memory is not).
func (f *keyFollower) follow(ring *sts.KeyRing) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ring == f.ring {
		return
	}
	if f.stop != nil {
		f.stop()
	}
	ctx, stop := context.WithCancel(f.ctx)
	f.ring, f.stop = ring, stop
	if ring.Dir() == "" {
		return
	}
	ring.LogLoaded(f.log)
	go ring.Watch(ctx, keyDirPollInterval, f.log)
}

// reuse is the watched ring when it follows dir (a reload loads it in
// place), else nil (a new ring is loaded).
func (f *keyFollower) reuse(dir string) *sts.KeyRing {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ring != nil && f.ring.Dir() == dir {
		return f.ring
	}
	return nil
}

const keysUsage = `usage: idbroker keys <command> [flags]

  init DIR | --dir DIR               create a key directory: a first STS key and the broker's keys;
                                     on an existing directory, add what is missing and keep the rest
  rotate --dir DIR [--activate-after D]
                                     add an STS key that seals from D on (default 1m, so that every
                                     replica loads it first); the previous key verifies until 12h15m
                                     after that; keys past their retirement are removed
  list --dir DIR                     one line per STS key: id, created, active, retires at
  retire --dir DIR --id ID           end a compromised STS key now: what it sealed stops verifying
                                     (a new key seals first if it was sealing)
  prune --dir DIR                    remove the STS keys past their retirement
`

// runKeys dispatches "idbroker keys …".
func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	switch args[0] {
	case "init":
		return runKeysInit(args[1:], stdout, stderr)
	case "rotate":
		return runKeysRotate(args[1:], stdout, stderr)
	case "list":
		return runKeysList(args[1:], stdout, stderr)
	case "retire":
		return runKeysRetire(args[1:], stdout, stderr)
	case "prune":
		return runKeysPrune(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	}
	fmt.Fprintf(stderr, "idbroker keys: unknown command %q\n\n%s", args[0], keysUsage)
	return 2
}

// keysFlags parses the flags of one keys command; --dir is required.
func keysFlags(name string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) (string, bool) {
	fs := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the key directory (keys.dir)")
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "idbroker keys %s: --dir DIR is required and takes no other argument\n\n%s", name, keysUsage)
		return "", false
	}
	return *dir, true
}

func runKeysInit(args []string, stdout, stderr io.Writer) int {
	var dir string
	switch {
	case len(args) == 1 && !strings.HasPrefix(args[0], "-"):
		dir = args[0]
	default:
		d, ok := keysFlags("init", args, stderr, nil)
		if !ok {
			return 2
		}
		dir = d
	}
	if err := sts.InitKeyDir(dir); err != nil {
		fmt.Fprintln(stderr, "idbroker keys init:", err)
		return 1
	}
	if err := broker.InitKeyDir(dir); err != nil {
		fmt.Fprintln(stderr, "idbroker keys init:", err)
		return 1
	}
	fmt.Fprintf(stdout, "keys written to %s (set keys.dir: %s)\n", dir, dir)
	return 0
}

func runKeysRotate(args []string, stdout, stderr io.Writer) int {
	var after time.Duration
	dir, ok := keysFlags("rotate", args, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&after, "activate-after", sts.DefaultActivationDelay, "when the new key starts sealing; until then every replica loads it")
	})
	if !ok {
		return 2
	}
	rot, err := sts.RotateKeyDir(dir, time.Now(), after)
	if err != nil {
		fmt.Fprintln(stderr, "idbroker keys rotate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "new key %s seals from %s\n", rot.ID, rot.ActivatesAt.UTC().Format(time.RFC3339))
	for _, id := range rot.Pruned {
		fmt.Fprintf(stdout, "removed key %s (past its retirement)\n", id)
	}
	return 0
}

func runKeysList(args []string, stdout, stderr io.Writer) int {
	dir, ok := keysFlags("list", args, stderr, nil)
	if !ok {
		return 2
	}
	now := time.Now()
	infos, err := sts.ListKeyDir(dir, now)
	if err != nil {
		fmt.Fprintln(stderr, "idbroker keys list:", err)
		return 1
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tACTIVE\tRETIRES AT")
	for _, k := range infos {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.ID, stamp(k.Created), activeColumn(k, now), retiresColumn(k, now))
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(stderr, "idbroker keys list:", err)
		return 1
	}
	return 0
}

// activeColumn is "yes" for the key that seals now, and says when a pending
// key starts.
func activeColumn(k sts.KeyInfo, now time.Time) string {
	switch {
	case k.Active:
		return "yes"
	case k.Verifies(now) && k.ActivatesAt.After(now):
		return "from " + stamp(k.ActivatesAt)
	}
	return "no"
}

// retiresColumn is when a key stops verifying, or "retired" once it has.
func retiresColumn(k sts.KeyInfo, now time.Time) string {
	switch {
	case k.Unlisted:
		return "ignored (not in keyring.json)"
	case !k.Verifies(now):
		return "retired"
	case !k.RetiresAt.IsZero():
		return stamp(k.RetiresAt)
	case k.ActivatesAt.IsZero() && !k.Active:
		return "unknown (no keyring.json yet: keys rotate records it)"
	}
	return "-"
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func runKeysRetire(args []string, stdout, stderr io.Writer) int {
	var id string
	dir, ok := keysFlags("retire", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "the id of the key to end (see keys list)")
	})
	if !ok {
		return 2
	}
	if id == "" {
		fmt.Fprintf(stderr, "idbroker keys retire: --id ID is required\n\n%s", keysUsage)
		return 2
	}
	made, err := sts.RetireKey(dir, id, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "idbroker keys retire:", err)
		return 1
	}
	if made != "" {
		fmt.Fprintf(stdout, "new key %s seals now\n", made)
	}
	fmt.Fprintf(stdout, "key %s retired: what it sealed stops verifying as each server re-reads %s (within seconds)\n", id, dir)
	return 0
}

func runKeysPrune(args []string, stdout, stderr io.Writer) int {
	dir, ok := keysFlags("prune", args, stderr, nil)
	if !ok {
		return 2
	}
	pruned, err := sts.PruneKeyDir(dir, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "idbroker keys prune:", err)
		return 1
	}
	for _, id := range pruned {
		fmt.Fprintf(stdout, "removed key %s (past its retirement)\n", id)
	}
	if len(pruned) == 0 {
		fmt.Fprintln(stdout, "no key is past its retirement")
	}
	return 0
}
