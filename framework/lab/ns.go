package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is a network namespace: one made by a Lab (deleted on Close) or an
// existing one opened with Open or Current (left alone on Close).
type NS struct {
	// Name is the full namespace name ("hcl-...-node1"), as `ip netns` shows it.
	Name string
	// Short is the name given to Lab.NS ("node1").
	Short string
	// Path is the namespace file (/var/run/netns/<Name> or /proc/...).
	Path string

	owned  bool
	logf   func(string, ...any)
	handle netns.NsHandle
	nl     *netlink.Handle

	mu     sync.Mutex
	procs  []*Proc
	closed bool
}

// NSOption configures a namespace right after it is created.
type NSOption func(*NS) error

// WithForwarding turns on IPv4 forwarding (net.ipv4.ip_forward=1), making the
// namespace a router. Lab namespaces start with forwarding off, whatever
// the host's setting.
func WithForwarding() NSOption {
	return func(n *NS) error { return n.Sysctl("net.ipv4.ip_forward", "1") }
}

// WithSysctl sets a sysctl (dotted key, e.g. "net.ipv4.conf.all.rp_filter").
func WithSysctl(key, value string) NSOption {
	return func(n *NS) error { return n.Sysctl(key, value) }
}

func newNS(full, short string, logf func(string, ...any)) (*NS, error) {
	var h netns.NsHandle
	err := onLockedThread(func() error {
		origin, err := netns.Get()
		if err != nil {
			return err
		}
		defer origin.Close()
		h, err = netns.NewNamed(full)
		if err != nil {
			return fmt.Errorf("lab: create netns %s: %w", full, err)
		}
		return netns.Set(origin)
	})
	if err != nil {
		if h.IsOpen() {
			h.Close()
			_ = netns.DeleteNamed(full)
		}
		return nil, err
	}
	n := &NS{Name: full, Short: short, Path: filepath.Join(netnsDir, full), owned: true, logf: logf, handle: h}
	if err := n.init(); err != nil {
		_ = n.Close()
		return nil, err
	}
	return n, nil
}

// Open returns an existing namespace by file path (e.g. /proc/<pid>/ns/net or
// /var/run/netns/x). Close releases it without deleting it.
func Open(path string) (*NS, error) {
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("lab: open netns %s: %w", path, err)
	}
	n := &NS{Name: path, Short: filepath.Base(path), Path: path, handle: h, logf: func(string, ...any) {}}
	if n.nl, err = netlink.NewHandleAt(h); err != nil {
		h.Close()
		return nil, fmt.Errorf("lab: netlink in %s: %w", path, err)
	}
	return n, nil
}

// Current returns the namespace of the calling thread (normally the host's).
func Current() (*NS, error) {
	h, err := netns.Get()
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), syscall.Gettid())
	n := &NS{Name: "current", Short: "current", Path: path, handle: h, logf: func(string, ...any) {}}
	// A handle in the calling thread's namespace needs no setns, so this
	// works with CAP_NET_ADMIN alone (the router container has no SYS_ADMIN).
	if n.nl, err = netlink.NewHandle(); err != nil {
		h.Close()
		return nil, err
	}
	return n, nil
}

func (n *NS) init() error {
	var err error
	if n.nl, err = netlink.NewHandleAt(n.handle); err != nil {
		return fmt.Errorf("lab: netlink in %s: %w", n.Name, err)
	}
	// A new namespace copies the host's IPv4 settings (forwarding is on
	// wherever Docker runs): start every lab namespace as a host, not a
	// router, so results do not depend on the machine. WithForwarding
	// turns it on.
	if err := n.Sysctl("net.ipv4.ip_forward", "0"); err != nil {
		return err
	}
	return n.SetLinkUp("lo", true)
}

// String returns the short name.
func (n *NS) String() string { return n.Short }

// Close kills processes started with Start, then deletes the namespace if
// the lab made it. Deleting a namespace removes every link in it; a veth
// whose other end lives elsewhere disappears too.
func (n *NS) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	procs := n.procs
	n.mu.Unlock()
	for _, p := range procs {
		p.Stop(3 * time.Second)
	}
	if n.nl != nil {
		n.nl.Close()
	}
	n.handle.Close()
	if !n.owned {
		return nil
	}
	if err := netns.DeleteNamed(n.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab: delete netns %s: %w", n.Name, err)
	}
	n.logf("lab: deleted netns %s", n.Name)
	return nil
}

// Do runs fn on a locked OS thread switched into the namespace. Goroutines
// that fn starts do NOT inherit the namespace; sockets fn opens do.
func (n *NS) Do(fn func() error) error {
	return onLockedThread(func() error {
		origin, err := netns.Get()
		if err != nil {
			return err
		}
		defer origin.Close()
		if err := netns.Set(n.handle); err != nil {
			return fmt.Errorf("lab: enter netns %s: %w", n.Name, err)
		}
		ferr := fn()
		if err := netns.Set(origin); err != nil {
			return errRestore{fmt.Errorf("lab: leave netns %s: %w", n.Name, err)}
		}
		return ferr
	})
}

// errRestore marks a thread that could not return to its namespace: it is
// left locked so the runtime throws the thread away.
type errRestore struct{ error }

func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := fn()
		var r errRestore
		if !errors.As(err, &r) {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Run runs a command inside the namespace (like `ip netns exec`) and returns
// its combined output. A non-zero exit is an error that includes the output.
func (n *NS) Run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := n.Do(cmd.Start); err != nil {
		return "", fmt.Errorf("lab: %s: start %s: %w", n.Short, name, err)
	}
	err := cmd.Wait()
	if err != nil {
		return out.String(), fmt.Errorf("lab: %s: %s %s: %w: %s", n.Short, name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// Proc is a process started inside a namespace.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit error.
func (p *Proc) Wait() error { <-p.done; return p.err }

// Pid returns the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Stop sends SIGTERM, waits up to grace, then SIGKILLs; it returns once the
// process is gone.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Start starts cmd inside the namespace. The namespace stops it (SIGTERM,
// then SIGKILL after 3 s) on Close unless it has exited already.
func (n *NS) Start(cmd *exec.Cmd) (*Proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Die with the test binary if it is killed.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("lab: %s: Start after Close", n.Short)
	}
	// Pdeathsig fires when the starting thread exits. Do unlocks its thread
	// on success and Go keeps idle threads, so the child lives until the test
	// binary dies or Close stops it.
	if err := n.Do(cmd.Start); err != nil {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		return nil, fmt.Errorf("lab: %s: start %s: %w", n.Short, cmd.Path, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	n.procs = append(n.procs, p)
	n.logf("lab: %s: started %s (pid %d)", n.Short, strings.Join(cmd.Args, " "), cmd.Process.Pid)
	return p, nil
}

// Sysctl sets a sysctl inside the namespace, e.g. Sysctl("net.ipv4.ip_forward", "1").
func (n *NS) Sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return n.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("lab: %s: sysctl %s=%s: %w", n.Short, key, value, err)
		}
		return nil
	})
}

// GetSysctl reads a sysctl inside the namespace.
func (n *NS) GetSysctl(key string) (string, error) {
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}
