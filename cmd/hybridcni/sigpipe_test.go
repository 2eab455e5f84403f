package main

import (
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// A command whose output reader is gone (its parent killed, a closed pipe)
// must end through its context, as on SIGTERM, so that it tears down what
// it made; killed by SIGPIPE at its next line of output, a run leaves its
// cluster behind (a fault matrix whose test process was killed did).
func TestGoneReaderCancelsNotKills(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // the reader is gone before the first line
	cmd := exec.Command(os.Args[0], "echo", "--listen-address", "127.0.0.1", "--http-port", "0", "--udp-port", "-1")
	cmd.Env = append(os.Environ(), asCLI+"=1", "NO_COLOR=1")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the echo server still runs a minute after its output reader was gone")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		t.Fatalf("killed by a signal (%v) instead of ending through its context", ee)
	}
}
