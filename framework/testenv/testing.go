package testenv

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// RequireBinaries skips t, naming the make target, when the API tier
// binaries are absent; otherwise it returns their folder.
func RequireBinaries(t testing.TB) string {
	t.Helper()
	dir, err := FindBinaries()
	if err != nil {
		t.Skip("API tier: skipped: " + err.Error())
	}
	t.Log("API tier: running") // for the tier summary of make test
	return dir
}

// StartT starts an Env for a test: it skips when the binaries are absent,
// fails the test when Start fails, logs progress to t and stops the Env
// (asserting a clean stop) on test cleanup.
func StartT(t testing.TB, opts ...Option) *Env {
	t.Helper()
	RequireBinaries(t)
	w := &testLog{t: t}
	e, err := Start(context.Background(), append([]Option{WithLogOutput(w)}, opts...)...)
	if err != nil {
		_ = e.Stop()
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("testenv: stop: %v", err)
		}
		w.close()
	})
	return e
}

// testLog writes to t.Log until the test's cleanup ran.
type testLog struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}
