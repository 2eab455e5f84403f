package cilium

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
)

// Objects of the Cilium release and its upgrade pre-flight.
const (
	AgentDaemonSet     = "cilium"
	OperatorDeployment = "cilium-operator"
	PreflightRelease   = "cilium-preflight"
	// PreflightName is the pre-flight DaemonSet and Deployment.
	PreflightName = "cilium-pre-flight-check"
	// BGPGroup is the API group of the BGP resources.
	BGPGroup = "cilium.io"
	// UpgradeCompatibility is the Helm value naming the first installed minor.
	UpgradeCompatibility = "upgradeCompatibility"
)

// BGPKinds are the BGP resources the profile writes.
var BGPKinds = []string{"CiliumBGPClusterConfig", "CiliumBGPPeerConfig", "CiliumBGPAdvertisement"}

// PreflightValues are the guide's values of the pre-flight release.
func PreflightValues() map[string]any {
	return map[string]any{
		"preflight": map[string]any{"enabled": true},
		"agent":     false,
		"operator":  map[string]any{"enabled": false},
	}
}

// ReleasePreflightValues are the pre-flight values for a release holding
// values: its own preflight.* values (an image mirror, say) under the
// guide's switches, and the agent's affinity unless preflight.affinity is
// set, so the pre-flight runs where the agent does and the READY counts
// the guide compares are of the same nodes (on hybrid clusters the
// pre-flight would otherwise also land on cloud nodes and the control plane).
func ReleasePreflightValues(values map[string]any) map[string]any {
	own := map[string]any{}
	if pf, ok := values["preflight"].(map[string]any); ok {
		own = chart.MergeValues(own, pf)
	}
	if _, set := own["affinity"]; !set {
		if aff, ok := values["affinity"]; ok {
			own["affinity"] = aff
		}
	}
	pf := map[string]any{"preflight": own}
	// The release's Envoy mode too: from 1.18 the pre-flight DaemonSet runs
	// an Envoy container mounting the Envoy bootstrap ConfigMap whenever the
	// chart's Envoy DaemonSet is on (its default), and a release with
	// envoy.enabled false has no such ConfigMap: with the guide's values
	// alone the pre-flight pods never start (seen on kind, 1.17.0 -> 1.18.0).
	if e, ok := values["envoy"].(map[string]any); ok {
		if on, set := e["enabled"]; set {
			pf["envoy"] = map[string]any{"enabled": on}
		}
	}
	if l7, set := values["l7Proxy"]; set {
		pf["l7Proxy"] = l7
	}
	return chart.MergeValues(pf, PreflightValues())
}

// ReadinessSpec is the guide's "verify": an agent on every hybrid node
// (none elsewhere) and the operator running on hybrid nodes.
func ReadinessSpec() cni.ReadinessSpec {
	return cni.ReadinessSpec{Workloads: []cni.Workload{
		{Kind: cni.KindDaemonSet, Namespace: Namespace, Name: AgentDaemonSet, Agent: true},
		{Kind: cni.KindDeployment, Namespace: Namespace, Name: OperatorDeployment, HybridOnly: true},
	}}
}

// Driver runs the Cilium lifecycle of the hybrid-nodes guide.
type Driver struct {
	cni.Release
	p *Profile
}

// NewDriver returns a Cilium driver for cluster c.
func NewDriver(c *cni.Cluster, o cni.Options) *Driver {
	return &Driver{p: New(), Release: cni.Release{Cluster: c, Options: o, CNI: "cilium", Chart: ChartName, Name: ReleaseName, Namespace: Namespace,
		Spec: func(context.Context) cni.ReadinessSpec { return ReadinessSpec() }}}
}

func init() {
	cni.RegisterDriver(config.Cilium, func(c *cni.Cluster, o cni.Options) cni.Driver { return NewDriver(c, o) })
}

var _ cni.Driver = (*Driver)(nil)

// Profile implements cni.Driver.
func (d *Driver) Profile() cni.Profile { return d.p }

