package suites_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridcni/hybridcni/framework/chart/charttest"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/report"
	"github.com/hybridcni/hybridcni/framework/testenv"
	"github.com/hybridcni/hybridcni/suites"
)

// faultsChild: set in the process that runs the fault phase (Ginkgo allows
// one RunSpecs per process, and TestSuites has this binary's).
const faultsChild = "HYBRIDCNI_FAULTS_APITIER_RESULTS"

// The fault phase on the simulated provider (API server, kwok, operator
// stand-ins) with the real Cilium chart: the faults that need no dataplane
// are caught by the check they name, with a message naming what broke, and
// the check passes again after heal; the others skip naming the missing
// capability or why they do not apply.
func TestFaultPhaseAPITier(t *testing.T) {
	if dir := os.Getenv(faultsChild); dir != "" {
		faultPhaseChild(t, dir)
		return
	}
	if testing.Short() || os.Getenv("HYBRIDCNI_UNIT_ONLY") != "" {
		t.Skip("API tier: skipped (-short or HYBRIDCNI_UNIT_ONLY)")
	}
	if _, err := testenv.FindBinaries(); err != nil {
		t.Skipf("API tier: skipped: %v", err)
	}
	charts, why := charttest.Find()
	if charts == "" {
		t.Skip("API tier: skipped: real charts not found: " + why)
	}
	results := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultPhaseAPITier$", "-test.v", "-test.timeout=20m")
	cmd.Env = append(os.Environ(), faultsChild+"="+results, "HYBRIDCNI_FAULTS_CHARTS="+charts)
	out, err := cmd.CombinedOutput()
	t.Logf("fault phase process: %v\n%s", err, tail(string(out), 80))
	got, rerr := report.ReadJUnit(filepath.Join(results, suites.JUnitFile))
	if rerr != nil {
		t.Fatal(rerr)
	}
	state := map[string]report.State{}
	msg := map[string]string{}
	for _, r := range got {
		if p := r.Phase; p == suites.FaultsPhase || p == suites.FaultsAfterDeletePhase {
			// The spec's text after its containers (run, phase).
			spec := r.Spec
			if i := strings.Index(spec, "fault: "); i >= 0 {
				spec = spec[i:]
			}
			state[spec], msg[spec] = r.State, r.Message
			t.Logf("%-7s %s %s", r.State, r.Spec, firstLineOf(r.Message))
		}
	}
	for fault, check := range map[string]string{
		"agent-affinity-removed":  "placement",
		"operator-scaled-to-zero": "readiness/nodes-ready",
		"crd-recreated":           "cleanup/crds",
		// The cloud CNI's DaemonSet runs on kwok too (one cloud node).
		"cloud-cni-affinity-removed": "placement/cloud-cni",
	} {
		for _, s := range []string{"fault: " + fault + ": inject", "fault: " + fault + ": " + check + " fails", "fault: " + fault + ": heal"} {
			if state[s] != report.Passed {
				t.Errorf("%q is %q (%s), want passed", s, state[s], msg[s])
			}
		}
		healed := false
		for spec, st := range state {
			if strings.HasPrefix(spec, "fault: "+fault+": healed: ") {
				healed = true
				if st != report.Passed {
					t.Errorf("%q after heal is %s (%s), want passed", spec, st, msg[spec])
				}
			}
		}
		if !healed {
			t.Errorf("fault %s: no check ran after heal", fault)
		}
	}
	// Faults that need a node shell or a dataplane skip naming it.
	for _, fault := range []string{"cni-file-left", "vxlan-port-dropped", "node-to-pod-dropped"} {
		s := "fault: " + fault + ": inject"
		if state[s] != report.Skipped || !capabilityRE.MatchString(msg[s]) {
			t.Errorf("%q is %q (%s), want skipped naming the missing capability", s, state[s], msg[s])
		}
	}
	md, err := os.ReadFile(filepath.Join(results, suites.FaultsFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", md)
	for _, row := range []string{"| agent-affinity-removed | placement | yes |", "| crd-recreated | cleanup/crds | yes |",
		"| cloud-cni-affinity-removed | placement/cloud-cni | yes |"} {
		if !strings.Contains(string(md), row) {
			t.Errorf("faults.md lacks %q", row)
		}
	}
}

func faultPhaseChild(t *testing.T, results string) {
	r := config.Default()
	r.Name = "cilium-faults"
	r.CNI = config.CNI{Name: config.Cilium, Version: "1.16.18", ChartSource: os.Getenv("HYBRIDCNI_FAULTS_CHARTS")}
	r.Nodes = config.Nodes{Hybrid: 2, Cloud: 1}
	r.BGP.Enabled = false
	r.Network.Masquerade = true
	r.Complete()
	err := suites.Run(context.Background(), suites.Options{
		Runs: []config.Run{r}, Provider: "simulated", ResultsDir: results, Faults: true,
		Timeout: 15 * time.Minute, WaitTimeout: 90 * time.Second,
	})
	t.Logf("suites.Run: %v", err)
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func firstLineOf(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
