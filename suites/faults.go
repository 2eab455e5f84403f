package suites

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/faults"
	"github.com/hybridcni/hybridcni/framework/router"
)

// The fault phases (Options.Faults): after the install phase's checks,
// "faults" injects each fault that applies, runs the checks it names
// expecting each to fail naming what broke, heals, and runs them again
// expecting a pass; "faults-after-delete" does the same for the cleanup's
// faults after the delete phase.
const (
	FaultsPhase            = "faults"
	FaultsBeforeCNIPhase   = "faults-before-cni"
	FaultsAfterDeletePhase = "faults-after-delete"
	// FaultsFile is the fault matrix a run with faults writes under ResultsDir.
	FaultsFile = "faults.md"
)

// planFaults adds the fault phases to a layout; filter (nil: all) selects
// a fault when it selects one of its must-fail specs.
func planFaults(l *layout, filter func([]string) bool) {
	subject := checks.SubjectOf(l.run)
	run := runLabels(l.run)
	var out []checks.Phase
	for _, p := range l.phases {
		out = append(out, p)
		var fp checks.Phase
		switch p.Stage {
		case checks.BeforeCNI:
			fp = checks.Phase{Name: FaultsBeforeCNIPhase}
		case checks.AfterInstall:
			// Stage 0: the phase is no stage of the catalogue; its checks
			// run as the phase it follows.
			fp = checks.Phase{Name: FaultsPhase, Version: p.Version}
		case checks.AfterDelete:
			fp = checks.Phase{Name: FaultsAfterDeletePhase}
		default:
			continue
		}
		var specs []specOf
		for _, e := range faults.For(subject, p.Stage) {
			s, matched := faultSpecs(l, run, p, fp, subject, e, filter)
			specs = append(specs, s...)
			l.matched += matched
		}
		if len(specs) > 0 {
			out = append(out, fp)
			l.specs[fp.Name] = specs
		}
	}
	l.phases = out
}

// faultSpecs are one fault's specs: inject, each named check must fail,
// heal, each named check passes again.
func faultSpecs(l *layout, run []string, checked, fp checks.Phase, subject checks.Subject, e faults.Entry, filter func([]string) bool) ([]specOf, int) {
	f := e.Fault
	base := append(append(append([]string{}, run...), phaseLabels(fp)...), "fault:"+f.Label())
	cs, err := f.Checks()
	var mustFail, passAgain []specOf
	matched := 0
	for _, c := range cs {
		ce := checks.Entry{Check: c, Phase: checked, Title: c.Title(subject), Skip: c.Applies(subject)}
		if faults.JudgedSinceInstall(c, checked.Stage) {
			// A check of the phases after install (ipam/unchanged) runs as
			// this phase, against the install's snapshot, as after a hop
			// that did what the fault does.
			ce.Phase = checks.Phase{Name: fp.Name, Stage: checked.Stage, Version: checked.Version}
		}
		// No feature: labels: the matrix rows judge the CNI, these specs the checks.
		labels := append(append([]string{}, base...), "check:"+c.Label())
		if filter != nil && !filter(labels) {
			continue
		}
		matched++
		ce, fault := ce, f
		mustFail = append(mustFail, specOf{title: fmt.Sprintf("fault: %s: %s fails", f.Name(), c.Name()), labels: labels, entry: ce,
			run: func(w *world) func(SpecContext) { return w.mustFail(l.run.Name, fault, ce) }})
		passAgain = append(passAgain, specOf{title: fmt.Sprintf("fault: %s: healed: %s", f.Name(), ce.Title), labels: labels, entry: ce,
			run: func(w *world) func(SpecContext) { return w.passesAgain(l.run.Name, fault, ce) }})
	}
	if matched == 0 && err == nil {
		return nil, 0
	}
	inject := specOf{title: fmt.Sprintf("fault: %s: inject", f.Name()), labels: base, step: true,
		run: func(w *world) func(SpecContext) { return w.injectFault(f, checked, e.Skip, err) }}
	heal := specOf{title: fmt.Sprintf("fault: %s: heal", f.Name()), labels: base, step: true,
		run: func(w *world) func(SpecContext) { return w.healFault(f) }}
	out := append([]specOf{inject}, mustFail...)
	out = append(out, heal)
	return append(out, passAgain...), matched
}

