package suites

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/cmd/hybridcni/probecmd"
	"github.com/hybridcni/hybridcni/framework/probe"
)

// here runs the real probe command in this process (loopback only).
type here struct{}

func (here) String() string    { return "this test" }
func (here) Command() []string { return []string{"hybridcni"} }
func (here) Exec(ctx context.Context, argv []string, stdio probe.Stdio) (int, error) {
	cmd := probecmd.Probe()
	cmd.SetArgs(argv[2:]) // drop "hybridcni probe"
	cmd.SetOut(stdio.Stdout)
	cmd.SetErr(stdio.Stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.ExecuteContext(ctx); err != nil {
		return 1, nil
	}
	return 0, nil
}

func loopbackTarget(t *testing.T) (probe.Target, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return probe.TCPTarget("listener", host, p), addr
}

// The precondition waits for a target that comes up late, and fails,
// naming the probe's error, for one that never does.
func TestWaitReachableWaitsThenFails(t *testing.T) {
	src := []probe.Source{{Place: here{}, Name: "test", IP: "127.0.0.1"}}

	late, addr := loopbackTarget(t)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		if l, err := net.Listen("tcp", addr); err == nil {
			t.Cleanup(func() { l.Close() })
		}
	}()
	took, err := waitReachable(context.Background(), src, late, 30*time.Second)
	if err != nil {
		t.Fatalf("a listener that comes up late: %v", err)
	}
	if took < time.Second {
		t.Errorf("reported %s, but the listener came up after 1.5 s", took)
	}

	never, _ := loopbackTarget(t)
	_, err = waitReachable(context.Background(), src, never, 3*time.Second)
	if err == nil {
		t.Fatal("a target nobody listens on passed the precondition")
	}
	t.Logf("as expected: %v", err)
}