// Install implements cni.Driver: `helm install cilium` with the guide's
// values, then readiness, then the BGP resources when BGP is on.
func (d *Driver) Install(ctx context.Context, run config.Run) (*chart.Release, error) {
	sw := cni.StartStopwatch()
	rel, err := d.InstallChart(ctx, run, d.p.Values(run), sw)
	if err != nil {
		return rel, err
	}
	// The BGP resources go in before the wait (once the operator serves
	// their API), so its settle window shows the agents stable with them.
	if run.BGP.Enabled {
		if _, err := d.applyBGP(ctx, run, sw); err != nil {
			return rel, err
		}
	}
	if err := d.WaitInstalled(ctx, rel, sw); err != nil {
		return rel, err
	}
	d.Options.Recorded("install", sw.Timings())
	d.Logf("release %s revision %d ready", ReleaseName, rel.Revision)
	return rel, nil
}

// Upgrade implements cni.Driver: for every hop of the upgrade path (newest
// patch of the installed minor first, then one minor at a time) it runs the
// pre-flight, removes it, and upgrades with upgradeCompatibility set to the
// first installed minor and the release's own values.
func (d *Driver) Upgrade(ctx context.Context, run config.Run, to string) ([]cni.Hop, error) {
	cur, err := d.Cluster.Helm.Get(ctx, ReleaseName, Namespace)
	if err != nil {
		return nil, err
	}
	if d.Options.Source == nil {
		return nil, config.Invalid("cni.chartSource", "is not set", "pass --chart-repo")
	}
	available, err := d.Options.Source.Versions(ctx, ChartName)
	if err != nil {
		return nil, err
	}
	path, err := plan.UpgradePath(cur.ChartVersion, to, available)
	if err != nil {
		return nil, err
	}
	// Every chart of the path loads before anything changes.
	charts := make([]*chart.Chart, len(path))
	for i, v := range path {
		if charts[i], err = d.Load(ctx, "cni.upgradeTo", v); err != nil {
			return nil, err
		}
	}
	compat, err := d.compatibility(ctx, cur)
	if err != nil {
		return nil, err
	}
	vals := chart.MergeValues(cur.Values, map[string]any{UpgradeCompatibility: compat})
	d.Logf("upgrade path %s -> %s (upgradeCompatibility %s)", cur.ChartVersion, strings.Join(path, " -> "), compat)

	var hops []cni.Hop
	from := cur.ChartVersion
	for _, ch := range charts {
		// Before the hop: what stops being served or moves (bgpapi.go).
		findings, ferr := d.HopFindings(ctx, from, ch.Version())
		for _, f := range findings {
			d.Logf("before %s -> %s: %s", from, ch.Version(), f)
		}
		if ferr != nil {
			d.Logf("before %s -> %s: could not look for BGP objects the target stops serving: %v", from, ch.Version(), ferr)
		}
		hop, err := d.hop(ctx, from, ch, vals)
		if hop != nil {
			hops = append(hops, *hop)
		}
		if err != nil {
			return hops, err
		}
		// The BGP resources in the version the new release stores.
		if run.BGP.Enabled {
			if _, err := d.ReapplyBGP(ctx, run, from, ch.Version()); err != nil {
				return hops, err
			}
		}
		from = ch.Version()
	}
	return hops, nil
}

// compatibility is the minor the release was first installed with: an
// upgradeCompatibility already set wins, else the oldest revision's chart.
func (d *Driver) compatibility(ctx context.Context, cur *chart.Release) (string, error) {
	if v, ok := cur.Values[UpgradeCompatibility].(string); ok && v != "" {
		return v, nil
	}
	hist, err := d.Cluster.Helm.History(ctx, ReleaseName, Namespace)
	if err != nil {
		return "", err
	}
	v, err := semver.NewVersion(hist[0].ChartVersion)
	if err != nil {
		return "", fmt.Errorf("release %s revision %d: chart version %q: %w", ReleaseName, hist[0].Revision, hist[0].ChartVersion, err)
	}
	return fmt.Sprintf("%d.%d", v.Major(), v.Minor()), nil
}

