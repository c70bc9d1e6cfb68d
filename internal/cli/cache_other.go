//go:build !unix

package cli

import (
	"context"
	"io/fs"
	"os"
)

// checkOwner: owners are not compared where there is no uid.
func checkOwner(fs.FileInfo) error { return nil }

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }

func isSymlinkRefusal(error) bool { return false }

// lockFile: no lock where there is no flock; concurrent refreshes only
// cost an extra issuance.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
