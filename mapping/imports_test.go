package mapping

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports enforces the house rule: mapping imports only providers, the
// shared leaves of internal/ (the AWS facts), the standard library and YAML.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/idbroker/idbroker/providers":          true,
		"github.com/idbroker/idbroker/internal/awsspec":   true,
		"github.com/idbroker/idbroker/internal/ldapdn":    true,
		"github.com/idbroker/idbroker/internal/casefold":  true,
		"github.com/idbroker/idbroker/internal/yamltypes": true,
		"gopkg.in/yaml.v3": true,
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			stdlib := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".")
			if !stdlib && !allowed[p] {
				t.Errorf("%s imports %s", f, p)
			}
			for _, banned := range []string{"os", "net", "net/http", "log", "log/slog", "io/ioutil", "os/exec", "syscall"} {
				if p == banned {
					t.Errorf("%s imports %s (mapping does no I/O and no logging)", f, p)
				}
			}
		}
	}
}