// injection is a fault in place: how to heal it, what a failure must name.
type injection struct {
	heal  faults.Heal
	names []string
	at    time.Time
	// took is how long the injection took; healAt when the heal began.
	took   time.Duration
	healAt time.Time
	// healed: the heal step succeeded, so the checks must pass again.
	healed bool
}

// injected are the faults in place, per run's world (the specs of a run
// are ordered, and runs go one after the other).
var (
	injectedMu sync.Mutex
	injected   = map[*world]map[string]*injection{}
)

func (w *world) injection(name string) *injection {
	injectedMu.Lock()
	defer injectedMu.Unlock()
	return injected[w][name]
}

func (w *world) setInjection(name string, inj *injection) {
	injectedMu.Lock()
	defer injectedMu.Unlock()
	if injected[w] == nil {
		injected[w] = map[string]*injection{}
	}
	injected[w][name] = inj
}

func (w *world) injectFault(f *faults.Fault, checked checks.Phase, skip string, declErr error) func(SpecContext) {
	return func(ctx SpecContext) {
		w.phase = checked
		if declErr != nil {
			Fail(declErr.Error())
		}
		if skip != "" {
			Skip("does not apply: " + skip)
		}
		switch checked.Stage {
		case checks.BeforeCNI:
			if w.installed {
				Skip("the CNI is installed already")
			}
		case checks.AfterDelete:
			if !w.uninstalled {
				Skip("the release was not uninstalled (see the delete step)")
			}
		default:
			w.requireInstalled()
			if w.broken != "" {
				Skip(w.broken)
			}
		}
		w.require(f.Capabilities()...)
		// A fault changes the cluster under the CNI: no readiness wait after
		// it continues a settle window seen before it.
		w.forgetReady()
		began := time.Now()
		heal, names, err := f.Inject(ctx, faultTarget{w})
		if faults.IsNotApplicable(err) {
			Skip(err.Error())
		}
		Expect(err).NotTo(HaveOccurred(), "inject fault %s", f.Name())
		w.setInjection(f.Name(), &injection{heal: heal, names: names, at: time.Now(), took: time.Since(began)})
		AddReportEntry("fault names", strings.Join(names, ", "))
	}
}

func (w *world) healFault(f *faults.Fault) func(SpecContext) {
	return func(ctx SpecContext) {
		inj := w.injection(f.Name())
		if inj == nil {
			Skip("the fault was not injected (see its inject step)")
		}
		w.forgetReady()
		inj.healAt = time.Now()
		Expect(inj.heal(ctx)).To(Succeed(), "heal fault %s", f.Name())
		inj.healed = true
	}
}

// mustFail runs a check while the fault holds: the spec passes only when
// the check failed with a message naming what broke. A check that does not
// apply fails the spec (a fault that no check sees is not caught); one whose
// environment lacks a capability skips naming it.
func (w *world) mustFail(run string, f *faults.Fault, e checks.Entry) func(SpecContext) {
	body, ok := bodies[e.Check.Name()]
	return func(ctx SpecContext) {
		inj := w.injection(f.Name())
		if inj == nil {
			Skip("the fault was not injected (see its inject step)")
		}
		row := faults.Outcome{Run: run, Fault: f.Name(), Check: e.Check.Name(), Caught: "no", Inject: inj.took.Round(100 * time.Millisecond).String()}
		defer func() { recordOutcome(row) }()
		if !ok {
			Fail(fmt.Sprintf("check %s is in the catalogue but has no body in suites", e.Check.Name()))
		}
		w.phase = e.Phase
		if e.Skip != "" {
			Fail(fmt.Sprintf("fault %s holds but check %s does not apply (%s): nothing catches the fault", f.Name(), e.Check.Name(), e.Skip))
		}
		w.require(e.Check.Capabilities()...)
		// A Skip or a ginkgo.Fail inside the body is not intercepted: the
		// spec is then skipped or failed, never passed.
		bctx := ctx
		d, said := w.faultWait(e.Check.Name())
		row.Bound = said
		if d > 0 {
			c, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			bctx = boundedSpec{ctx, c}
		}
		err := InterceptGomegaFailure(func() { body(w, bctx) })
		row.Detect = time.Since(inj.at).Round(time.Second).String()
		if err == nil {
			Fail(fmt.Sprintf("fault %s holds but check %s passed: the check does not catch it", f.Name(), e.Check.Name()))
		}
		row.Message = err.Error()
		names := inj.names
		if len(names) == 0 {
			names = w.defaultFaultNames(ctx)
		}
		if !containsAny(row.Message, names) {
			Fail(fmt.Sprintf("check %s failed under fault %s, but its message names none of %s:\n%s",
				e.Check.Name(), f.Name(), strings.Join(names, ", "), row.Message))
		}
		row.Caught = "yes"
		AddReportEntry("caught", row.Message)
	}
}

