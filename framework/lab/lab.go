// Package lab builds small network-namespace labs for tests: named network
// namespaces with a unique per-run prefix, veth pairs, Linux bridges, routes
// and sysctls, plus helpers to run Go code or commands inside a namespace.
//
// Everything a Lab makes lives inside its namespaces, so deleting the
// namespaces (Close) removes every link, bridge, address and route with them.
package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vishvananda/netns"
)

// Prefix starts the name of every namespace this package creates. Sweep
// deletes namespaces with this prefix whose owning process is gone.
const Prefix = "hcl-"

// netnsDir is where named namespaces are bind-mounted (as `ip netns` does).
const netnsDir = "/var/run/netns"

// Lab owns a set of network namespaces sharing one unique name prefix.
type Lab struct {
	prefix string
	logf   func(format string, args ...any)

	mu         sync.Mutex
	namespaces []*NS
	closed     bool
}

// Option configures a Lab.
type Option func(*Lab)

// WithLogf sends lab progress lines (namespace created/deleted, processes
// started) to logf, e.g. t.Logf.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(l *Lab) { l.logf = logf }
}

// New returns an empty lab whose namespaces are named
// "hcl-<pid>-<random>-<name>". The pid lets Sweep tell live labs from stale ones.
func New(opts ...Option) (*Lab, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("lab: random name suffix: %w", err)
	}
	l := &Lab{
		prefix: fmt.Sprintf("%s%d-%s-", Prefix, os.Getpid(), hex.EncodeToString(b)),
		logf:   func(string, ...any) {},
	}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// ForTest skips the test when not root, sweeps stale namespaces, and returns
// a lab that is closed (all namespaces deleted) when the test ends.
func ForTest(t testing.TB, opts ...Option) *Lab {
	t.Helper()
	RequireRoot(t)
	if swept, err := Sweep(); err != nil {
		t.Logf("lab: sweeping stale namespaces: %v", err)
	} else if len(swept) > 0 {
		t.Logf("lab: deleted %d stale namespaces: %s", len(swept), strings.Join(swept, ", "))
	}
	l, err := New(append([]Option{WithLogf(t.Logf)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("lab cleanup: %v", err)
		}
	})
	return l
}

// RequireRoot skips the test with a one-line reason unless the process can
// create network namespaces (root), or when HYBRIDCNI_UNIT_ONLY is set.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("lab tier: skipped: HYBRIDCNI_UNIT_ONLY is set")
	}
	if os.Geteuid() != 0 {
		t.Skip("lab tier: skipped: needs root to create network namespaces (run the tests as root)")
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skipf("lab tier: skipped: kernel has no network namespaces (%v)", err)
	}
	t.Log("lab tier: running") // for the tier summary of make test
}

// Prefix returns this lab's namespace name prefix.
func (l *Lab) Prefix() string { return l.prefix }

// NS creates the namespace "<lab prefix><name>" with loopback up.
func (l *Lab) NS(name string, opts ...NSOption) (*NS, error) {
	if name == "" || strings.ContainsAny(name, "/ \t") {
		return nil, fmt.Errorf("lab: namespace name %q: use a short name without spaces or slashes", name)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("lab: NS called after Close")
	}
	l.mu.Unlock()
	n, err := newNS(l.prefix+name, name, l.logf)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.namespaces = append(l.namespaces, n)
	l.mu.Unlock()
	for _, o := range opts {
		if err := o(n); err != nil {
			return nil, fmt.Errorf("lab: namespace %s: %w", name, err)
		}
	}
	l.logf("lab: created netns %s", n.Name)
	return n, nil
}

// Close stops processes started in the lab's namespaces and deletes the
// namespaces (in reverse creation order). It is safe to call twice.
func (l *Lab) Close() error {
	l.mu.Lock()
	nss := l.namespaces
	l.namespaces = nil
	l.closed = true
	l.mu.Unlock()
	var errs []error
	for i := len(nss) - 1; i >= 0; i-- {
		if err := nss[i].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sweep deletes namespaces named with Prefix whose owning process no longer
// exists (left behind by a killed test run). It returns the names deleted.
func Sweep() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var swept []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, Prefix) {
			continue
		}
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, Prefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if processAlive(pid) {
			continue
		}
		if err := netns.DeleteNamed(name); err != nil {
			// Not mounted any more: just remove the file.
			if rmErr := os.Remove(filepath.Join(netnsDir, name)); rmErr != nil {
				errs = append(errs, fmt.Errorf("delete stale netns %s: %w", name, err))
				continue
			}
		}
		swept = append(swept, name)
	}
	return swept, errors.Join(errs...)
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
