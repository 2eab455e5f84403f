package calico

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Objects the tigera-operator chart and the operator make.
const (
	OperatorDeployment = "tigera-operator"
	SystemNamespace    = "calico-system"
	APIServerNamespace = "calico-apiserver"
	// InstallationName is the Installation (and APIServer) the chart creates.
	InstallationName = "default"
	// CRDAPIVersion is where the BGP resources live without calico-apiserver.
	CRDAPIVersion = "crd.projectcalico.org/v1"
)

// Operator resources.
var (
	InstallationGVR = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "installations"}
	APIServerGVR    = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "apiservers"}
)

// ReadinessSpec is the guide's "verify": tigera-operator; calico-node and
// csi-node-driver on every hybrid node; calico-kube-controllers and
// calico-typha (and calico-apiserver when an APIServer is requested) on
// hybrid nodes; tigerastatus Available.
func ReadinessSpec(apiServer bool) cni.ReadinessSpec {
	s := cni.ReadinessSpec{
		Workloads: []cni.Workload{
			{Kind: cni.KindDeployment, Namespace: Namespace, Name: OperatorDeployment},
			{Kind: cni.KindDaemonSet, Namespace: SystemNamespace, Name: "calico-node", Agent: true},
			{Kind: cni.KindDaemonSet, Namespace: SystemNamespace, Name: "csi-node-driver", Agent: true},
			{Kind: cni.KindDeployment, Namespace: SystemNamespace, Name: "calico-kube-controllers", HybridOnly: true},
			{Kind: cni.KindDeployment, Namespace: SystemNamespace, Name: "calico-typha", HybridOnly: true},
		},
		TigeraStatus: []string{"calico"},
	}
	if apiServer {
		s.Workloads = append(s.Workloads, cni.Workload{Kind: cni.KindDeployment, Namespace: APIServerNamespace, Name: "calico-apiserver", HybridOnly: true})
		s.TigeraStatus = append(s.TigeraStatus, "apiserver")
	}
	return s
}

// Driver runs the Calico lifecycle of the hybrid-nodes guide.
type Driver struct {
	cni.Release
	p *Profile
}

// NewDriver returns a Calico driver for cluster c.
func NewDriver(c *cni.Cluster, o cni.Options) *Driver {
	d := &Driver{p: New(), Release: cni.Release{Cluster: c, Options: o, CNI: "calico", Chart: ChartName, Name: ReleaseName, Namespace: Namespace}}
	d.Spec = func(ctx context.Context) cni.ReadinessSpec { return ReadinessSpec(d.apiServerRequested(ctx)) }
	return d
}

func init() {
	cni.RegisterDriver(config.Calico, func(c *cni.Cluster, o cni.Options) cni.Driver { return NewDriver(c, o) })
}

var _ cni.Driver = (*Driver)(nil)

// Profile implements cni.Driver.
func (d *Driver) Profile() cni.Profile { return d.p }

// Install implements cni.Driver: from Calico 3.32 the CRD chart's objects
// first (server-side, see CRDChart), then `helm install calico` of the
// tigera-operator chart (its crds/ included before 3.32) with the guide's
// values. With BGP on, the guide's BGP resources are applied before the
// wait for readiness: with natOutgoing disabled Calico's components cannot
// become ready until the pod addresses are advertised.
func (d *Driver) Install(ctx context.Context, run config.Run) (*chart.Release, error) {
	d.ForgetReady() // installs without InstallRelease: no wait after it continues an earlier window
	sw := cni.StartStopwatch()
	ch, err := d.Load(ctx, "cni.version", run.CNI.Version)
	if err != nil {
		return nil, err
	}
	if chart.CRDChartFor(ch) != "" {
		if _, err := d.applyCRDs(ctx, ch, sw); err != nil {
			return nil, fmt.Errorf("install %s %s: %w; nothing was installed by Helm", ChartName, ch.Version(), err)
		}
	}
	var pre func(context.Context) error
	if run.BGP.Enabled {
		pre = func(ctx context.Context) error { _, err := d.applyBGP(ctx, run); return err }
	}
	rel, err := d.installRelease(ctx, run, ch, sw, pre)
	if err != nil {
		return rel, err
	}
	d.Options.Recorded("install", sw.Timings())
	return rel, nil
}

