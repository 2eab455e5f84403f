package suites

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Feature labels, as the catalogue declares them (framework/checks).
const (
	FeatureInstall = checks.Install
	FeatureUpgrade = checks.Upgrade
	FeatureDelete  = checks.Delete
)

func feature(names ...string) Labels {
	l := Labels{}
	for _, n := range names {
		l = append(l, "feature:"+n)
	}
	return l
}

// runLabels are the labels of every spec of a run; each spec adds its
// phase, the version the cluster runs in that phase, and its features.
func runLabels(r config.Run) Labels {
	l := Labels{"cni:" + r.CNI.Name, "run:" + r.Name, "from:" + r.CNI.Version}
	if r.CNI.UpgradeTo != "" {
		l = append(l, "upgrade-to:"+r.CNI.UpgradeTo)
	}
	return l
}

// runTitle names a run's container: "cilium 1.16.19" or "cilium 1.16.19 → 1.17.0".
func runTitle(r config.Run) string {
	t := r.CNI.Name + " " + r.CNI.Version
	if r.CNI.UpgradeTo != "" {
		t += " → " + r.CNI.UpgradeTo
	}
	return t
}

// phaseLabels are the labels a phase gives its specs.
func phaseLabels(p checks.Phase) []string {
	l := []string{"phase:" + p.Name}
	if p.Version != "" {
		l = append(l, "version:"+p.Version)
	}
	return l
}

func phaseTitle(p checks.Phase) string {
	if p.Name == ExistingPhase {
		return "existing " + p.Version
	}
	switch p.Stage {
	case checks.BeforeCNI:
		return "before the CNI"
	case checks.AfterInstall:
		return "install " + p.Version
	case checks.AfterUpgrade:
		return p.Name + ": " + p.Version
	case checks.AfterRollback:
		return "rollback to " + p.Version
	}
	return p.Name
}

// specOf is one spec of a run, as defined: a lifecycle step (always
// defined: a filter cannot remove the install a check depends on) or a
// catalogue check (defined when the label filter selects it).
type specOf struct {
	title  string
	labels []string
	step   bool
	// timeout, when set, bounds the spec instead of the phase's default.
	timeout time.Duration
	entry   checks.Entry
	run     func(w *world) func(SpecContext)
}

// layout is a run's specs, phase by phase.
type layout struct {
	run    config.Run
	hops   []string
	hopErr error
	phases []checks.Phase
	specs  map[string][]specOf // by phase name
	// matched counts the specs (steps and checks) the filter selected.
	matched int
}

// planRun lays out a run's specs from the catalogue; filter (nil: all)
// selects checks by their full labels.
func planRun(r config.Run, hops []string, hopErr error, filter func([]string) bool) *layout {
	return planPhases(r, hops, hopErr, filter, nil)
}

// planPhases is planRun with the phases laid out by phases (nil: checks.Phases).
func planPhases(r config.Run, hops []string, hopErr error, filter func([]string) bool, phases func([]string) []checks.Phase) *layout {
	l := &layout{run: r, hops: hops, hopErr: hopErr, specs: map[string][]specOf{}}
	if phases == nil {
		phases = func(h []string) []checks.Phase { return checks.Phases(r, h) }
	}
	l.phases = phases(hops)
	if hopErr != nil && r.CNI.UpgradeTo != "" {
		// The hops could not be planned: one upgrade phase whose step fails.
		l.phases = phases([]string{r.CNI.UpgradeTo})
	}
	subject := checks.SubjectOf(r)
	run := runLabels(r)
	for _, p := range l.phases {
		for _, s := range steps(r, p, hopErr) {
			s.labels = append(append(append([]string{}, run...), phaseLabels(p)...), s.labels...)
			if filter != nil && filter(s.labels) {
				l.matched++ // a filter that names a step selects it (steps run anyway)
			}
			l.specs[p.Name] = append(l.specs[p.Name], s)
		}
		for _, e := range checks.For(subject, p) {
			labels := append(append([]string{}, run...), e.Labels()...)
			if filter != nil && !filter(labels) {
				continue
			}
			l.matched++
			e := e
			l.specs[p.Name] = append(l.specs[p.Name], specOf{title: e.Title, labels: labels, entry: e,
				run: func(w *world) func(SpecContext) { return w.check(e) }})
		}
	}
	return l
}

