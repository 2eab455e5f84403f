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
