package suites_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/testenv"
	"github.com/hybridcni/hybridcni/suites"
	_ "github.com/hybridcni/hybridcni/suites/providers/simulated"
)

// lifecycleRuns are the runs of TestSuites: Cilium across a minor with BGP
// on and masquerading off, Calico across a minor.
func lifecycleRuns(charts string) []config.Run {
	mk := func(name, from, to string) config.Run {
		r := config.Default()
		r.CNI = config.CNI{Name: name, Version: from, UpgradeTo: to, ChartSource: charts}
		r.Nodes = config.Nodes{Hybrid: 2, Cloud: 1}
		r.BGP.Enabled = true
		r.Network.Masquerade = false
		r.Complete()
		return r
	}
	return []config.Run{mk(config.Cilium, "1.16.18", "1.17.18"), mk(config.Calico, "v3.29.6", "v3.30.7")}
}

var capabilityRE = regexp.MustCompile(`needs (dataplane|router|on-prem-host|node-shell): \S`)

// faultRun is a third run of TestSuites: Cilium whose agent loses its
// hybrid-node affinity right after the last hop, a fault only the new
// version has. The install phase's placement check passes; the last hop's
// fails naming the cloud node; rollback restores the chart's affinity.
const faultRun = "cilium-placement-fault-after-hop"

func init() {
	suites.RegisterProvider("simulated-with-faults", func(o suites.Options) suites.Provider {
		inner, _ := suites.LookupProvider("simulated", o)
		return &faulty{Provider: inner}
	})
}

// faulty is the simulated provider with a fault injected into one run.
type faulty struct{ suites.Provider }

func (f *faulty) Provision(ctx context.Context, run config.Run, dir string) (*suites.Env, error) {
	env, err := f.Provider.Provision(ctx, run, dir)
	if err != nil || run.Name != faultRun {
		return env, err
	}
	env.AfterStep = func(ctx context.Context, phase string) error {
		if phase != "upgrade-2" {
			return nil
		}
		patch := []byte(`[{"op":"remove","path":"/spec/template/spec/affinity"}]`)
		_, err := env.Kube.AppsV1().DaemonSets("kube-system").Patch(ctx, "cilium", k8stypes.JSONPatchType, patch, metav1.PatchOptions{})
		return err
	}
	return env, nil
}

// TestSuites runs the suites on the simulated provider (API server, kwok,
// operator stand-ins) with the real charts, both CNIs and a faulty run in
// one RunSpecs, and reads the JUnit report against the check catalogue:
// every check that applies and needs nothing kwok lacks passes in every
// phase (install, each hop, rollback); the others skip saying why; the
// fault after the last hop is caught there and nowhere else.
// `ginkgo --dry-run -v ./suites` lists the specs of the same runs.
func TestSuites(t *testing.T) {
	suiteCfg, _ := ginkgo.GinkgoConfiguration()
	charts, why := charttest.Find()
	if !suiteCfg.DryRun {
		if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
			t.Skip("API tier: skipped (-short or HYBRIDCNI_UNIT_ONLY)")
		}
		testenv.RequireBinaries(t)
		if charts == "" {
			t.Skip("real charts not found: " + why)
		}
	}
	results := t.TempDir()
	runs := lifecycleRuns(charts)
	fault := runs[0]
	fault.Name = faultRun
	fault.BGP.Enabled = false
	fault.Network.Masquerade = true
	runs = append(runs, fault)
	err := suites.Run(context.Background(), suites.Options{
		Runs: runs, Provider: "simulated-with-faults", ResultsDir: results,
		Timeout: 12 * time.Minute, WaitTimeout: 2 * time.Minute,
	})
	if suiteCfg.DryRun {
		return
	}
	if err == nil {
		t.Errorf("suites.Run passed although run %s has a fault after its last hop", faultRun)
	}
	got, rerr := report.ReadJUnit(filepath.Join(results, suites.JUnitFile))
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, run := range runs {
		var mine []report.Result
		for _, r := range got {
			if r.Run == run.Name {
				mine = append(mine, r)
			}
		}
		// The JUnit file records the version the API server reports.
		if len(mine) > 0 && mine[0].Kubernetes != testenv.KubeVersion {
			t.Errorf("run %s: JUnit records Kubernetes %q, the API server runs %s", run.Name, mine[0].Kubernetes, testenv.KubeVersion)
		}
		subject := checks.SubjectOf(run)
		perPhase := map[string]int{}
		for _, r := range mine {
			t.Logf("%-7s %-9s %-8s %s %s", r.State, r.Phase, r.Version, r.Spec, r.Message)
			name := label(r, "check")
			if name == "" {
				if r.State == report.Skipped && capabilityRE.MatchString(r.Message) {
					continue // a step the environment cannot take (the echo workload on kwok)
				}
				if r.State != report.Passed {
					t.Errorf("%s: lifecycle step %q is %s: %s", run.Name, r.Spec, r.State, r.Message)
				}
				continue
			}
			c, ok := checks.Lookup(strings.ReplaceAll(name, ".", "/"))
			if !ok {
				t.Errorf("%s: %q has label check:%s, not in the catalogue", run.Name, r.Spec, name)
				continue
			}
			perPhase[r.Phase]++
			if run.Name == faultRun && c.Name() == "placement" && r.Phase == "upgrade-2" {
				if r.State != report.Failed || !strings.Contains(r.Message, "cloud node") || r.Version != "1.17.18" {
					t.Errorf("%s: the fault after hop 2 is not caught there: %s %s %q", run.Name, r.State, r.Version, r.Message)
				}
				continue
			}
			if run.Name == faultRun && c.Name() == "readiness/nodes-ready" && r.Phase == "upgrade-2" {
				// An agent on a cloud node is also a readiness problem.
				if r.State != report.Failed || !strings.Contains(r.Message, "not ready") {
					t.Errorf("%s: readiness after hop 2: %s %q, want failed: the agents are misplaced", run.Name, r.State, r.Message)
				}
				continue
			}
			switch why := c.Applies(subject); {
			case why != "":
				if r.State != report.Skipped || !strings.Contains(r.Message, why) {
					t.Errorf("%s %s: %q is %s (%q), want skipped: %s", run.Name, r.Phase, r.Spec, r.State, r.Message, why)
				}
			case lacksOnSimulated(c):
				if r.State != report.Skipped || !capabilityRE.MatchString(r.Message) {
					t.Errorf("%s %s: %q is %s (%q), want skipped naming the missing capability", run.Name, r.Phase, r.Spec, r.State, r.Message)
				}
			default:
				if r.State != report.Passed {
					t.Errorf("%s %s: %q is %s (%s), want passed", run.Name, r.Phase, r.Spec, r.State, r.Message)
				}
			}
		}
		for _, phase := range []string{"before-cni", "install", "upgrade-1", "upgrade-2", "rollback", "delete"} {
			if perPhase[phase] == 0 {
				t.Errorf("%s: no check ran in phase %s", run.Name, phase)
			}
		}
	}
}

func label(r report.Result, key string) string {
	for _, l := range r.Labels {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return v
		}
	}
	return ""
}

// lacksOnSimulated: the check needs a capability the simulated provider
// lacks (it has the cloud CNI's DaemonSet, on kwok, when the run has a
// cloud node: placement/cloud-cni runs there).
func lacksOnSimulated(c *checks.Check) bool {
	for _, capability := range c.Capabilities() {
		if capability != checks.CloudCNI {
			return true
		}
	}
	return false
}
