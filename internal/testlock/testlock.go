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

// held are the locks this process holds, by name, with how many holders
// share each: a benchmark that holds the kind tier for two runs must not
// wait on itself when each run asks for it again.
var (
	mu   sync.Mutex
	held = map[string]*holder{}
)

type holder struct {
	f     *os.File
	count int
}

// Exclusive holds the named machine-wide lock until the test ends, or
// until the returned release is called. Within one process it is
// re-entrant: the lock is let go when its last holder releases it.
func Exclusive(tb testing.TB, name string) (release func()) {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	h := held[name]
	if h == nil {
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
		h = &holder{f: f}
		held[name] = h
	}
	h.count++
	var once sync.Once
	release = func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if h.count--; h.count == 0 {
				_ = syscall.Flock(int(h.f.Fd()), syscall.LOCK_UN)
				h.f.Close()
				delete(held, name)
			}
		})
	}
	tb.Cleanup(release)
	return release
}