// define registers a run's specs: an ordered container that provisions the
// cluster, then phase by phase runs the lifecycle step and every catalogue
// check that applies (after install, after each hop, after rollback), and
// deletes the CNI.
func define(l *layout) {
	w := &world{run: l.run, hops: l.hops}
	Describe(runTitle(l.run), Ordered, ContinueOnFailure, func() {
		BeforeAll(w.provision, NodeTimeout(w.provisionTimeout()))
		AfterEach(w.diagnoseFailure)
		for _, p := range l.phases {
			specs := l.specs[p.Name]
			if len(specs) == 0 {
				continue
			}
			Context(phaseTitle(p), func() {
				for _, s := range specs {
					timeout := specTimeout()
					if s.step && p.Stage == checks.AfterUpgrade {
						timeout = SpecTimeout(w.upgradeTimeout())
					}
					if s.timeout > 0 {
						timeout = SpecTimeout(s.timeout)
					}
					It(s.title, Label(s.labels...), s.run(w), timeout)
				}
			})
		}
	})
}

// steps are the lifecycle steps of a phase.
func steps(r config.Run, p checks.Phase, hopErr error) []specOf {
	step := func(title string, fn func(*world, SpecContext), features ...string) specOf {
		return specOf{title: title, labels: feature(features...), step: true,
			run: func(w *world) func(SpecContext) {
				return func(ctx SpecContext) {
					w.phase = p
					fn(w, ctx)
					if w.env.AfterStep != nil {
						Expect(w.env.AfterStep(ctx, p.Name)).To(Succeed(), "the environment's after-step hook")
					}
				}
			}}
	}
	if p.Name == ExistingPhase {
		return existingSteps(r, step)
	}
	switch p.Stage {
	case checks.AfterInstall:
		return []specOf{
			step(fmt.Sprintf("install: helm install %s %s", r.CNI.Name, r.CNI.Version), (*world).install, FeatureInstall),
			step("install: the echo workload on every hybrid node", (*world).setUpWorkload, FeatureInstall),
		}
	case checks.AfterUpgrade:
		n := 0
		fmt.Sscanf(strings.TrimPrefix(p.Name, "upgrade-"), "%d", &n)
		to := p.Version
		return []specOf{step(fmt.Sprintf("upgrade: hop %d to %s with the disruption meter", n, to), func(w *world, ctx SpecContext) {
			if hopErr != nil {
				Fail(fmt.Sprintf("plan the upgrade %s -> %s: %v", r.CNI.Version, r.CNI.UpgradeTo, hopErr))
			}
			w.upgradeHop(ctx, n, to)
		}, FeatureUpgrade)}
	case checks.AfterRollback:
		out := []specOf{step(fmt.Sprintf("rollback: to revision 1 (%s), then ready again", r.CNI.Version), (*world).rollback, FeatureUpgrade)}
		if r.CNI.RepeatHops > 0 {
			repeat := step(fmt.Sprintf("upgrade: the first hop and its rollback, %d times, judged on the %s", r.CNI.RepeatHops, r.CNI.RepeatBudgetOn),
				(*world).repeatFirstHop, FeatureUpgrade)
			// Each repeat is a hop and a rollback, each bounded as one hop is.
			repeat.timeout = time.Duration(2*r.CNI.RepeatHops) * hopTimeout
			out = append(out, repeat)
		}
		return out
	case checks.AfterDelete:
		return []specOf{
			step("uninstall: helm uninstall", (*world).uninstall, FeatureDelete),
			step("cleanup: the guide's cleanup (files, CRDs)", (*world).cleanup, FeatureDelete),
		}
	}
	return nil
}
