//go:build !unix

package sts

// lockKeyDir is a no-op where flock(2) does not exist: run one key
// command at a time on such systems.
func lockKeyDir(string) (func(), error) { return func() {}, nil }
