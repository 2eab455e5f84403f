package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// cli runs the test binary as hybridcni in its own process.
func cli(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCLI+"=1", "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("hybridcni %s: %v", strings.Join(args, " "), err)
	}
	return string(out), code
}

// specsOf reads Ginkgo's JSON report: spec text -> labels.
func specsOf(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range reports {
		for _, s := range r.SpecReports {
			if s.LeafNodeType == types.NodeTypeIt {
				out[s.FullText()] = s.Labels()
			}
		}
	}
	return out
}

func TestRunDryRunListsEverySpecWithLabels(t *testing.T) {
	// The specs every run carries, by the guide's features.
	want := map[string][]string{
		"readiness: hybrid nodes are NotReady without a CNI":               {"feature:readiness"},
		"install: helm install":                                            {"feature:install"},
		"readiness: hybrid nodes turn Ready once the CNI runs":             {"feature:readiness"},
		"placement: an agent on every hybrid node and none on cloud nodes": {"feature:placement"},
		"ipam: one /25 block per hybrid node":                              {"feature:ipam", "feature:ipv4"},
		"ipam: every pod address inside its node's block":                  {"feature:ipam"},
		"pod-to-pod/same-node":                                             {"feature:conformance"},
		"pod-to-pod/cross-node over VXLAN":                                 {"feature:vxlan"},
		"pod-to-service/cluster-ip":                                        {"feature:conformance"},
		"pod-to-service/dns":                                               {"feature:conformance"},
		"node-to-pod":                                                      {"feature:conformance"},
		"pod-to-node":                                                      {"feature:conformance"},
		"pod-to-external: the on-prem host":                                {"feature:conformance"},
		"control-plane-to-node: logs and exec":                             {"feature:cp-to-node"},
		"control-plane-to-pod: API proxy and port-forward":                 {"feature:cp-to-pod"},
		"control-plane-to-pod: a webhook served from a hybrid node":        {"feature:cp-to-pod"},
		"masquerade: the on-prem host sees the":                            {"feature:masquerade"},
		"bgp: a session from every hybrid node to the router":              {"feature:bgp"},
		"bgp: each node's pod block with the node as next hop":             {"feature:bgp"},
		"bgp: service addresses advertised":                                {"feature:bgp"},
		"bgp: a deleted service is withdrawn":                              {"feature:bgp"},
		"bgp: routes retained across an agent restart (graceful restart)":  {"feature:bgp"},
		"upgrade: ": {"feature:upgrade"},
		"rollback: to the first revision, then ready again": {"feature:upgrade"},
		"delete: helm uninstall":                            {"feature:delete"},
		"delete: report what stays on each node":            {"feature:delete"},
		"delete: cleanup removes the CRDs and files":        {"feature:delete"},
		"bgp: resources applied as the guide gives them":    {"feature:bgp"},
	}
	for _, c := range []struct{ cni, version, run string }{{"cilium", "1.16.19", "cilium-1-16-19"}, {"calico", "v3.29.7", "calico-3-29-7"}} {
		t.Run(c.cni, func(t *testing.T) {
			results := t.TempDir()
			out, code := cli(t, 2*time.Minute, "run", "--dry-run", "--cni", c.cni, "--results", results)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			specs := specsOf(t, filepath.Join(results, "report.json"))
			for prefix, labels := range want {
				found := false
				for text, have := range specs {
					if !strings.Contains(text, prefix) {
						continue
					}
					found = true
					for _, l := range append(labels, "cni:"+c.cni, "version:"+c.version, "run:"+c.run) {
						if !slices.Contains(have, l) {
							t.Errorf("%q lacks label %s (has %v)", text, l, have)
						}
					}
				}
				if !found {
					t.Errorf("no spec %q in the dry run", prefix)
				}
			}
		})
	}
}

// The lifecycle runs end to end on the API tier; a run made to fail (agents
// unschedulable) exits 1 and leaves diagnostics naming the cause.
func TestRunOnTheAPITierCollectsDiagnosticsOnFailure(t *testing.T) {
	if _, err := testenv.FindBinaries(); err != nil {
		t.Skipf("API tier: skipped: %v", err)
	}
	charts := charttest.Dir(t)
	results := t.TempDir()
	values := filepath.Join(t.TempDir(), "unschedulable.yaml")
	// The agents ask for more CPU than any node has: they stay Pending.
	os.WriteFile(values, []byte("resources:\n  requests:\n    cpu: \"100000\"\n"), 0o644)
	out, code := cli(t, 10*time.Minute, "run", "--provider", "simulated", "--chart-repo", charts, "--cni", "cilium",
		"--version", "1.16.19", "--values", values, "--results", results, "--label-filter", "feature:install", "--wait-timeout", "20s")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (install must fail):\n%s", code, out)
	}
	dirs, _ := filepath.Glob(filepath.Join(results, "diagnostics", "*install*"))
	if len(dirs) != 1 {
		t.Fatalf("diagnostics folders %v, want one for the install spec:\n%s", dirs, out)
	}
	pods, err := os.ReadFile(filepath.Join(dirs[0], "kubernetes", "kube-system", "pods.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pods), "unschedulable") {
		t.Errorf("pods.txt does not show the unschedulable agents:\n%s", pods)
	}
	for _, f := range []string{"kubernetes/nodes.txt", "kubernetes/kube-system/events.txt", "cni/readiness.json"} {
		if _, err := os.Stat(filepath.Join(dirs[0], f)); err != nil {
			t.Errorf("diagnostics lack %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(results, "junit.xml")); err != nil {
		t.Errorf("no JUnit report: %v", err)
	}
}

// An unreachable chart source stops a kind run before anything is created,
// with the field and the fix in one plain line (no error-struct dump).
func TestRunUnreachableChartSourceCreatesNothing(t *testing.T) {
	out, code := cli(t, 2*time.Minute, "run", "--cni", "cilium", "--version", "1.16.19",
		"--chart-repo", "https://127.0.0.1:1/", "--kubernetes-version", "1.37.0",
		"--run-name", "unreachable-chart", "--results", t.TempDir())
	if code == 0 {
		t.Fatalf("exit 0 with an unreachable chart source:\n%s", out)
	}
	for _, want := range []string{"nothing created: cni.chartSource: cannot read https://127.0.0.1:1/", "(fix: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<*fmt.wrapError") {
		t.Errorf("the failure dumps the error's fields:\n%s", out)
	}
	if names, _ := exec.Command("docker", "ps", "-a", "--filter", "name=unreachable-chart", "--format", "{{.Names}}").Output(); len(strings.TrimSpace(string(names))) > 0 {
		t.Errorf("containers created: %s", names)
	}
}
