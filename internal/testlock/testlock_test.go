package testlock

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// A second process waits while the first holds the lock.
func TestExclusiveWaitsForTheHolder(t *testing.T) {
	if os.Getenv("TESTLOCK_CHILD") == "1" {
		Exclusive(t, "selftest")
		return
	}
	release := Exclusive(t, "selftest")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestExclusiveWaitsForTheHolder$")
	cmd.Env = append(os.Environ(), "TESTLOCK_CHILD=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("the child took the lock while it was held (exit %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("child: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Errorf("the child never got the lock after it was released")
	}
}

// Within one process the lock is re-entrant (a benchmark holding the kind
// tier for two runs, each asking again, must not wait on itself), and it
// is let go only when the last holder releases it.
func TestExclusiveIsReentrantInOneProcess(t *testing.T) {
	if os.Getenv("TESTLOCK_CHILD") == "1" {
		Exclusive(t, "selftest-reentrant")
		return
	}
	outer := Exclusive(t, "selftest-reentrant")
	got := make(chan func(), 1)
	go func() { got <- Exclusive(t, "selftest-reentrant") }()
	var inner func()
	select {
	case inner = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("a second Exclusive in the same process waited on the first")
	}
	child := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestExclusiveIsReentrantInOneProcess$")
		cmd.Env = append(os.Environ(), "TESTLOCK_CHILD=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, done
	}
	inner()
	cmd, done := child()
	select {
	case err := <-done:
		t.Fatalf("another process took the lock while the outer holder kept it (exit %v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	outer()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("child: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Errorf("the child never got the lock after the last holder released it")
	}
}
