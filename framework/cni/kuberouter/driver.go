package kuberouter

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// DaemonSetName is the agent DaemonSet of the chart.
const DaemonSetName = "kube-router"

// ReadinessSpec: the kube-router agent on every hybrid node, nowhere else.
func ReadinessSpec() cni.ReadinessSpec {
	return cni.ReadinessSpec{Workloads: []cni.Workload{
		{Kind: cni.KindDaemonSet, Namespace: Namespace, Name: DaemonSetName, Agent: true},
	}}
}

// Driver installs kube-router from the project's chart with Helm.
type Driver struct{ cni.Release }

// NewDriver returns a kube-router driver for cluster c.
func NewDriver(c *cni.Cluster, o cni.Options) *Driver {
	return &Driver{cni.Release{Cluster: c, Options: o, CNI: "kube-router", Chart: ChartName, Name: ReleaseName, Namespace: Namespace,
		SourceFix: "pass --chart-repo " + ChartDir, Spec: func(context.Context) cni.ReadinessSpec { return ReadinessSpec() }}}
}

func init() {
	cni.RegisterDriver(Name, func(c *cni.Cluster, o cni.Options) cni.Driver { return NewDriver(c, o) })
}

var _ cni.Driver = (*Driver)(nil)

// Profile implements cni.Driver.
func (d *Driver) Profile() cni.Profile { return Profile{} }

// Install implements cni.Driver: `helm install kube-router` into kube-system,
// then waits until an agent is ready on every hybrid node.
func (d *Driver) Install(ctx context.Context, run config.Run) (*chart.Release, error) {
	sw := cni.StartStopwatch()
	rel, err := d.InstallRelease(ctx, run, Profile{}.Values(run), sw)
	if err != nil {
		return rel, err
	}
	d.Options.Recorded("install", sw.Timings())
	return rel, nil
}

// Upgrade implements cni.Driver: `helm upgrade` to a newer chart with the
// release's own values, in one hop.
func (d *Driver) Upgrade(ctx context.Context, _ config.Run, to string) ([]cni.Hop, error) {
	sw := cni.StartStopwatch()
	cur, ch, err := d.UpgradeTarget(ctx, to)
	if err != nil {
		return nil, err
	}
	hop := cni.Hop{From: cur.ChartVersion, To: ch.Version()}
	if err := d.UpgradeRelease(ctx, &hop, ch, cur.Values, sw, ""); err != nil {
		return []cni.Hop{hop}, err
	}
	return []cni.Hop{hop}, nil
}

// Uninstall implements cni.Driver (`helm uninstall kube-router`). What the
// agents leave on the nodes (kube-bridge, routes, iptables and ipset
// entries, the CNI config file) is for the delete report to show.
func (d *Driver) Uninstall(ctx context.Context) error {
	return d.UninstallRelease(ctx, cni.StartStopwatch(), true)
}

// Cleanup implements cni.Driver: kube-router has no CRDs or namespaces of
// its own, so there is nothing to remove from the API.
func (d *Driver) Cleanup(ctx context.Context) (*cni.CleanupReport, error) {
	return d.CleanupCRDs(ctx, func(string) bool { return false })
}

// ApplyBGP implements cni.Driver: the peering is part of the release (agent
// flags), so there is nothing to apply.
func (d *Driver) ApplyBGP(context.Context, config.Run) ([]*unstructured.Unstructured, error) {
	return nil, nil
}

// BGPResources implements cni.Driver: kube-router keeps no BGP objects.
func (d *Driver) BGPResources(context.Context) ([]*unstructured.Unstructured, error) {
	return nil, nil
}
