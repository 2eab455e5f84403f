package main

import (
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/internal/table"
	"github.com/hybridcni/hybridcni/topologies"
	"github.com/hybridcni/hybridcni/topologies/doctor"
)

// TestListCommandsShareOneStyle walks the commands that print a list and
// checks each prints it the one way (internal/table: an upper-case header
// row, columns aligned two spaces apart, "-" for an empty cell): those that
// run here through the CLI (run --dry-run included), those that need Docker or a cluster (gc, doctor,
// cni status) through the function that prints their list.
func TestListCommandsShareOneStyle(t *testing.T) {
	charts, err := filepath.Abs(charttest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	live := filepath.Join(state, "hcni-style-1")
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	ledger := `{"run":"hcni-style-1","entries":[{"kind":"network","name":"hcni-style-1","created":"2026-01-02T03:04:05Z"}]}`
	if err := os.WriteFile(filepath.Join(live, "ledger.json"), []byte(ledger), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HYBRIDCNI_STATE_DIR", state)
	t.Chdir("../..") // matrix files name their values files from the repository root

	lists := map[string]string{}
	for _, args := range [][]string{
		{"faults"},
		{"get", "clusters"},
		{"matrix", "-f", "fixtures/matrix/offline.yaml", "--list"},
		{"plan", "--chart-repo", charts, "--cni", "cilium", "--version", "1.16.18", "--upgrade-to", "1.17.18", "--bgp"},
		{"images", "list", "--chart-repo", charts, "--version", "1.16.19"},
	} {
		var out, errOut bytes.Buffer
		if code := execute(args, &out, &errOut); code != exitOK {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
		}
		lists[strings.Join(args[:min(2, len(args))], " ")] = out.String()
	}

	// run --dry-run lists from the suites, on the process's own stdout.
	dry := exec.Command(os.Args[0], "run", "--dry-run", "--cni", "cilium", "--version", "1.16.18", "--upgrade-to", "1.17.18",
		"--chart-repo", charts, "--results", t.TempDir())
	dry.Env = append(os.Environ(), asCLI+"=1", "NO_COLOR=1")
	var dryErr bytes.Buffer
	dry.Stderr = &dryErr
	dryOut, err := dry.Output()
	if err != nil || !strings.Contains(dryErr.String(), "DRY RUN") {
		t.Fatalf("run --dry-run: %v\n%s", err, dryErr.String())
	}
	lists["run --dry-run"] = string(dryOut)

	var b bytes.Buffer
	writeRemoved(&b, []topologies.Entry{{Kind: "container", Name: "hcni-style-1-router", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, {Kind: "network", Name: "hcni-style-1"}}, true)
	lists["gc --dry-run"] = b.String()
	b.Reset()
	long := strings.Repeat("a finding that goes on about what is missing here ", 5)
	writeDoctorTable(&b, doctor.Report{Findings: []doctor.Finding{
		{Check: "docker-engine", Severity: doctor.Blocker, Message: long, Fix: "run hack/docker-up.sh"},
		{Check: "privileged-containers-start", Severity: doctor.OK, Message: "a privileged container starts"},
		{Check: "memory", Severity: doctor.Warning, Message: "3.1 GiB available"},
	}}, doctorWidth)
	lists["doctor"] = b.String()
	b.Reset()
	writeHistory(&b, "kube-system/cilium", "cilium", []*chart.Release{
		{Revision: 1, ChartVersion: "1.16.18", Status: "superseded", Updated: time.Now(), Description: "Install complete"},
		{Revision: 2, ChartVersion: "1.16.19", Status: "deployed", Updated: time.Now(), Description: "Upgrade complete"},
	})
	b.WriteString("\n")
	writeReadiness(&b, &cni.Readiness{
		Nodes: []cni.NodeState{{Name: "hybrid-node-1", Hybrid: true, Ready: true, Agents: map[string]string{"cilium": "cilium-x7k2p"}},
			{Name: "cloud-node-1", Ready: true}},
		Workloads: []cni.WorkloadState{{Workload: cni.Workload{Kind: "DaemonSet", Namespace: "kube-system", Name: "cilium", Agent: true}, Ready: "1/1", OK: true}},
		Tigera:    map[string]string{"calico": "Available"},
	})
	b.WriteString("\n")
	adv := &unstructured.Unstructured{}
	adv.SetAPIVersion("cilium.io/v2alpha1")
	adv.SetKind("CiliumBGPAdvertisement")
	adv.SetName("bgp-advertisements")
	writeBGPResources(&b, []*unstructured.Unstructured{adv})
	lists["cni status"] = b.String()

	for name, out := range lists {
		if strings.TrimSpace(out) == "" {
			t.Errorf("%s printed no list", name)
			continue
		}
		if why := table.Check(out); why != "" {
			t.Errorf("%s does not print its list in the one style: %s\n%s", name, why, out)
		}
		if strings.Contains(out, "\t") {
			t.Errorf("%s prints a tab (a list not through internal/table):\n%s", name, out)
		}
	}
	// One list per line of the matrix file, the name first.
	if rows := strings.Split(strings.TrimSpace(lists["matrix -f"]), "\n"); len(rows) < 2 || !strings.HasPrefix(rows[0], "NAME ") {
		t.Errorf("matrix --list:\n%s", lists["matrix -f"])
	}
}

// TestOneListWriter: no package but internal/table writes aligned columns
// itself (text/tabwriter), so a new list cannot start a second style;
// hack/ holds development tools outside the CLI.
func TestOneListWriter(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel != "." && strings.HasPrefix(d.Name(), ".") || rel == "hack" || rel == filepath.Join("internal", "table") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		seen++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return nil // another helper's file mid-edit; the build says so
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "text/tabwriter" {
				t.Errorf("%s imports text/tabwriter: print lists with internal/table", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 100 {
		t.Fatalf("walked %d Go files; the walk is broken", seen)
	}
}
