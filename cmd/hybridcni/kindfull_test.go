package main

import (
	"fmt"
	"os"
	"testing"
)

// kindFullEnv opts make test into the long kind-tier runs (the
// existing-cluster runs): make test-kind-full sets it.
const kindFullEnv = "HYBRIDCNI_KIND_FULL"

// kindFull skips a long kind-tier test, saying where it runs, unless
// HYBRIDCNI_KIND_FULL=1: the existing-cluster runs (about 45 min more on 2
// cores) beside everything make test runs with the Cilium images cached
// would pass the test binary's hour and a half. The suites and the fault
// matrices (kube-router and Cilium) run whenever their images are cached.
func kindFull(t testing.TB, minutes int) {
	t.Helper()
	if os.Getenv(kindFullEnv) == "1" {
		return
	}
	reason := fmt.Sprintf("a long run (about %d min): make test-kind-full (%s=1) runs it", minutes, kindFullEnv)
	fmt.Fprintf(os.Stderr, "### SKIPPED %s: %s\n", t.Name(), reason)
	t.Skip("kind tier: skipped: " + reason)
}
