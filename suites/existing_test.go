package suites

import (
	"slices"
	"strings"
	"testing"

	"github.com/hybridcni/hybridcni/framework/checks"
)

// On a cluster whose CNI is installed: --lifecycle none is one phase,
// labelled existing with the version found, whose steps take the release
// and set up the workload, then every check that applies; upgrade adds
// each hop and, asked for, the rollback. Neither has before-cni, install
// or delete.
func TestExistingPhases(t *testing.T) {
	r := upgradeRun(t)
	r.CNI.UpgradeTo = ""
	names := func(l *layout) []string {
		var out []string
		for _, p := range l.phases {
			out = append(out, p.Name)
		}
		return out
	}
	none := planPhases(r, nil, nil, nil, phasesFor(Options{Lifecycle: LifecycleNone}, r))
	if got := names(none); !slices.Equal(got, []string{ExistingPhase}) {
		t.Fatalf("--lifecycle none: phases %v, want [existing]", got)
	}
	specs := none.specs[ExistingPhase]
	if len(specs) < 3 || !specs[0].step || !strings.HasPrefix(specs[0].title, "existing: helm release of cilium 1.16.18") || !specs[1].step {
		t.Fatalf("existing phase: first specs %q, want the release step and the workload step", specs[0].title)
	}
	checked := 0
	for _, s := range specs {
		if !slices.Contains(s.labels, "phase:existing") || !slices.Contains(s.labels, "version:1.16.18") {
			t.Errorf("%q labels %v, want phase:existing and version:1.16.18", s.title, s.labels)
		}
		if !s.step {
			checked++
			if s.entry.Check.Stages()&checks.AfterInstall == 0 {
				t.Errorf("%s runs in the existing phase but not after install", s.entry.Check.Name())
			}
		}
	}
	if want := len(checks.For(checks.SubjectOf(r), checks.Phase{Stage: checks.AfterInstall})); checked != want {
		t.Errorf("existing phase: %d checks, want every check of a version (%d)", checked, want)
	}

	r.CNI.UpgradeTo = "1.17.18"
	up := planPhases(r, []string{"1.16.19", "1.17.18"}, nil, nil, phasesFor(Options{Lifecycle: LifecycleUpgrade, Rollback: true}, r))
	if got, want := names(up), []string{ExistingPhase, "upgrade-1", "upgrade-2", "rollback"}; !slices.Equal(got, want) {
		t.Errorf("--lifecycle upgrade --rollback: phases %v, want %v", got, want)
	}
	noRollback := planPhases(r, []string{"1.17.18"}, nil, nil, phasesFor(Options{Lifecycle: LifecycleUpgrade}, r))
	if got, want := names(noRollback), []string{ExistingPhase, "upgrade-1"}; !slices.Equal(got, want) {
		t.Errorf("--lifecycle upgrade: phases %v, want %v", got, want)
	}
	if phasesFor(Options{Lifecycle: LifecycleFull}, r) != nil || phasesFor(Options{}, r) != nil {
		t.Error("--lifecycle full and the kind provider must lay out the whole lifecycle")
	}
}

// --lifecycle none skips the checks that change the cluster outside the
// harness's namespace, saying so and naming the flag; other modes run them.
func TestLifecycleNoneChangesNothingOutside(t *testing.T) {
	saved := state.opts
	defer func() { state.opts = saved }()
	state.opts = Options{Lifecycle: LifecycleNone}
	for name := range outsideHarness {
		if _, ok := checks.Lookup(name); !ok {
			t.Errorf("%s is not in the catalogue", name)
		}
		why := changesOutsideHarness(name)
		if !strings.Contains(why, "--lifecycle upgrade") || !strings.Contains(why, HarnessNamespace) {
			t.Errorf("%s: skip %q does not name the namespace and the flag", name, why)
		}
	}
	if why := changesOutsideHarness("placement"); why != "" {
		t.Errorf("placement changes nothing, but skips: %s", why)
	}
	state.opts = Options{Lifecycle: LifecycleUpgrade}
	if why := changesOutsideHarness("bgp/graceful-restart"); why != "" {
		t.Errorf("--lifecycle upgrade skips bgp/graceful-restart: %s", why)
	}
}
