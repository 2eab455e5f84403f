package topologies

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/topologies/doctor"
)

// cliUp starts `hybridcni up --docker-only` and returns once stderr shows
// after (e.g. "router ready"), with the rest of stderr still streaming into
// the returned buffer.
func cliUp(t *testing.T, dc *docker.Client, bin, name, after string) (*exec.Cmd, *syncBuffer, string) {
	t.Helper()
	r := testRun(t, dc, nil)
	dir := t.TempDir()
	runFile := filepath.Join(dir, "run.yaml")
	doc := fmt.Sprintf("network:\n  nodeCIDR: %s\n  podCIDR: %s\n  blockSize: 26\n  masquerade: false\nbgp:\n  enabled: true\n",
		r.Network.NodeCIDR, r.Network.PodCIDR)
	if err := os.WriteFile(runFile, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	cmd := exec.Command(bin, "up", "--docker-only", "-f", runFile, "--state-dir", state, "--name", name)
	cmd.Env = append(os.Environ(), doctor.OfflineEnv+"=1")
	out := &syncBuffer{}
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	errBuf := &syncBuffer{}
	seen := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			errBuf.WriteString(sc.Text() + "\n")
			if !found && strings.Contains(sc.Text(), after) {
				found = true
				close(seen)
			}
		}
		if !found {
			close(seen)
		}
	}()
	select {
	case <-seen:
	case <-time.After(2 * time.Minute):
		t.Fatalf("up never printed %q:\n%s", after, errBuf.String())
	}
	if !strings.Contains(errBuf.String(), after) {
		cmd.Wait()
		t.Fatalf("up ended before %q:\nstdout:\n%s\nstderr:\n%s", after, out.String(), errBuf.String())
	}
	return cmd, errBuf, state
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) WriteString(s string) { b.Write([]byte(s)) }
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("hybridcni did not exit")
	}
	return cmd.ProcessState.ExitCode()
}

func runCLI(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// The CLI's signal path: one signal tears down and exits non-zero; two exit
// at once naming what is left and the gc command, and gc removes it; a
// killed run leaves everything, and gc removes it; up then down leaves
// nothing.
func TestCLISignalsAndGCLeaveNothing(t *testing.T) {
	dc := dockerTier(t)
	bin, _ := harness(t, dc)

	t.Run("one signal tears down", func(t *testing.T) {
		name := UniqueName("sigint")
		cleanupRun(t, dc, name)
		cmd, stderr, _ := cliUp(t, dc, bin, name, "router ready")
		cmd.Process.Signal(syscall.SIGINT)
		if code := exitCode(t, cmd); code == 0 {
			t.Fatalf("interrupted up exited 0:\n%s", stderr)
		}
		if !strings.Contains(stderr.String(), "removed everything this run created") {
			t.Errorf("stderr does not say the run was removed:\n%s", stderr)
		}
		if left := leftovers(t, dc, name); len(left) > 0 {
			t.Fatalf("interrupted up left %s\n%s", names(left), stderr)
		}
	})

	t.Run("two signals exit at once, gc cleans", func(t *testing.T) {
		name := UniqueName("sigtwice")
		cleanupRun(t, dc, name)
		cmd, stderr, state := cliUp(t, dc, bin, name, "router ready")
		// Different signals, so the kernel cannot merge them into one.
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Process.Signal(syscall.SIGTERM)
		if code := exitCode(t, cmd); code == 0 {
			t.Fatalf("aborted up exited 0:\n%s", stderr)
		}
		if !strings.Contains(stderr.String(), GCCommand(name)) {
			t.Fatalf("stderr does not give the gc command %q:\n%s", GCCommand(name), stderr)
		}
		left := leftovers(t, dc, name)
		t.Logf("left after the second signal: %s", names(left))
		for _, o := range left {
			if !strings.Contains(stderr.String(), o.Kind+" "+o.Name) {
				t.Errorf("%s %s is left but not named:\n%s", o.Kind, o.Name, stderr)
			}
		}
		code, out := runCLI(t, bin, "gc", "--older-than", "0s", "--run", name, "--state-dir", state)
		if code != 0 {
			t.Fatalf("gc exit %d:\n%s", code, out)
		}
		if left := leftovers(t, dc, name); len(left) > 0 {
			t.Fatalf("gc left %s\n%s", names(left), out)
		}
	})

	t.Run("killed run, gc cleans", func(t *testing.T) {
		name := UniqueName("sigkill")
		cleanupRun(t, dc, name)
		cmd, _, state := cliUp(t, dc, bin, name, "onprem-host ready")
		cmd.Process.Kill()
		exitCode(t, cmd)
		left := leftovers(t, dc, name)
		if len(left) < 3 {
			t.Fatalf("a killed run should leave network, router and host; found %s", names(left))
		}
		code, out := runCLI(t, bin, "gc", "--older-than", "1h", "--run", name)
		if code != 0 || !strings.Contains(out, "0 object(s)") {
			t.Fatalf("gc --older-than 1h removed young objects: exit %d\n%s", code, out)
		}
		code, out = runCLI(t, bin, "gc", "--older-than", "0s", "--run", name, "--state-dir", state)
		if code != 0 || !strings.Contains(out, "network") || !strings.Contains(out, name+"-router") {
			t.Fatalf("gc: exit %d\n%s", code, out)
		}
		if left := leftovers(t, dc, name); len(left) > 0 {
			t.Fatalf("gc left %s", names(left))
		}
		if _, err := os.Stat(filepath.Join(state, name)); !os.IsNotExist(err) {
			t.Errorf("gc kept the run's state directory: %v", err)
		}
	})

	t.Run("up then down", func(t *testing.T) {
		name := UniqueName("updown")
		cleanupRun(t, dc, name)
		cmd, stderr, state := cliUp(t, dc, bin, name, "onprem-host ready")
		if code := exitCode(t, cmd); code != 0 {
			t.Fatalf("up exit %d:\n%s", code, stderr)
		}
		if len(leftovers(t, dc, name)) < 3 {
			t.Fatalf("up did not leave the topology running")
		}
		code, out := runCLI(t, bin, "down", name, "--state-dir", state)
		if code != 0 || !strings.Contains(out, "deleted") {
			t.Fatalf("down: exit %d\n%s", code, out)
		}
		if left := leftovers(t, dc, name); len(left) > 0 {
			t.Fatalf("down left %s", names(left))
		}
		code, out = runCLI(t, bin, "down", name, "--state-dir", state)
		if code == 0 || !strings.Contains(out, "nothing named "+name) {
			t.Fatalf("second down: exit %d, want a failure saying nothing is there\n%s", code, out)
		}
	})
}
