package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeLayoutListsEveryFolder: the README's layout names every
// top-level folder, every package under framework/, cmd/ and internal/, and
// every provider under suites/providers/, either by path or, for a
// subfolder of a listed folder (framework/cni/cilium), by name in the
// layout. A folder someone adds fails here until the README says what it is.
// Test helper packages (*test, testdata) are exempt.
func TestReadmeLayoutListsEveryFolder(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(data), "## Layout")
	if !ok {
		t.Fatal("README.md has no ## Layout section")
	}
	if i := strings.Index(layout, "\n## "); i >= 0 {
		layout = layout[:i]
	}
	listed := func(dir string) bool {
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(dir) + `/?\s`).MatchString(layout)
	}
	named := func(base string) bool {
		return regexp.MustCompile(`\b` + regexp.QuoteMeta(base) + `\b`).MatchString(layout)
	}
	exempt := func(base string) bool {
		// bin/ and results*/ are build and run output (.gitignore).
		return strings.HasPrefix(base, ".") || base == "testdata" || strings.HasSuffix(base, "test") ||
			base == "bin" || strings.HasPrefix(base, "results")
	}
	subdirs := func(dir string) []string {
		ents, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			if e.IsDir() && !exempt(e.Name()) {
				out = append(out, filepath.ToSlash(filepath.Join(dir, e.Name())))
			}
		}
		return out
	}
	checked := 0
	for _, top := range subdirs(".") {
		top = strings.TrimPrefix(top, "./")
		checked++
		if !listed(top) && !named(top+"/") {
			t.Errorf("README layout does not list the folder %s/", top)
		}
	}
	for _, parent := range []string{"framework", "cmd", "internal", "suites/providers"} {
		for _, d := range subdirs(parent) {
			checked++
			provider := regexp.MustCompile(`providers \([^)]*\b` + regexp.QuoteMeta(filepath.Base(d)) + `\b`)
			if !listed(d) && !(parent == "suites/providers" && provider.MatchString(layout)) {
				t.Errorf("README layout does not list %s: add a line saying what it is", d)
			}
			if parent != "framework" {
				continue
			}
			for _, sub := range subdirs(d) {
				checked++
				if !listed(sub) && !named(filepath.Base(sub)) {
					t.Errorf("README layout does not name %s (under %s): add it to %s's line", sub, d, d)
				}
			}
		}
	}
	if checked < 25 {
		t.Fatalf("checked only %d folders: wrong root?", checked)
	}
}
