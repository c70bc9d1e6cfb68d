//go:build unix

package sts

import (
	"fmt"
	"os"
	"syscall"
)

// lockKeyDir takes an exclusive advisory lock on the directory itself (no
// lock file to leave behind or to copy into a Secret), so that two
// operators' rotations of a shared directory do not interleave.
func lockKeyDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("sts: key dir: %w", err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("sts: lock key dir %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		_ = d.Close()
	}, nil
}
