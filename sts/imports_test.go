package sts

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportBoundaries enforces the house rule: sts (and sts/...) imports
// nothing of ours but sts/... itself and internal/awsspec (the AWS facts it
// shares with the packages that feed it).
func TestImportBoundaries(t *testing.T) {
	const module = "github.com/idbroker/idbroker/"
	var files []string
	for _, pat := range []string{"*.go", "*/*.go"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no files found")
	}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) && !strings.HasPrefix(path, module+"sts") && path != module+"internal/awsspec" {
				t.Errorf("%s imports %s: sts must not import other idbroker packages", f, path)
			}
		}
	}
}
