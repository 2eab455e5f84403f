package suites

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/config"
)

// ExistingPhase is the phase of a cluster whose CNI was installed before
// the run (the existing provider): its checks judge the version found.
const ExistingPhase = "existing"

// HarnessNamespace is the namespace the harness makes its pods in (the
// echo workload, node probes, node shells); the only one a run on an
// existing cluster changes in --lifecycle none.
const HarnessNamespace = workloadNamespace

// phasesFor lays out the phases of a run on a CNI already installed
// (opts.Lifecycle none or upgrade), or nil for the whole lifecycle: the
// existing phase (no before-cni, no install), then for upgrade each hop
// and, with opts.Rollback, the rollback to the revision found. No delete.
func phasesFor(opts Options, r config.Run) func([]string) []checks.Phase {
	if opts.Lifecycle == "" || opts.Lifecycle == LifecycleFull {
		return nil
	}
	return func(hops []string) []checks.Phase {
		out := []checks.Phase{{Name: ExistingPhase, Stage: checks.AfterInstall, Version: r.CNI.Version}}
		if opts.Lifecycle != LifecycleUpgrade {
			return out
		}
		for i, h := range hops {
			out = append(out, checks.Phase{Name: fmt.Sprintf("upgrade-%d", i+1), Stage: checks.AfterUpgrade, Version: h})
		}
		if opts.Rollback && len(hops) > 0 {
			out = append(out, checks.Phase{Name: "rollback", Stage: checks.AfterRollback, Version: r.CNI.Version})
		}
		return out
	}
}

// existingSteps are the steps of the existing phase: take the release as
// found, then the echo workload the checks probe.
func existingSteps(r config.Run, step func(string, func(*world, SpecContext), ...string) specOf) []specOf {
	return []specOf{
		step(fmt.Sprintf("existing: helm release of %s %s found", r.CNI.Name, r.CNI.Version), (*world).adopt, FeatureInstall),
		step("existing: the echo workload on every hybrid node", (*world).setUpWorkload, FeatureInstall),
	}
}

// adopt takes the CNI's release as the cluster has it: deployed, at the
// version the run was laid out for. Readiness is the checks' to judge.
func (w *world) adopt(ctx SpecContext) {
	p := w.driver.Profile()
	rel, err := w.cluster.Helm.Get(ctx, p.ReleaseName(), p.Namespace())
	Expect(err).NotTo(HaveOccurred(), "read helm release %s/%s", p.Namespace(), p.ReleaseName())
	Expect(rel.Status).To(Equal("deployed"), "helm release %s", rel)
	Expect(strings.TrimPrefix(rel.ChartVersion, "v")).To(Equal(strings.TrimPrefix(w.run.CNI.Version, "v")),
		"helm release %s: the version the run was laid out for", rel)
	AddReportEntry("release", rel.String())
	w.installed, w.version, w.baseRevision = true, w.run.CNI.Version, rel.Revision
}

// outsideHarness are the checks that change something outside the
// harness's namespace, and what.
var outsideHarness = map[string]string{
	"bgp/graceful-restart":         "restarts a CNI agent",
	"control-plane-to-pod/webhook": "registers a cluster-wide admission webhook",
}

// changesOutsideHarness says why a check skips in --lifecycle none, where
// nothing outside the harness's namespace may change ("" : it runs).
func changesOutsideHarness(check string) string {
	what, ok := outsideHarness[check]
	if !ok || state.opts.Lifecycle != LifecycleNone {
		return ""
	}
	return fmt.Sprintf("--lifecycle none changes nothing outside namespace %s, and this check %s: run with --lifecycle upgrade (and --yes) to include it",
		HarnessNamespace, what)
}
