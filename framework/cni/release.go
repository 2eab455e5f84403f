package cni

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/config"
)

// RollbackHint ends the errors of an upgrade that changed the release.
const RollbackHint = "; `hybridcni cni rollback` returns to the previous revision"

// Release is the Helm release of one CNI and the lifecycle steps every
// driver runs on it the same way: chart loading, install then readiness,
// helm upgrade then readiness, rollback, uninstall and CRD cleanup. Drivers
// embed it and add what their guide does differently (pre-flight, CRDs
// applied first, BGP resources).
type Release struct {
	// Cluster is the cluster the release lives in (Helm, clients, discovery).
	Cluster *Cluster
	// Options are the run's lifecycle options (chart source, timeouts, events).
	Options Options
	// CNI names the CNI in progress lines and errors ("cilium").
	CNI string
	// Chart, Name and Namespace are the chart and the release the guide installs.
	Chart, Name, Namespace string
	// SourceFix is the fix given when no chart source is set (default "pass --chart-repo").
	SourceFix string
	// Spec is the readiness the guide defines, looked up at each check.
	Spec func(ctx context.Context) ReadinessSpec

	// ready is the last WaitReady that ended ready and stable, which the
	// next one continues (see WaitReady); ForgetReady drops it.
	readyMu  sync.Mutex
	ready    *Readiness
	readyGen uint64 // bumped by ForgetReady: a wait begun before does not become the memory
}

// ForgetReady drops the settle window the last WaitReady observed, so the
// next one observes a whole window of its own. Every step that changes the
// release or the CNI's objects calls it before changing them (install,
// upgrade, rollback, uninstall, cleanup here); code that changes them
// another way (manifests applied, a fault injected) must call it too: a
// wait right after a change may look before the change shows in its pods.
func (r *Release) ForgetReady() {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	r.ready = nil
	r.readyGen++
}

// Logf writes one progress line prefixed with the CNI's name.
func (r *Release) Logf(format string, args ...any) { Logf(r.Options.Log, r.CNI+": "+format, args...) }

// Load resolves version in the chart source (errors name field) and loads the chart.
func (r *Release) Load(ctx context.Context, field, version string) (*chart.Chart, error) {
	if r.Options.Source == nil {
		fix := r.SourceFix
		if fix == "" {
			fix = "pass --chart-repo"
		}
		return nil, config.Invalid("cni.chartSource", "is not set", fix)
	}
	if _, err := r.Options.Source.ResolveField(ctx, field, r.Chart, version); err != nil {
		return nil, err
	}
	return r.Options.Source.Load(ctx, r.Chart, version)
}

// UpgradeTarget returns the installed release and the chart of version to,
// refusing (as invalid cni.upgradeTo) a version not newer than the
// installed one.
func (r *Release) UpgradeTarget(ctx context.Context, to string) (*chart.Release, *chart.Chart, error) {
	cur, err := r.Cluster.Helm.Get(ctx, r.Name, r.Namespace)
	if err != nil {
		return nil, nil, err
	}
	ch, err := r.Load(ctx, "cni.upgradeTo", to)
	if err != nil {
		return nil, nil, err
	}
	vn, err1 := semver.NewVersion(ch.Version())
	vc, err2 := semver.NewVersion(cur.ChartVersion)
	if err1 != nil || err2 != nil || !vn.GreaterThan(vc) {
		return nil, nil, config.Invalid("cni.upgradeTo", fmt.Sprintf("%s is not newer than the installed %s", ch.Version(), cur.ChartVersion),
			"pick a newer version, or use rollback to go back")
	}
	return cur, ch, nil
}

// InstallRelease is `helm install` of run's version with values (then the
// run's values files), followed by the wait for readiness, on sw.
func (r *Release) InstallRelease(ctx context.Context, run config.Run, values map[string]any, sw *Stopwatch) (*chart.Release, error) {
	rel, err := r.InstallChart(ctx, run, values, sw)
	if err != nil {
		return rel, err
	}
	return rel, r.WaitInstalled(ctx, rel, sw)
}

// WaitInstalled is the wait for readiness after InstallChart, on sw.
func (r *Release) WaitInstalled(ctx context.Context, rel *chart.Release, sw *Stopwatch) error {
	if err := sw.Wait(func() error { _, err := r.WaitReady(ctx); return err }); err != nil {
		return fmt.Errorf("%s %s installed (revision %d) but %w", r.CNI, rel.ChartVersion, rel.Revision, err)
	}
	return nil
}

