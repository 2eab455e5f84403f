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

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
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

// mustPass are the specs (by name prefix) that run for real on the
// simulated provider and must pass for every CNI.
var mustPass = []string{
	"readiness: hybrid nodes are NotReady without a CNI",
	"install: helm install",
	"readiness: hybrid nodes turn Ready once the CNI runs",
	"placement: an agent on every hybrid node and none on cloud nodes",
	"upgrade: ",
	"rollback: to the first revision, then ready again",
	"delete: helm uninstall",
	"delete: cleanup removes the CRDs and files",
	"bgp: resources applied as the guide gives them",
}

// dataplane are the specs that need what kwok lacks; they must skip naming
// the capability.
var dataplane = []string{
	"pod-to-pod/", "pod-to-service/", "node-to-pod", "pod-to-node", "pod-to-external",
	"control-plane-to-node", "control-plane-to-pod", "masquerade:",
	"bgp: a session", "bgp: each node's pod block", "bgp: routes retained",
	"delete: report what stays on each node",
}

var capabilityRE = regexp.MustCompile(`needs (dataplane|router|on-prem-host|node-shell): \S`)

// TestSuites runs the suites on the simulated provider (API server, kwok,
// operator stand-ins) with the real charts, both CNIs in one RunSpecs, and
// checks the JUnit report: the lifecycle specs pass, the dataplane specs
// skip saying what is missing, nothing fails. `ginkgo --dry-run -v ./suites`
// lists the specs of the same runs.
func TestSuites(t *testing.T) {
	suiteCfg, _ := ginkgo.GinkgoConfiguration()
	charts, why := charttest.Find()
	if !suiteCfg.DryRun {
		if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
			t.Skip("API tier: skipped (-short or HYBRIDCNI_UNIT_ONLY)")
		}
		if _, err := testenv.FindBinaries(); err != nil {
			t.Skipf("API tier: skipped: %v", err)
		}
		if charts == "" {
			t.Skip("real charts not found: " + why)
		}
	}
	results := t.TempDir()
	runs := lifecycleRuns(charts)
	err := suites.Run(context.Background(), suites.Options{
		Runs: runs, Provider: "simulated", ResultsDir: results,
		Timeout: 8 * time.Minute, WaitTimeout: 2 * time.Minute,
	})
	if suiteCfg.DryRun {
		return
	}
	if err != nil {
		t.Errorf("suites.Run: %v", err)
	}
	got, rerr := report.ReadJUnit(filepath.Join(results, suites.JUnitFile))
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, r := range got {
		t.Logf("%-7s %s [%s %s] %s", r.State, r.Spec, r.CNI, r.Version, r.Message)
		if r.State == report.Failed {
			t.Errorf("FAILED %s %s: %s: %s", r.CNI, r.Version, r.Spec, r.Message)
		}
	}
	for _, run := range runs {
		var mine []report.Result
		for _, r := range got {
			if r.CNI == run.CNI.Name && r.Version == run.CNI.Version {
				mine = append(mine, r)
			}
		}
		name := run.CNI.Name + " " + run.CNI.Version
		for _, want := range mustPass {
			n := 0
			for _, r := range mine {
				if !strings.HasPrefix(r.Spec, name+" ") || !strings.Contains(r.Spec, " "+want) {
					continue
				}
				n++
				if r.State != report.Passed {
					t.Errorf("%s: %q is %s (%s), want passed", name, r.Spec, r.State, r.Message)
				}
			}
			if n == 0 {
				t.Errorf("%s: no spec %q in the report", name, want)
			}
		}
		skipped := 0
		for _, want := range dataplane {
			for _, r := range mine {
				if !strings.Contains(r.Spec, " "+want) {
					continue
				}
				skipped++
				if r.State != report.Skipped || !capabilityRE.MatchString(r.Message) {
					t.Errorf("%s: %q is %s (%q), want skipped naming the missing capability", name, r.Spec, r.State, r.Message)
				}
			}
		}
		if skipped < len(dataplane) {
			t.Errorf("%s: %d dataplane specs in the report, want at least %d", name, skipped, len(dataplane))
		}
	}
}
