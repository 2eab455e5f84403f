package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

func TestDistinctNodeCIDRsForParallelEntries(t *testing.T) {
	runs, err := config.ParseMatrix([]byte(`kind: Matrix
entries:
- cni: {name: cilium}
- cni: {name: calico}
- cni: {name: calico, version: v3.29.6}
  network: {nodeCIDR: 10.80.1.0/24}
  bgp: {routerAddress: 10.80.1.200}
`))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := distinctNodeCIDRs(runs)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{moved[0].Network.NodeCIDR, moved[1].Network.NodeCIDR, moved[2].Network.NodeCIDR}
	if strings.Join(got, " ") != "10.80.0.0/24 10.80.1.0/24 10.80.2.0/24" {
		t.Fatalf("node CIDRs %v", got)
	}
	if moved[1].BGP.RouterAddress != "10.80.1.254" || moved[2].BGP.RouterAddress != "10.80.2.200" {
		t.Errorf("router addresses %s %s must keep their offset", moved[1].BGP.RouterAddress, moved[2].BGP.RouterAddress)
	}
}

func TestMatrixArgumentErrors(t *testing.T) {
	m := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(m, []byte("kind: Matrix\nentries:\n- cni: {name: cilium}\n"), 0o644)
	for _, args := range [][]string{
		{"matrix"},
		{"matrix", "-f", m, "--parallel", "0"},
		{"matrix", "-f", m, "--only", "nope"},
		{"matrix", "-f", filepath.Join(t.TempDir(), "missing.yaml")},
	} {
		var out, errOut strings.Builder
		if code := execute(args, &out, &errOut); code != exitInvalid {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}

// Two entries run in parallel, each in its own process and API tier, and
// their results merge into one matrix.
func TestMatrixRunsEntriesInParallelOnTheAPITier(t *testing.T) {
	if _, err := testenv.FindBinaries(); err != nil {
		t.Skipf("API tier: skipped: %v", err)
	}
	charts := charttest.Dir(t)
	dir := t.TempDir()
	m := filepath.Join(dir, "matrix.yaml")
	os.WriteFile(m, []byte(`kind: Matrix
base:
  cni: {chartSource: `+charts+`}
entries:
- cni: {name: cilium, version: 1.16.18}
- cni: {name: cilium, version: 1.17.18}
`), 0o644)
	results := filepath.Join(dir, "results")
	out, code := cli(t, 10*time.Minute, "matrix", "-f", m, "--parallel", "2", "--provider", "simulated",
		"--results", results, "--label-filter", "feature:install || feature:placement")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, e := range []string{"cilium-1-16-18", "cilium-1-17-18"} {
		if _, err := os.Stat(filepath.Join(results, e, "junit.xml")); err != nil {
			t.Errorf("entry %s: %v", e, err)
		}
	}
	md, err := os.ReadFile(filepath.Join(results, "matrix.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| Feature | cilium 1.16.18 | cilium 1.17.18 |", "| Lifecycle: install | ✅ PASS 1"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("matrix.md lacks %q:\n%s", want, md)
		}
	}
}
