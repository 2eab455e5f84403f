package main

import (
	"os"
	"testing"
)

// asCLI makes the test binary act as hybridcni when re-executed by a test
// (the suites run once per process, so CLI runs of them need a process).
const asCLI = "HYBRIDCNI_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(execute(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