func (d *Driver) hop(ctx context.Context, from string, ch *chart.Chart, vals map[string]any) (*cni.Hop, error) {
	sw := cni.StartStopwatch()
	hop := &cni.Hop{From: from, To: ch.Version()}
	pf, err := d.preflight(ctx, ch, ReleasePreflightValues(vals), sw)
	hop.Preflight = pf
	if err != nil {
		hop.Timings = sw.Timings()
		return hop, err
	}
	err = d.UpgradeRelease(ctx, hop, ch, vals, sw, cni.RollbackHint)
	return hop, err
}

// preflight installs the pre-flight release of the target chart, waits
// until its DaemonSet has as many ready pods as the agent's and its
// Deployment is 1/1, and uninstalls it. On failure it uninstalls it too and
// returns why, so the upgrade stops with the cluster as it was.
func (d *Driver) preflight(ctx context.Context, ch *chart.Chart, base map[string]any, sw *cni.Stopwatch) (*cni.PreflightResult, error) {
	psw := cni.StartStopwatch()
	defer func() { d.Options.Recorded("preflight "+ch.Version(), psw.Timings()) }()
	if prev, err := d.Cluster.Helm.Get(ctx, PreflightRelease, Namespace); err == nil {
		return nil, fmt.Errorf("pre-flight release %s already exists (%s): an earlier upgrade stopped; uninstall it (helm uninstall %s -n %s) and retry",
			PreflightRelease, prev, PreflightRelease, Namespace)
	} else if !errors.Is(err, chart.ErrReleaseNotFound) {
		return nil, err
	}
	vals := chart.MergeValues(base, d.Options.PreflightValues)
	d.Logf("pre-flight: installing %s (chart %s)", PreflightRelease, ch.Version())
	rel, err := cni.HelmStep(sw, func() (*chart.Release, error) {
		return d.Cluster.Helm.Install(ctx, ch, PreflightRelease, Namespace, vals, chart.ActionOptions{Timeout: d.Options.WaitTimeout()})
	}, psw)
	if err != nil {
		d.removePreflight(ctx)
		return nil, fmt.Errorf("pre-flight for %s: %w; upgrade not started", ch.Version(), err)
	}
	res := &cni.PreflightResult{Release: PreflightRelease, Revision: rel.Revision}
	var werr error
	both := func(f func() error) error { return sw.Wait(func() error { return psw.Wait(f) }) }
	_ = both(func() error { werr = d.waitPreflight(ctx, res); return nil })
	if werr != nil {
		d.removePreflight(ctx)
		return res, fmt.Errorf("pre-flight for %s failed, upgrade not started: %w", ch.Version(), werr)
	}
	d.Logf("pre-flight: %s READY %d = %s READY %d, Deployment %s", PreflightName, res.DaemonSetReady, AgentDaemonSet, res.AgentReady, res.DeploymentReady)
	d.Options.Emit(cni.Event{Step: cni.EventPreflightReady, To: ch.Version()})
	if err := both(func() error {
		return d.Cluster.Helm.Uninstall(ctx, PreflightRelease, Namespace, chart.ActionOptions{Wait: true, Timeout: d.Options.WaitTimeout()})
	}); err != nil {
		return res, fmt.Errorf("pre-flight passed but removing it failed: %w", err)
	}
	if ok, err := d.Cluster.Helm.Exists(ctx, PreflightRelease, Namespace); err != nil || ok {
		return res, fmt.Errorf("pre-flight release %s still present after uninstall (err %v)", PreflightRelease, err)
	}
	res.Removed = true
	d.Options.Emit(cni.Event{Step: cni.EventPreflightRemoved, To: ch.Version()})
	return res, nil
}

