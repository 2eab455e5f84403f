// Package probe runs dataplane probes and judges them: connectivity
// expectations (ExpectSuccess / ExpectFailure, optionally with the source
// address the target must see) over TCP, HTTP, UDP and ICMP, the masquerade
// check, and the disruption meter.
//
// A probe always runs inside a Place (a pod, a container, a network
// namespace) as `hybridcni probe ...`, which prints one line of JSON. The lab,
// Docker and Kubernetes paths therefore run the same probe code; only the way
// the command is executed differs.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/hybridcni/hybridcni/framework/lab"
)

// Stdio is what Exec connects to the command. Nil fields mean none/discard.
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Place is somewhere a probe runs: it executes a command there and streams
// its output back.
type Place interface {
	// String names the place in messages ("netns hcl-1-ab-pod1", "pod default/client-a").
	String() string
	// Command is the argv prefix that runs hybridcni in the place.
	Command() []string
	// Exec runs argv in the place and returns its exit code. The error is for
	// failing to run it at all (place gone, API error), not for a non-zero exit.
	Exec(ctx context.Context, argv []string, stdio Stdio) (int, error)
}

// NetNS is a place in a lab network namespace: the command runs on this host
// with the namespace's network stack (like `ip netns exec`).
type NetNS struct {
	NS *lab.NS
	// Bin is the argv prefix that runs hybridcni (e.g. a built binary).
	Bin []string
	// Env is added to the command's environment.
	Env []string
}

// InNetNS returns a NetNS place that runs hybridcni as bin (plus env).
func InNetNS(ns *lab.NS, bin []string, env ...string) *NetNS {
	return &NetNS{NS: ns, Bin: bin, Env: env}
}

func (n *NetNS) String() string    { return "netns " + n.NS.Name }
func (n *NetNS) Command() []string { return append([]string(nil), n.Bin...) }

// Exec starts argv inside the namespace. On ctx end the command gets SIGTERM,
// then SIGKILL 2 s later.
func (n *NetNS) Exec(ctx context.Context, argv []string, stdio Stdio) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("probe: exec: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), n.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.NS.Do(cmd.Start); err != nil {
		return -1, fmt.Errorf("probe: %s: start %s: %w", n, argv[0], err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("probe: %s: %s: %w", n, argv[0], err)
	}
	return 0, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