// installRelease is cni.Release.InstallRelease with the chart loaded and a
// step (pre, may be nil) between `helm install` and the wait for readiness.
func (d *Driver) installRelease(ctx context.Context, run config.Run, ch *chart.Chart, sw *cni.Stopwatch, pre func(context.Context) error) (*chart.Release, error) {
	vals, err := chart.MergeValuesFiles(d.p.Values(run), run.CNI.ValuesFiles)
	if err != nil {
		return nil, err
	}
	d.Logf("installing release %s (chart %s %s) into %s", d.Name, ch.Name(), ch.Version(), d.Namespace)
	rel, err := cni.HelmStep(sw, func() (*chart.Release, error) {
		return d.Cluster.Helm.Install(ctx, ch, d.Name, d.Namespace, vals, chart.ActionOptions{Timeout: d.Options.WaitTimeout()})
	})
	if err != nil {
		return rel, err
	}
	if pre != nil {
		if err := pre(ctx); err != nil {
			return rel, fmt.Errorf("calico %s installed (revision %d) but %w", ch.Version(), rel.Revision, err)
		}
	}
	if err := sw.Wait(func() error { _, err := d.WaitReady(ctx); return err }); err != nil {
		return rel, fmt.Errorf("calico %s installed (revision %d) but %w", ch.Version(), rel.Revision, err)
	}
	return rel, nil
}

// Upgrade implements cni.Driver: server-side apply (force-conflicts) of the
// target version's operator CRDs (its crds/, or from 3.32 its CRD chart by
// the rule of CRDChart), then `helm upgrade calico` with the release's own
// values.
func (d *Driver) Upgrade(ctx context.Context, run config.Run, to string) ([]cni.Hop, error) {
	sw := cni.StartStopwatch()
	cur, ch, err := d.UpgradeTarget(ctx, to)
	if err != nil {
		return nil, err
	}
	hop := cni.Hop{From: cur.ChartVersion, To: ch.Version()}
	hop.CRDs, err = d.applyCRDs(ctx, ch, sw)
	if err != nil {
		return nil, fmt.Errorf("%w; the release is unchanged", err)
	}
	d.Options.Emit(cni.Event{Step: cni.EventCRDsApplied, From: hop.From, To: hop.To})
	if err := d.UpgradeRelease(ctx, &hop, ch, cur.Values, sw, ""); err != nil {
		return []cni.Hop{hop}, err
	}
	return []cni.Hop{hop}, nil
}

// applyCRDs server-side applies the CRDs ch needs on this cluster
// (CRDObjects), waits until they are established, then applies the rest of
// the CRD chart (admission policies); it returns the CRDs' names.
func (d *Driver) applyCRDs(ctx context.Context, ch *chart.Chart, sw *cni.Stopwatch) ([]string, error) {
	layout, err := Layout(ctx, d.Cluster)
	if err != nil {
		return nil, err
	}
	objs, from, err := CRDObjects(ctx, d.Options.Source, ch, layout, d.kubeVersion(ctx))
	if err != nil {
		return nil, err
	}
	crds, rest := chart.SplitCRDs(objs)
	if from == "" {
		from = "chart " + ChartName
	} else {
		from = "CRD chart " + from
	}
	d.Logf("server-side applying %d CRDs of %s %s", len(crds), from, ch.Version())
	applied, err := d.Cluster.Apply(ctx, crds)
	if err != nil {
		return nil, fmt.Errorf("apply the CRDs of %s %s: %w", from, ch.Version(), err)
	}
	var names []string
	for _, a := range applied {
		names = append(names, a.GetName())
	}
	if err := sw.Wait(func() error { return d.Cluster.WaitCRDsEstablished(ctx, names, d.Options.WaitTimeout()) }); err != nil {
		return names, err
	}
	if len(rest) > 0 {
		if _, err := d.Cluster.Apply(ctx, rest); err != nil {
			return names, fmt.Errorf("apply the objects of %s %s: %w", from, ch.Version(), err)
		}
	}
	return names, nil
}

