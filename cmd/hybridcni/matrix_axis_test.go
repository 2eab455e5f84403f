package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
)

const axisMatrix = `kind: Matrix
kubernetes: [1.37.2, 1.33.13, 1.29.15]
base:
  cni: {name: cilium}
  bgp: {enabled: true}
  network: {masquerade: false}
entries:
- cni: {version: 1.16.19}
- cni: {version: 1.18.0}
- cni: {version: 1.16.19, upgradeTo: 1.20.2}
`

// The Kubernetes axis runs the pairs Cilium's own declared range allows:
// a Kubernetes older than the range (at the version installed or the one
// upgraded to) is dropped with the reason, newer ones run.
func TestMatrixKubernetesAxisRunsDeclaredPairs(t *testing.T) {
	runs, err := config.ParseMatrix([]byte(axisMatrix))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 9 {
		t.Fatalf("%d runs, want 3 entries x 3 Kubernetes versions", len(runs))
	}
	keep, dropped := supportedPairs(runs)
	var names []string
	for _, r := range keep {
		names = append(names, r.Name+"@"+r.Kubernetes.Version)
	}
	want := []string{
		"cilium-1-16-19-bgp-nomasq@1.37.2", "cilium-1-16-19-bgp-nomasq-k133@1.33.13", "cilium-1-16-19-bgp-nomasq-k129@1.29.15",
		"cilium-1-18-0-bgp-nomasq@1.37.2", "cilium-1-18-0-bgp-nomasq-k133@1.33.13",
		"cilium-1-16-19-to-1-20-2-bgp-nomasq@1.37.2", "cilium-1-16-19-to-1-20-2-bgp-nomasq-k133@1.33.13",
	}
	if !slices.Equal(names, want) {
		t.Errorf("kept\n %v\nwant\n %v", names, want)
	}
	if len(dropped) != 2 ||
		!strings.HasPrefix(dropped[0], "cilium-1-18-0-bgp-nomasq-k129 (cilium 1.18.0 on Kubernetes 1.29.15): Cilium 1.18 supports Kubernetes 1.30 to 1.33; 1.29 is older") ||
		!strings.HasPrefix(dropped[1], "cilium-1-16-19-to-1-20-2-bgp-nomasq-k129 (cilium 1.16.19 on Kubernetes 1.29.15): Cilium 1.20 supports Kubernetes 1.33 to 1.36; 1.29 is older") {
		t.Errorf("dropped %q", dropped)
	}

	// The command says so on stderr and lists only the pairs it would run.
	path := filepath.Join(t.TempDir(), "axis.yaml")
	if err := os.WriteFile(path, []byte(axisMatrix), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, time.Minute, "matrix", "-f", path, "--list")
	if code != 0 || strings.Count(out, "matrix: not run: ") != 2 {
		t.Errorf("--list: exit %d\n%s", code, out)
	}
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cilium-") {
			rows++
		}
	}
	if rows != len(want) {
		t.Errorf("--list shows %d entries, want %d:\n%s", rows, len(want), out)
	}
	if out, code := cli(t, time.Minute, "matrix", "-f", path, "--list", "--only", "cilium-1-18-0-bgp-nomasq-k129"); code != 2 || !strings.Contains(out, "no entry left to run") {
		t.Errorf("--only an unsupported pair: exit %d, %q; want 2", code, out)
	}
}

func TestEntryNodeImage(t *testing.T) {
	r := config.Default()
	r.Kubernetes.Version = "v1.33.13"
	if got := entryNodeImage("hybridcni/node:v{kubernetes}", r); got != "hybridcni/node:v1.33.13" {
		t.Errorf("templated: %s", got)
	}
	if got := entryNodeImage("kindest/node:v1.37.0", r); got != "kindest/node:v1.37.0" {
		t.Errorf("fixed: %s", got)
	}
}
