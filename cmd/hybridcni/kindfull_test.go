package main

import (
	"fmt"
	"os"
	"testing"
)

// kindFullEnv opts make test into the long kind-tier runs (the fault
// matrices, the existing-cluster runs): make test-kind-full sets it.
const kindFullEnv = "HYBRIDCNI_KIND_FULL"

// kindFull skips a long kind-tier test, saying where it runs, unless
// HYBRIDCNI_KIND_FULL=1: with the Cilium images cached, every kind run
// together takes over two hours on 2 cores, and CI must finish inside 90
// minutes. The suites themselves (kube-router and Cilium) always run.
func kindFull(t testing.TB, minutes int) {
	t.Helper()
	if os.Getenv(kindFullEnv) == "1" {
		return
	}
	reason := fmt.Sprintf("a long run (about %d min): make test-kind-full (%s=1) runs it", minutes, kindFullEnv)
	fmt.Fprintf(os.Stderr, "### SKIPPED %s: %s\n", t.Name(), reason)
	t.Skip("kind tier: skipped: " + reason)
}