// faultWait bounds a check's wait under a held fault, which keeps it from
// waiting out its own timeouts for a cluster that cannot get there: what the
// check's slowest pass in this run waited by design (a settle window it
// waits again) plus faultWaitFactor times the rest, at least faultWaitFloor;
// a check that has not passed in this run keeps its own timeouts.
func (w *world) faultWait(check string) (d time.Duration, said string) {
	p, ok := w.passTook[check]
	if !ok {
		return 0, "own timeouts"
	}
	pass := fmt.Sprintf("pass %s", p.took.Round(100*time.Millisecond))
	if p.byDesign > 0 {
		pass += fmt.Sprintf(", %s of it by design", p.byDesign.Round(100*time.Millisecond))
	}
	if d = p.byDesign + faultWaitFactor*p.work(); d < faultWaitFloor {
		return faultWaitFloor, fmt.Sprintf("%s (floor; %s)", faultWaitFloor, pass)
	}
	if p.byDesign > 0 {
		return d, fmt.Sprintf("%s (%s by design + %d × %s)", d.Round(time.Second), p.byDesign.Round(100*time.Millisecond),
			faultWaitFactor, p.work().Round(100*time.Millisecond))
	}
	return d, fmt.Sprintf("%s (%d × %s pass)", d.Round(time.Second), faultWaitFactor, p.took.Round(100*time.Millisecond))
}

// The factor: a check's passes in one run differ by less than half (two
// Cilium matrices, 2026-12-06: bgp/graceful-restart 17.1-19.8 s, the
// hybrid webhook 5.7-8.3 s), so twice the slowest leaves a pass time to
// spare. At 3, bgp/graceful-restart's bound was 59 s, the longest single
// wait of Cilium's matrix.
//
// The floor covers the checks that pass in under 2.5 s, whose times vary
// more (bgp/withdrawal 1.0-2.6 s): it is ten polls at 500 ms (the faults'
// and most checks' interval) and twice the slowest of those passes. At
// 30 s, 15 s, then 10 s, it was the whole detection time of bgp/sessions,
// bgp/withdrawal, readiness and the API-proxy, DNS and node-to-pod checks
// under their faults (eight rows at 10 s in Cilium's), though they pass in
// a second or less.
//
// A designed wait is not multiplied: readiness's 10 s settle window made
// its bound 30 s, so a crash-looping agent took 30 s to catch.
const (
	faultWaitFloor  = 5 * time.Second
	faultWaitFactor = 2
)

// boundedSpec is a spec's context with an earlier deadline.
type boundedSpec struct {
	SpecContext
	ctx context.Context
}

func (b boundedSpec) Deadline() (time.Time, bool) { return b.ctx.Deadline() }
func (b boundedSpec) Done() <-chan struct{}       { return b.ctx.Done() }
func (b boundedSpec) Err() error                  { return b.ctx.Err() }
func (b boundedSpec) Value(key any) any           { return b.ctx.Value(key) }

// passesAgain runs the check after heal, as the phase it follows would.
func (w *world) passesAgain(run string, f *faults.Fault, e checks.Entry) func(SpecContext) {
	check := w.check(e)
	return func(ctx SpecContext) {
		inj := w.injection(f.Name())
		if inj == nil {
			Skip("the fault was not injected (see its inject step)")
		}
		if !inj.healed {
			Skip("the fault was not healed (see its heal step)")
		}
		ok := false
		defer func() {
			state, took := "failed", ""
			if ok {
				state, took = "passed", time.Since(inj.healAt).Round(time.Second).String()
			}
			markHealed(run, f.Name(), e.Check.Name(), state, took)
		}()
		check(ctx)
		ok = true
	}
}

// defaultFaultNames: the nodes and the workload's pods, and the pod CIDR.
func (w *world) defaultFaultNames(ctx context.Context) []string {
	out := []string{w.run.Network.PodCIDR}
	for _, n := range w.env.Nodes {
		out = append(out, n.Name)
	}
	if pods, err := w.env.Kube.CoreV1().Pods(workloadNamespace).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range pods.Items {
			out = append(out, p.Name)
		}
	}
	return out
}