func (d *Driver) removePreflight(ctx context.Context) {
	// A fresh context: the caller's may be what ended.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.Options.WaitTimeout())
	defer cancel()
	if err := d.Cluster.Helm.Uninstall(cctx, PreflightRelease, Namespace, chart.ActionOptions{Wait: true, Timeout: d.Options.WaitTimeout()}); err != nil &&
		!errors.Is(err, chart.ErrReleaseNotFound) {
		d.Logf("pre-flight: could not remove %s: %v", PreflightRelease, err)
	}
}

// waitPreflight waits for step 2 of the guide's upgrade.
func (d *Driver) waitPreflight(ctx context.Context, res *cni.PreflightResult) error {
	var last preflightState
	var have bool
	var apiErr error
	cond := func(ctx context.Context) (bool, error) {
		st, err := d.lookPreflight(ctx)
		if ctx.Err() != nil {
			return false, nil // cut short by the deadline: keep the last full look
		}
		if apiErr = err; err != nil {
			return false, nil
		}
		last, have = st, true
		return st.ok(), nil
	}
	wctx, cancel := context.WithTimeout(ctx, d.Options.WaitTimeout())
	defer cancel()
	err := wait.For(cond, wait.WithContext(wctx), wait.WithInterval(250*time.Millisecond), wait.WithImmediate())
	res.AgentReady, res.DaemonSetReady, res.DeploymentReady = last.agentReady, last.dsReady, last.deployment
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !have {
		return fmt.Errorf("after %s: %v", d.Options.WaitTimeout(), apiErr)
	}
	msg := fmt.Sprintf("after %s: DaemonSet %s READY %d, DaemonSet %s READY %d (want equal)",
		d.Options.WaitTimeout(), PreflightName, last.dsReady, AgentDaemonSet, last.agentReady)
	if last.deployment != "absent" {
		msg += fmt.Sprintf("; Deployment %s READY %s", PreflightName, last.deployment)
		if !last.depOK {
			msg += " (not 1/1: the CiliumNetworkPolicy validation failed or its pod cannot run; check its logs)"
		}
	}
	if pods := d.preflightPodProblems(ctx); len(pods) > 0 {
		msg += "; pods: " + strings.Join(pods, "; ")
	}
	return errors.New(msg)
}

type preflightState struct {
	agentReady, dsReady int32
	deployment          string // e.g. 1/1, or "absent" (validateCNPs off)
	depOK               bool
}

func (s preflightState) ok() bool { return s.depOK && s.dsReady == s.agentReady && s.agentReady > 0 }

func (d *Driver) lookPreflight(ctx context.Context) (preflightState, error) {
	apps := d.Cluster.Kube.AppsV1()
	var st preflightState
	agent, err := apps.DaemonSets(Namespace).Get(ctx, AgentDaemonSet, metav1.GetOptions{})
	if err != nil {
		return st, err
	}
	pf, err := apps.DaemonSets(Namespace).Get(ctx, PreflightName, metav1.GetOptions{})
	if err != nil {
		return st, err
	}
	st.agentReady, st.dsReady = agent.Status.NumberReady, pf.Status.NumberReady
	dep, err := apps.Deployments(Namespace).Get(ctx, PreflightName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		st.deployment, st.depOK = "absent", true
	case err != nil:
		return st, err
	default:
		want := int32(1)
		if dep.Spec.Replicas != nil {
			want = *dep.Spec.Replicas
		}
		st.deployment = fmt.Sprintf("%d/%d", dep.Status.ReadyReplicas, want)
		st.depOK = dep.Status.ReadyReplicas == want
	}
	return st, nil
}

func (d *Driver) preflightPodProblems(ctx context.Context) []string {
	var out []string
	for _, sel := range []string{"k8s-app=" + PreflightName, "k8s-app=" + PreflightName + "-deployment"} {
		pods, err := d.Cluster.Kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if reason, detail, bad := cni.PodProblem(p); bad {
				out = append(out, fmt.Sprintf("pod %s: %s (%s)", p.Name, reason, detail))
			}
		}
	}
	return out
}

