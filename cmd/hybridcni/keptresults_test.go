package main

import (
	"os"
	"strings"
	"testing"
)

// keptResults is a results folder for a kind run that outlives a failing
// test: the JUnit, timelines and diagnostics of a failure are what the next
// reader needs, and t.TempDir would delete them. A passing test removes it.
func keptResults(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hybridcni-"+strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())+"-")
	if err != nil {
		t.Fatalf("results folder: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("results kept for reading: %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}