func (d *Driver) kubeVersion(_ context.Context) string {
	v, err := d.Cluster.Discovery.ServerVersion()
	if err != nil {
		return ""
	}
	return v.GitVersion
}

// Uninstall implements cni.Driver (`helm uninstall calico`; the chart's
// pre-delete hook asks the operator to tear Calico down). It does not wait
// for the Installation: its finalizer is the operator's, and Cleanup
// reports it when the operator is gone before it could finish.
func (d *Driver) Uninstall(ctx context.Context) error {
	return d.UninstallRelease(ctx, cni.StartStopwatch(), false)
}

// Cleanup implements cni.Driver: CRDs containing "calico" or "tigera" and
// the namespaces the operator made, with a bounded wait for finalizers.
func (d *Driver) Cleanup(ctx context.Context) (*cni.CleanupReport, error) {
	return d.CleanupCRDs(ctx, func(n string) bool { return strings.Contains(n, "calico") || strings.Contains(n, "tigera") },
		SystemNamespace, APIServerNamespace)
}

// BGPAPIVersion is projectcalico.org/v3 when calico-apiserver serves it,
// else the CRDs' crd.projectcalico.org/v1.
func (d *Driver) BGPAPIVersion(ctx context.Context) (string, error) {
	if v, ok, err := cni.ServedVersion(d.Cluster.Discovery, "projectcalico.org", "BGPPeer"); err == nil && ok {
		return "projectcalico.org/" + v, nil
	}
	v, err := d.Cluster.WaitServed(ctx, "crd.projectcalico.org", "BGPPeer", d.Options.WaitTimeout())
	if err != nil {
		return "", fmt.Errorf("%w: the tigera-operator chart installs Calico's CRDs; is the release installed?", err)
	}
	return "crd.projectcalico.org/" + v, nil
}

// ApplyBGP implements cni.Driver.
func (d *Driver) ApplyBGP(ctx context.Context, run config.Run) ([]*unstructured.Unstructured, error) {
	return d.applyBGP(ctx, run)
}

func (d *Driver) applyBGP(ctx context.Context, run config.Run) ([]*unstructured.Unstructured, error) {
	sw := cni.StartStopwatch()
	version, err := d.BGPAPIVersion(ctx)
	if err != nil {
		return nil, err
	}
	objs := d.p.BGPResources(run)
	for _, o := range objs {
		o.SetAPIVersion(version)
	}
	d.Logf("applying %d BGP resources as %s", len(objs), version)
	d.ForgetReady() // the nodes take the new resources: the next wait watches a whole window
	out, err := d.Cluster.Apply(ctx, objs)
	d.Options.Recorded("bgp", sw.Timings())
	return out, err
}

// BGPResources implements cni.Driver.
func (d *Driver) BGPResources(ctx context.Context) ([]*unstructured.Unstructured, error) {
	version, err := d.BGPAPIVersion(ctx)
	if err != nil {
		return nil, err
	}
	m, err := d.Cluster.Mapper()
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, k := range []string{"BGPPeer", "BGPConfiguration"} {
		probe := &unstructured.Unstructured{}
		probe.SetAPIVersion(version)
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

// apiServerRequested reports whether the chart asked the operator for a
// calico-apiserver (an APIServer object exists).
func (d *Driver) apiServerRequested(ctx context.Context) bool {
	_, err := d.Cluster.Dynamic.Resource(APIServerGVR).Get(ctx, InstallationName, metav1.GetOptions{})
	return err == nil || !apierrors.IsNotFound(err)
}
