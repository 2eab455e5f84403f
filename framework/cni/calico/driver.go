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

// CRDChartNames are the separate CRD charts newer Calico releases ship
// (3.32 moved the CRDs out of tigera-operator), tried in order at the
// target version when the operator chart has no crds/.
var CRDChartNames = []string{"crd.projectcalico.org.v1", "projectcalico.org.v3", "calico-crds"}

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

// Install implements cni.Driver: `helm install calico` of the
// tigera-operator chart (its crds/ included) with the guide's values.
func (d *Driver) Install(ctx context.Context, run config.Run) (*chart.Release, error) {
	sw := cni.StartStopwatch()
	rel, err := d.InstallRelease(ctx, run, d.p.Values(run), sw)
	if err != nil {
		return rel, err
	}
	if run.BGP.Enabled {
		if _, err := d.applyBGP(ctx, run); err != nil {
			return rel, err
		}
	}
	d.Options.Recorded("install", sw.Timings())
	return rel, nil
}

// Upgrade implements cni.Driver: server-side apply (force-conflicts) of the
// target version's operator CRDs, then `helm upgrade calico` with the
// release's own values.
func (d *Driver) Upgrade(ctx context.Context, run config.Run, to string) ([]cni.Hop, error) {
	sw := cni.StartStopwatch()
	cur, ch, err := d.UpgradeTarget(ctx, to)
	if err != nil {
		return nil, err
	}
	crds, err := d.crds(ctx, ch)
	if err != nil {
		return nil, err
	}
	hop := cni.Hop{From: cur.ChartVersion, To: ch.Version()}
	d.Logf("server-side applying %d CRDs of %s", len(crds), ch.Version())
	applied, err := d.Cluster.Apply(ctx, crds)
	if err != nil {
		return nil, fmt.Errorf("apply the CRDs of %s: %w; the release is unchanged", ch.Version(), err)
	}
	for _, a := range applied {
		hop.CRDs = append(hop.CRDs, a.GetName())
	}
	if err := sw.Wait(func() error { return d.Cluster.WaitCRDsEstablished(ctx, hop.CRDs, d.Options.WaitTimeout()) }); err != nil {
		return nil, err
	}
	d.Options.Emit(cni.Event{Step: cni.EventCRDsApplied, From: hop.From, To: hop.To})
	if err := d.UpgradeRelease(ctx, &hop, ch, cur.Values, sw, ""); err != nil {
		return []cni.Hop{hop}, err
	}
	return []cni.Hop{hop}, nil
}

// crds are the operator CRDs of the target version: the chart's crds/, or
// the separate CRD chart of the same version.
func (d *Driver) crds(ctx context.Context, ch *chart.Chart) ([]*unstructured.Unstructured, error) {
	crds, err := ch.CRDObjects()
	if err != nil || len(crds) > 0 {
		return crds, err
	}
	var tried []string
	for _, name := range CRDChartNames {
		tried = append(tried, name)
		if _, err := d.Options.Source.Versions(ctx, name); err != nil {
			continue
		}
		c, err := d.Options.Source.Load(ctx, name, ch.Version())
		if err != nil {
			return nil, fmt.Errorf("CRD chart %s %s: %w", name, ch.Version(), err)
		}
		objs, err := chart.Render(ctx, c, nil, chart.RenderOptions{ReleaseName: name, Namespace: Namespace, KubeVersion: d.kubeVersion(ctx)})
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, o)
			}
		}
		if len(crds) > 0 {
			return crds, nil
		}
	}
	return nil, fmt.Errorf("%s %s has no crds/ folder and the chart source has no CRD chart (tried %s) at that version: add the CRD chart to the source",
		ChartName, ch.Version(), strings.Join(tried, ", "))
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
