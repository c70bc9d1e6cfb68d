package main

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const modulePath = "github.com/idbroker/idbroker"

// houseRules lists, per package prefix, the packages of ours it must not
// import (DESIGN.md "Rules of the house").
var houseRules = []struct {
	pkg       string
	forbidden []string
	onlyOurs  []string // when set: the only packages of ours it may import
}{
	// internal/awsspec is the one leaf every package may share: the AWS
	// facts (ARNs, duration range, alphabets, SAML attributes, failure
	// classes) that several packages must agree on. It imports nothing of ours.
	{pkg: "internal/awsspec", onlyOurs: []string{"internal/awsspec"}},
	// internal/ldapdn (the one reading and canonical form of an LDAP DN)
	// and internal/casefold (the case folds that decide access) are
	// leaves that ldapauth and mapping share, so that an LDAP DN or a
	// group name compares the same way in both. They import nothing of
	// ours.
	{pkg: "internal/ldapdn", onlyOurs: []string{"internal/ldapdn"}},
	{pkg: "internal/casefold", onlyOurs: []string{"internal/casefold"}},
	// internal/yamltypes holds the YAML value types (durations, string
	// lists) that mapping, the provider blocks and cmd's file sections
	// share, so that a value reads the same under every key.
	{pkg: "internal/yamltypes", onlyOurs: []string{"internal/yamltypes"}},
	// internal/loopback is the one test of "this host is the local
	// machine", the condition for a plain http:// or ldap:// URL.
	{pkg: "internal/loopback", onlyOurs: []string{"internal/loopback"}},
	{pkg: "sts", onlyOurs: []string{"sts", "internal/awsspec", "internal/loopback"}},
	// internal/revocation is the in-memory revocation set: it reads the
	// store and implements the STS's RevocationChecker, and decides
	// nothing of the broker's (the broker expands selectors into it).
	{pkg: "internal/revocation", onlyOurs: []string{"internal/revocation", "internal/store", "sts", "internal/awsspec"}},
	// internal/mfa keeps the broker's TOTP enrolments in the store; it
	// decides nothing of the broker's policy (which provider or role asks).
	{pkg: "internal/mfa", onlyOurs: []string{"internal/mfa", "internal/store", "internal/casefold"}},
	{pkg: "providers", forbidden: []string{"broker", "sts", "mapping", "cmd"}},
	{pkg: "ldapauth", onlyOurs: []string{"ldapauth", "internal/ldapdn", "internal/casefold", "internal/loopback"}},
	{pkg: "mapping", onlyOurs: []string{"mapping", "providers", "internal/awsspec", "internal/ldapdn", "internal/casefold", "internal/yamltypes"}},
	{pkg: "broker", forbidden: []string{"cmd"}},
	// internal/ratelimit decides issuances on the store alone; the broker
	// and (through an adapter) the STS ask it. internal/metrics only holds
	// the families the others feed.
	{pkg: "internal/ratelimit", onlyOurs: []string{"internal/ratelimit", "internal/store"}},
	{pkg: "internal/metrics", onlyOurs: []string{"internal/metrics"}},
	// internal/cli is the client side of the terminal commands: it speaks
	// to the broker over HTTP only, as any other client would.
	{pkg: "internal/cli", onlyOurs: []string{"internal/cli", "internal/loopback"}},
	// internal/reports keeps the reports' counts in the store; what it
	// needs of the broker (sessions, lock-out, MFA) it reads through
	// interfaces of its own.
	{pkg: "internal/reports", onlyOurs: []string{"internal/reports", "internal/store", "internal/casefold"}},
}

func under(importPath, prefix string) bool {
	p := modulePath + "/" + prefix
	return importPath == p || strings.HasPrefix(importPath, p+"/")
}

// TestHouseRules fails when an import crosses the package boundaries.
func TestHouseRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
			return filepath.SkipDir
		}
		pkg, err := build.Default.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		imports := append(append(append([]string{}, pkg.Imports...), pkg.TestImports...), pkg.XTestImports...)
		for _, rule := range houseRules {
			if rel != rule.pkg && !strings.HasPrefix(rel, rule.pkg+"/") {
				continue
			}
			checked++
			for _, imp := range imports {
				if !strings.HasPrefix(imp, modulePath+"/") {
					continue
				}
				for _, f := range rule.forbidden {
					if under(imp, f) {
						t.Errorf("%s imports %s: %s must not import %s", rel, imp, rule.pkg, f)
					}
				}
				if rule.onlyOurs != nil {
					ok := false
					for _, a := range rule.onlyOurs {
						ok = ok || under(imp, a)
					}
					if !ok {
						t.Errorf("%s imports %s: %s may import only %v of ours", rel, imp, rule.pkg, rule.onlyOurs)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 4 {
		t.Fatalf("checked only %d packages: is the tree where the test expects it?", checked)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal("go.mod not found at the repository root")
	}
}
