// Package testlock serialises tests across test processes: go test runs
// packages in parallel, and some tiers (kind clusters on a 2-core machine)
// must not run two at a time.
package testlock

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Exclusive holds the named machine-wide lock until the test ends, or
// until the returned release is called.
func Exclusive(tb testing.TB, name string) (release func()) {
	tb.Helper()
	path := filepath.Join(os.TempDir(), "hybridcni-"+name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		tb.Fatalf("test lock %s: %v", path, err)
	}
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		tb.Fatalf("test lock %s: %v", path, err)
	}
	if waited := time.Since(start); waited > time.Second {
		tb.Logf("waited %s for the %s lock (another package's tests held it)", waited.Round(time.Second), name)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		})
	}
	tb.Cleanup(release)
	return release
}
