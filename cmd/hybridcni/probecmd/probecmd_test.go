package probecmd

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFrameworkIsLibraryOnly: Cobra commands live in cmd/, so no framework
// package (tests aside) imports Cobra. Helm pulls Cobra in transitively;
// only direct imports count.
func TestFrameworkIsLibraryOnly(t *testing.T) {
	root := filepath.Join("..", "..", "..", "framework")
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/spf13/cobra") {
				t.Errorf("%s imports %s: Cobra commands belong in cmd/hybridcni, the framework stays a library", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned only %d Go files under %s: wrong folder?", files, root)
	}
}
