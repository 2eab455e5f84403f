package kuberouter

import (
	"context"
	"fmt"

	"github.com/Masterminds/semver/v3"
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
type Driver struct {
	c *cni.Cluster
	o cni.Options
}

// NewDriver returns a kube-router driver for cluster c.
func NewDriver(c *cni.Cluster, o cni.Options) *Driver { return &Driver{c: c, o: o} }

func init() {
	cni.RegisterDriver(Name, func(c *cni.Cluster, o cni.Options) cni.Driver { return NewDriver(c, o) })
}

var _ cni.Driver = (*Driver)(nil)

// Profile implements cni.Driver.
func (d *Driver) Profile() cni.Profile { return Profile{} }

func (d *Driver) logf(format string, args ...any) { cni.Logf(d.o.Log, "kube-router: "+format, args...) }

func (d *Driver) load(ctx context.Context, field, version string) (*chart.Chart, error) {
	if d.o.Source == nil {
		return nil, config.Invalid("cni.chartSource", "is not set", "pass --chart-repo "+ChartDir)
	}
	if _, err := d.o.Source.ResolveField(ctx, field, ChartName, version); err != nil {
		return nil, err
	}
	return d.o.Source.Load(ctx, ChartName, version)
}

// Install implements cni.Driver: `helm install kube-router` into kube-system,
// then waits until an agent is ready on every hybrid node.
func (d *Driver) Install(ctx context.Context, run config.Run) (*chart.Release, error) {
	sw := cni.StartStopwatch()
	ch, err := d.load(ctx, "cni.version", run.CNI.Version)
	if err != nil {
		return nil, err
	}
	vals, err := chart.MergeValuesFiles(Profile{}.Values(run), run.CNI.ValuesFiles)
	if err != nil {
		return nil, err
	}
	d.logf("installing release %s (chart %s %s) into %s", ReleaseName, ch.Name(), ch.Version(), Namespace)
	rel, err := d.c.Helm.Install(ctx, ch, ReleaseName, Namespace, vals, chart.ActionOptions{Timeout: d.o.WaitTimeout()})
	if err != nil {
		return rel, err
	}
	if err := sw.Wait(func() error { _, err := d.WaitReady(ctx); return err }); err != nil {
		return rel, fmt.Errorf("kube-router %s installed (revision %d) but %w", ch.Version(), rel.Revision, err)
	}
	d.o.Recorded("install", sw.Timings())
	return rel, nil
}

// Upgrade implements cni.Driver: `helm upgrade` to a newer chart with the
// release's own values, in one hop.
func (d *Driver) Upgrade(ctx context.Context, _ config.Run, to string) ([]cni.Hop, error) {
	sw := cni.StartStopwatch()
	cur, err := d.c.Helm.Get(ctx, ReleaseName, Namespace)
	if err != nil {
		return nil, err
	}
	ch, err := d.load(ctx, "cni.upgradeTo", to)
	if err != nil {
		return nil, err
	}
	vn, err1 := semver.NewVersion(ch.Version())
	vc, err2 := semver.NewVersion(cur.ChartVersion)
	if err1 != nil || err2 != nil || !vn.GreaterThan(vc) {
		return nil, config.Invalid("cni.upgradeTo", fmt.Sprintf("%s is not newer than the installed %s", ch.Version(), cur.ChartVersion),
			"pick a newer version, or use rollback to go back")
	}
	hop := cni.Hop{From: cur.ChartVersion, To: ch.Version()}
	d.logf("helm upgrade %s %s -> %s", ReleaseName, hop.From, hop.To)
	rel, err := d.c.Helm.Upgrade(ctx, ch, ReleaseName, Namespace, cur.Values, chart.ActionOptions{Timeout: d.o.WaitTimeout()})
	if err != nil {
		return []cni.Hop{hop}, err
	}
	hop.Revision = rel.Revision
	err = sw.Wait(func() error { _, err := d.WaitReady(ctx); return err })
	hop.Timings = sw.Timings()
	if err != nil {
		return []cni.Hop{hop}, fmt.Errorf("upgraded to %s (revision %d) but %w", hop.To, rel.Revision, err)
	}
	d.o.Recorded("upgrade "+hop.From+" -> "+hop.To, hop.Timings)
	d.o.Emit(cni.Event{Step: cni.EventUpgraded, From: hop.From, To: hop.To})
	return []cni.Hop{hop}, nil
}

// Rollback implements cni.Driver.
func (d *Driver) Rollback(ctx context.Context, _ config.Run, revision int) (*chart.Release, error) {
	sw := cni.StartStopwatch()
	rel, err := d.c.Helm.Rollback(ctx, ReleaseName, Namespace, revision, chart.ActionOptions{Timeout: d.o.WaitTimeout()})
	if err != nil {
		return nil, err
	}
	if err := sw.Wait(func() error { _, err := d.WaitReady(ctx); return err }); err != nil {
		return rel, fmt.Errorf("rolled back to %s (revision %d) but %w", rel.ChartVersion, rel.Revision, err)
	}
	d.o.Recorded("rollback", sw.Timings())
	return rel, nil
}

// Uninstall implements cni.Driver (`helm uninstall kube-router`). What the
// agents leave on the nodes (kube-bridge, routes, iptables and ipset
// entries, the CNI config file) is for the delete report to show.
func (d *Driver) Uninstall(ctx context.Context) error {
	sw := cni.StartStopwatch()
	err := d.c.Helm.Uninstall(ctx, ReleaseName, Namespace, chart.ActionOptions{Wait: true, Timeout: d.o.WaitTimeout()})
	d.o.Recorded("uninstall", sw.Timings())
	return err
}

// Cleanup implements cni.Driver: kube-router has no CRDs or namespaces of
// its own, so there is nothing to remove from the API.
func (d *Driver) Cleanup(ctx context.Context) (*cni.CleanupReport, error) {
	rep, err := cni.Cleanup(ctx, d.c, cni.CleanupOptions{
		MatchCRD: func(string) bool { return false },
		Timeout:  d.o.WaitTimeout(),
	})
	if rep != nil {
		d.o.Recorded("cleanup", rep.Timings)
	}
	return rep, err
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

// Readiness implements cni.Driver.
func (d *Driver) Readiness(ctx context.Context) (*cni.Readiness, error) {
	return cni.CheckReadiness(ctx, d.c, ReadinessSpec())
}

// WaitReady implements cni.Driver.
func (d *Driver) WaitReady(ctx context.Context) (*cni.Readiness, error) {
	return cni.WaitReadiness(ctx, d.c, ReadinessSpec(), d.o.WaitTimeout())
}