func containsAny(s string, names []string) bool {
	for _, n := range names {
		if n != "" && strings.Contains(s, n) {
			return true
		}
	}
	return false
}

// outcomes are the fault matrix rows of this process, written to
// FaultsFile after each row.
var (
	outcomesMu sync.Mutex
	outcomes   []faults.Outcome
)

func recordOutcome(r faults.Outcome) {
	outcomesMu.Lock()
	defer outcomesMu.Unlock()
	r.Healed = "not run"
	outcomes = append(outcomes, r)
	writeOutcomes()
}

func markHealed(run, fault, check, state, took string) {
	outcomesMu.Lock()
	defer outcomesMu.Unlock()
	for i := range outcomes {
		if o := &outcomes[i]; o.Run == run && o.Fault == fault && o.Check == check {
			o.Healed, o.Heal = state, took
		}
	}
	writeOutcomes()
}

func writeOutcomes() {
	dir := state.opts.ResultsDir
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, FaultsFile))
	if err != nil {
		fmt.Fprintf(GinkgoWriter, "fault matrix: %v\n", err)
		return
	}
	defer f.Close()
	_ = faults.WriteMarkdown(f, outcomes)
}

// faultTarget is a run's environment as the faults see it.
type faultTarget struct{ w *world }

func (t faultTarget) CNI() string                { return t.w.run.CNI.Name }
func (t faultTarget) Kube() kubernetes.Interface { return t.w.env.Kube }
func (t faultTarget) Dynamic() dynamic.Interface { return t.w.cluster.Dynamic }
func (t faultTarget) Exec(ctx context.Context, node string, argv ...string) (string, error) {
	if t.w.env.NodeExec == nil {
		return "", fmt.Errorf("the %s provider runs no commands on nodes", t.w.env.Provider)
	}
	return t.w.env.NodeExec(ctx, node, argv...)
}
func (t faultTarget) HybridNodes() []faults.Node { return faultNodes(t.w.env.HybridNodes()) }
func (t faultTarget) CloudNodes() []faults.Node  { return faultNodes(t.w.env.CloudNodes()) }
func (t faultTarget) Facts() cni.Facts           { return t.w.facts() }
func (t faultTarget) Namespace() string          { return workloadNamespace }
func (t faultTarget) PodCIDR() string            { return t.w.run.Network.PodCIDR }
func (t faultTarget) OnPremAddress() string {
	if t.w.env.OnPrem == nil {
		return ""
	}
	return t.w.env.OnPrem.IP
}
func (t faultTarget) PodsRoutable() bool { return t.w.env.PodsRoutable }
func (t faultTarget) EchoImage() string  { return t.w.env.EchoImage }
func (t faultTarget) BGP() config.BGP    { return t.w.run.BGP }
func (t faultTarget) Network() config.Network {
	return t.w.run.Network
}
func (t faultTarget) Router() *router.Client { return t.w.env.Router }
func (t faultTarget) Profile() cni.Profile   { return t.w.driver.Profile() }
func (t faultTarget) Cluster() *cni.Cluster  { return t.w.cluster }
func (t faultTarget) BGPResources(ctx context.Context) ([]*unstructured.Unstructured, error) {
	return t.w.driver.BGPResources(ctx)
}
func (t faultTarget) GuideBGPResources() []*unstructured.Unstructured {
	return t.w.driver.Profile().BGPResources(t.w.run)
}
func (t faultTarget) Workloads(ctx context.Context) ([]cni.Workload, error) {
	r, err := t.w.driver.Readiness(ctx)
	if err != nil {
		return nil, err
	}
	var out []cni.Workload
	for _, ws := range r.Workloads {
		out = append(out, ws.Workload)
	}
	return out, nil
}

func faultNodes(ns []Node) []faults.Node {
	var out []faults.Node
	for _, n := range ns {
		out = append(out, faults.Node{Name: n.Name, Address: n.Address})
	}
	return out
}

// forgetReady drops the settle window the driver's last readiness wait saw
// (cni.Release), before something outside the driver changes the cluster.
func (w *world) forgetReady() {
	if f, ok := w.driver.(interface{ ForgetReady() }); ok {
		f.ForgetReady()
	}
}