// Uninstall implements cni.Driver (`helm uninstall cilium`), removing a
// leftover pre-flight release too.
func (d *Driver) Uninstall(ctx context.Context) error {
	sw := cni.StartStopwatch()
	if ok, err := d.Cluster.Helm.Exists(ctx, PreflightRelease, Namespace); err == nil && ok {
		d.removePreflight(ctx)
	}
	return d.UninstallRelease(ctx, sw, true)
}

// Cleanup implements cni.Driver: every CRD whose name contains "cilium".
func (d *Driver) Cleanup(ctx context.Context) (*cni.CleanupReport, error) {
	return d.CleanupCRDs(ctx, func(n string) bool { return strings.Contains(n, "cilium") })
}

// BGPAPIVersion asks API discovery which cilium.io version serves the BGP
// resources, waiting (bounded) for the operator to register every one of
// them: it registers its CRDs one after the other at start-up.
func (d *Driver) BGPAPIVersion(ctx context.Context) (string, error) {
	deadline := time.Now().Add(d.Options.WaitTimeout())
	v, err := d.Cluster.WaitServed(ctx, BGPGroup, BGPKinds[0], time.Until(deadline))
	if err != nil {
		return "", fmt.Errorf("%w: the cilium-operator registers Cilium's CRDs at start-up; check that it runs and that bgpControlPlane.enabled is true", err)
	}
	for _, k := range BGPKinds[1:] {
		got, err := d.Cluster.WaitServed(ctx, BGPGroup, k, max(time.Until(deadline), time.Second))
		if err != nil {
			return "", fmt.Errorf("%s (%s) is not served while %s is (%s/%s): Cilium's CRDs are incomplete: %w", k, BGPGroup, BGPKinds[0], BGPGroup, v, err)
		}
		if got != v {
			// Prefer a version serving every kind.
			if _, err := d.Cluster.Discovery.ServerResourcesForGroupVersion(BGPGroup + "/" + got); err == nil {
				v = got
			}
		}
	}
	return BGPGroup + "/" + v, nil
}

// ApplyBGP implements cni.Driver.
func (d *Driver) ApplyBGP(ctx context.Context, run config.Run) ([]*unstructured.Unstructured, error) {
	sw := cni.StartStopwatch()
	return d.applyBGP(ctx, run, sw)
}

func (d *Driver) applyBGP(ctx context.Context, run config.Run, sw *cni.Stopwatch) ([]*unstructured.Unstructured, error) {
	var version string
	err := sw.Wait(func() error {
		var err error
		version, err = d.BGPAPIVersion(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	objs := New(WithBGPAPIVersion(version)).BGPResources(run)
	d.Logf("applying %d BGP resources as %s", len(objs), version)
	d.ForgetReady() // the agents take the new resources: the next wait watches a whole window
	out, err := d.Cluster.Apply(ctx, objs)
	d.Options.Recorded("bgp", sw.Timings())
	return out, err
}

// BGPResources implements cni.Driver: the BGP objects in the cluster, in
// the version discovery picks.
func (d *Driver) BGPResources(ctx context.Context) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	m, err := d.Cluster.Mapper()
	if err != nil {
		return nil, err
	}
	for _, k := range BGPKinds {
		v, ok, err := cni.ServedVersion(d.Cluster.Discovery, BGPGroup, k)
		if err != nil || !ok {
			continue
		}
		probe := &unstructured.Unstructured{}
		probe.SetAPIVersion(BGPGroup + "/" + v)
		probe.SetKind(k)
		ri, err := d.Cluster.ResourceFor(m, probe)
		if err != nil {
			return nil, err
		}
		list, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k, err)
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// PreflightPods lists the pre-flight pods (for status output and tests).
func PreflightPods(ctx context.Context, c *cni.Cluster) ([]corev1.Pod, error) {
	l, err := c.Kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app in (" + PreflightName + "," + PreflightName + "-deployment)"})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}
