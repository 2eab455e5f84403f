package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// keptResults is a results folder for a kind run that outlives a failing
// test: the JUnit, timelines and diagnostics of a failure are what the next
// reader needs, and t.TempDir would delete them. A passing test removes it.
func keptResults(t testing.TB) string {
	t.Helper()
	kept := false
	keep := func() { kept = true }
	dir, err := os.MkdirTemp("", "hybridcni-"+strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())+"-")
	if err != nil {
		t.Fatalf("results folder: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() || kept {
			t.Logf("results kept for reading: %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	keepers.Store(dir, keep)
	return dir
}

// keepers: each keptResults folder's keep function, by path.
var keepers sync.Map

// keepFailedRun keeps a keptResults folder although t itself passes: a
// benchmark whose run failed a check still measured, and its diagnostics
// are what explain the failure.
func keepFailedRun(t testing.TB, dir string) {
	t.Helper()
	if keep, ok := keepers.Load(dir); ok {
		keep.(func())()
		fmt.Printf("results of the failed run kept for reading: %s\n", dir)
	}
}

// A passing test removes its results folder unless the run in it failed
// (a benchmark); a failing test always keeps it.
func TestKeptResultsKeepsFailedRuns(t *testing.T) {
	var removed, kept string
	t.Run("passing", func(t *testing.T) { removed = keptResults(t) })
	t.Run("passing-with-failed-run", func(t *testing.T) {
		kept = keptResults(t)
		keepFailedRun(t, kept)
	})
	if _, err := os.Stat(removed); !os.IsNotExist(err) {
		t.Errorf("results of a passing test with no failed run left at %s (stat: %v)", removed, err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("results of a failed run not kept: %v", err)
	}
	_ = os.RemoveAll(kept)
}