// InstallChart is `helm install` of run's version with values (then the
// run's values files), on sw, with no wait for readiness.
func (r *Release) InstallChart(ctx context.Context, run config.Run, values map[string]any, sw *Stopwatch) (*chart.Release, error) {
	r.ForgetReady()
	ch, err := r.Load(ctx, "cni.version", run.CNI.Version)
	if err != nil {
		return nil, err
	}
	vals, err := chart.MergeValuesFiles(values, run.CNI.ValuesFiles)
	if err != nil {
		return nil, err
	}
	r.Logf("installing release %s (chart %s %s) into %s", r.Name, ch.Name(), ch.Version(), r.Namespace)
	return HelmStep(sw, func() (*chart.Release, error) {
		return r.Cluster.Helm.Install(ctx, ch, r.Name, r.Namespace, vals, chart.ActionOptions{Timeout: r.Options.WaitTimeout()})
	})
}

// UpgradeRelease is `helm upgrade` of hop.To (chart ch) with vals, then the
// wait for readiness, on sw; it fills hop's revision and timings, records
// the step and emits EventUpgraded. readyHint ends the error when the
// release upgraded but did not become ready.
func (r *Release) UpgradeRelease(ctx context.Context, hop *Hop, ch *chart.Chart, vals map[string]any, sw *Stopwatch, readyHint string) error {
	// The wait below observes a whole window of its own: right after helm
	// returns, the old pods may still run unchanged.
	r.ForgetReady()
	r.Logf("helm upgrade %s %s -> %s", r.Name, hop.From, hop.To)
	rel, err := HelmStep(sw, func() (*chart.Release, error) {
		return r.Cluster.Helm.Upgrade(ctx, ch, r.Name, r.Namespace, vals, chart.ActionOptions{Timeout: r.Options.WaitTimeout()})
	})
	if err != nil {
		hop.Timings = sw.Timings()
		return fmt.Errorf("%w"+RollbackHint, err)
	}
	hop.Revision = rel.Revision
	if err := sw.Wait(func() error { _, err := r.WaitReady(ctx); return err }); err != nil {
		hop.Timings = sw.Timings()
		return fmt.Errorf("upgraded to %s (revision %d) but %w%s", hop.To, rel.Revision, err, readyHint)
	}
	hop.Timings = sw.Timings()
	r.Options.Recorded("upgrade "+hop.From+" -> "+hop.To, hop.Timings)
	r.Options.Emit(Event{Step: EventUpgraded, From: hop.From, To: hop.To})
	return nil
}

// Rollback is `helm rollback` to revision (0: the previous one), then the
// wait for readiness.
func (r *Release) Rollback(ctx context.Context, _ config.Run, revision int) (*chart.Release, error) {
	r.ForgetReady()
	sw := StartStopwatch()
	rel, err := HelmStep(sw, func() (*chart.Release, error) {
		return r.Cluster.Helm.Rollback(ctx, r.Name, r.Namespace, revision, chart.ActionOptions{Timeout: r.Options.WaitTimeout()})
	})
	if err != nil {
		return nil, err
	}
	if err := sw.Wait(func() error { _, err := r.WaitReady(ctx); return err }); err != nil {
		return rel, fmt.Errorf("rolled back to %s (revision %d) but %w", rel.ChartVersion, rel.Revision, err)
	}
	r.Options.Recorded("rollback", sw.Timings())
	return rel, nil
}

// UninstallRelease is `helm uninstall`, on sw: waiting until the release's
// objects and their pods are gone (await), or only for Helm to delete them.
func (r *Release) UninstallRelease(ctx context.Context, sw *Stopwatch, await bool) error {
	r.ForgetReady()
	var pods []podSet
	if await {
		pods = r.workloadPods(ctx)
	}
	uninstall := func() error {
		return r.Cluster.Helm.Uninstall(ctx, r.Name, r.Namespace, chart.ActionOptions{Wait: await, Timeout: r.Options.WaitTimeout()})
	}
	var err error
	if await {
		err = sw.Wait(uninstall)
		if err == nil {
			// Helm's wait ends when the DaemonSet object is gone; its pods
			// still terminate, and a terminating agent can still write the
			// node files the cleanup removes next.
			err = sw.Wait(func() error { return r.waitPodsGone(ctx, pods) })
		}
	} else {
		err = sw.Helm(uninstall)
	}
	r.Options.Recorded("uninstall", sw.Timings())
	return err
}

