package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is one control-plane component running as a child.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited and is reaped
	err     error         // exit status, valid after done
}

// spawn requests go to one goroutine locked to its own OS thread that never
// exits: Pdeathsig fires when the thread that forked a child dies, so the
// children must not be forked from a thread the Go runtime (or a caller's
// LockOSThread, e.g. in a network namespace) may end.
var (
	spawnOnce sync.Once
	spawnReq  = make(chan func())
)

func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for req := range spawnReq {
				req()
			}
		}()
	})
	done := make(chan struct{})
	spawnReq <- func() { f(); close(done) }
	<-done
}

// startProcess starts bin with args, output to logPath. The child gets its
// own process group (Stop kills the group) and SIGKILL when we die.
func startProcess(name, bin string, args, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "# %s %s\n", bin, strings.Join(args, " "))
	p := &process{name: name, logPath: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var startErr error
	onSpawnThread(func() { startErr = p.cmd.Start() })
	if startErr != nil {
		return nil, fmt.Errorf("start %s: %w", name, startErr)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs
// the group. It returns once the process is reaped.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	pgid := p.pid()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) survived SIGKILL for 10s", p.name, pgid)
		}
	}
	// Anything else left in the group (none of ours fork, but be sure).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// exitError describes an unexpected exit, with the log tail.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail(20))
}

// tail returns the last n lines of the component's log, indented.
func (p *process) tail(n int) string {
	return logTail(p.name, p.logPath, n)
}

func logTail(name, path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("  (no %s log: %v)", name, err)
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  last %d lines of %s:\n", len(lines), path)
	for _, l := range lines {
		b.WriteString("  | ")
		b.Write(l)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// alive reports whether pid is a live process. A zombie (dead, waiting for
// its parent to reap it, as children orphaned by Pdeathsig briefly are)
// holds no resources and counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
