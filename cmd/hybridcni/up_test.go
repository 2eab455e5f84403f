package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/docker"
	"github.com/hybridcni/hybridcni/topologies"
	"github.com/hybridcni/hybridcni/topologies/doctor"
)

// Bad input exits 2 naming the field, before any engine is asked.
func TestUpRefusesBadInput(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv(doctor.OfflineEnv, "1")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--kubernetes-version", "1.20.0"}, "kubernetes.version: no kind node image is pinned for Kubernetes 1.20.0 (from --kubernetes-version)"},
		{[]string{"up", "--topology", "nope"}, "topology: \"nope\" is neither"},
		{[]string{"up", "--hybrid-nodes", "200", "--docker-only"}, "network.nodeCIDR"},
		{[]string{"up", "-o", "yaml"}, "--output \"yaml\""},
		{[]string{"doctor", "--topology", "nope"}, "topology"},
		{[]string{"gc", "--older-than", "-1s"}, "--older-than -1s"},
		{[]string{"down", "../etc"}, "NAME \"../etc\""},
	} {
		var out, errOut bytes.Buffer
		if code := execute(c.args, &out, &errOut); code != exitInvalid || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}

// Here (no node image, no registry) up stops before creating anything, with
// doctor's finding.
func TestUpFailsFastWithoutNodeImageOrRegistry(t *testing.T) {
	ctx := context.Background()
	dc := dockerOrSkip(t)
	img, _ := topologies.NodeImage("1.37.0")
	if ok, _ := dc.ImageExists(ctx, img); ok {
		t.Skipf("the node image %s is present here; this test is for machines without it", img)
	}
	t.Setenv(doctor.OfflineEnv, "1")
	state := t.TempDir()
	node := netip.MustParsePrefix("10.80.0.0/24") // the default node CIDR
	clashBefore, err := dc.NetworkOverlapping(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	start := time.Now()
	code := execute([]string{"up", "--state-dir", state, "--kubernetes-version", "1.37.0"}, &out, &errOut)
	took := time.Since(start)
	msg := errOut.String()
	if code != exitFailure {
		t.Fatalf("exit %d, want 1:\n%s", code, msg)
	}
	for _, want := range []string{"nothing created", "node image " + img + " is absent and no registry answers (registry not checked, offline)", "hybridcni images save"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q:\n%s", want, msg)
		}
	}
	if entries, _ := os.ReadDir(state); len(entries) != 0 {
		t.Errorf("state directory has %v: up created something", entries)
	}
	if clash, _ := dc.NetworkOverlapping(ctx, node); clashBefore == "" && clash != "" {
		t.Errorf("network %s on the default node CIDR exists after a refused up", clash)
	}
	t.Logf("refused in %s", took)
}

// dockerOrSkip connects to the engine, or skips with one line.
func dockerOrSkip(t *testing.T) *docker.Client {
	t.Helper()
	if os.Getenv("HYBRIDCNI_UNIT_ONLY") == "1" {
		t.Skip("Docker tier: skipped: HYBRIDCNI_UNIT_ONLY=1")
	}
	dc, err := docker.New(t.Context())
	if err != nil {
		t.Skipf("Docker tier: skipped: %v", err)
	}
	t.Log("Docker tier: running") // for the tier summary of make test
	t.Cleanup(func() { dc.Close() })
	return dc
}
