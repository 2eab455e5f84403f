package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// make test never starts the offline image builds (the node images, kube-router,
// the five Cilium versions: over an hour cold on 2 cores, which CI's 90 minutes
// cannot hold): neither its recipe nor hack/setup.sh, which it runs, names
// them. Their kind suites skip, saying which image is absent, instead.
func TestMakeTestStartsNoImageBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	cmd := exec.Command("make", "-n", "test")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n test: %v\n%s", err, out)
	}
	setup, err := os.ReadFile("../../hack/setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "hack/setup.sh") || !strings.Contains(string(out), "testsummary") {
		t.Fatalf("make -n test does not read as expected:\n%s", out)
	}
	for _, build := range []string{"node-image.sh", "cilium-image.sh", "kube-router-image.sh", "cilium-images", "node-image", "e2e-offline"} {
		if strings.Contains(string(out), build) {
			t.Errorf("make test runs %s:\n%s", build, out)
		}
		if strings.Contains(string(setup), build) {
			t.Errorf("hack/setup.sh, which make test runs, names %s", build)
		}
	}
}