// podSet is the pods of one workload: its namespace and selector.
type podSet struct {
	workload Workload
	selector string
}

// workloadPods are the pod selectors of the spec's workloads that exist.
func (r *Release) workloadPods(ctx context.Context) []podSet {
	if r.Spec == nil {
		return nil
	}
	var out []podSet
	for _, w := range r.Spec(ctx).Workloads {
		var sel *metav1.LabelSelector
		switch w.Kind {
		case KindDaemonSet:
			if ds, err := r.Cluster.Kube.AppsV1().DaemonSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
				sel = ds.Spec.Selector
			}
		case KindDeployment:
			if d, err := r.Cluster.Kube.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
				sel = d.Spec.Selector
			}
		}
		if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && sel != nil && !s.Empty() {
			out = append(out, podSet{w, s.String()})
		}
	}
	return out
}

// waitPodsGone waits, within the wait timeout, until no pod of sets remains.
func (r *Release) waitPodsGone(ctx context.Context, sets []podSet) error {
	var left []string
	var listErr error
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, r.Options.WaitTimeout(), true, func(ctx context.Context) (bool, error) {
		left = left[:0]
		for _, ps := range sets {
			l, err := r.Cluster.Kube.CoreV1().Pods(ps.workload.Namespace).List(ctx, metav1.ListOptions{LabelSelector: ps.selector})
			if err != nil {
				listErr = err // the API server hiccups: ask again
				return false, nil
			}
			for _, p := range l.Items {
				left = append(left, "pod "+p.Namespace+"/"+p.Name+" of "+ps.workload.String())
			}
		}
		return len(left) == 0, nil
	})
	switch {
	case err == nil:
		return nil
	case len(left) > 0:
		return fmt.Errorf("release %s uninstalled, but after %s its pods still terminate: %s", r.Name, r.Options.WaitTimeout(), strings.Join(left, ", "))
	case listErr != nil:
		return fmt.Errorf("release %s uninstalled, but its pods could not be listed: %w", r.Name, listErr)
	}
	return err
}

// CleanupCRDs deletes the CRDs match selects and the namespaces given,
// with the driver's bounded wait and finalizer options.
func (r *Release) CleanupCRDs(ctx context.Context, match func(crd string) bool, namespaces ...string) (*CleanupReport, error) {
	r.ForgetReady()
	rep, err := Cleanup(ctx, r.Cluster, CleanupOptions{
		MatchCRD:         match,
		Namespaces:       namespaces,
		Timeout:          r.Options.WaitTimeout(),
		RemoveFinalizers: r.Options.RemoveFinalizers,
		FinalizerGrace:   r.Options.FinalizerGrace,
	})
	if rep != nil {
		r.Options.Recorded("cleanup", rep.Timings)
	}
	return rep, err
}

// Readiness is a snapshot of the release's readiness.
func (r *Release) Readiness(ctx context.Context) (*Readiness, error) {
	return CheckReadiness(ctx, r.Cluster, r.Spec(ctx))
}

// WaitReady waits (bounded by the driver's timeout) until the release is
// ready and stable for the settle window. It continues the window of the
// last WaitReady that ended ready and stable, unless ForgetReady came in
// between: when its first look finds the same pods, with the same UIDs and
// restart counts, all ready, the window goes on from where that wait saw it
// begin, so back-to-back waits with nothing changed in between (an upgrade
// step's own wait, the suite's after the hop, the readiness check) pay the
// window (DefaultSettle, 10 s) once, not each. Any break starts it over.
func (r *Release) WaitReady(ctx context.Context) (*Readiness, error) {
	spec := r.Spec(ctx)
	spec.Progress, spec.Name = r.Options.Log, r.CNI+" readiness"
	r.readyMu.Lock()
	earlier, gen := r.ready, r.readyGen
	r.readyMu.Unlock()
	res, err := waitReadiness(ctx, r.Cluster, spec, r.Options.WaitTimeout(), earlier)
	r.readyMu.Lock()
	switch {
	case r.readyGen != gen:
		// ForgetReady came during the wait: its window may predate a change.
	case err == nil && res.OK():
		r.ready = &Readiness{seen: res.seen, StableSince: res.StableSince} // a copy: the caller owns res
	default:
		r.ready = nil // not ready or not stable: the next wait starts over
	}
	r.readyMu.Unlock()
	if err == nil && res.Inherited {
		r.Logf("%s", res.Stability())
	}
	return res, err
}
