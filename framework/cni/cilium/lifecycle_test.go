package cilium_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

// setup starts the API tier with hybrid and cloud nodes and returns a
// Cilium driver on the real charts.
func setup(t *testing.T, hybrid, cloud int, version string, opts ...func(*cni.Options)) (*testenv.Env, *cni.Cluster, *cilium.Driver, config.Run) {
	t.Helper()
	env, c, src, run := cnitest.Lifecycle(t, config.Cilium, hybrid, cloud, version)
	o := cni.Options{Source: src, Timeout: 60 * time.Second, Log: cnitest.Logger{T: t}}
	for _, f := range opts {
		f(&o)
	}
	return env, c, cilium.NewDriver(c, o), run
}

func TestCiliumLifecycle(t *testing.T) {
	var seen []string
	var d *cilium.Driver
	var c *cni.Cluster
	ctx := context.Background()
	env, c, d, run := setup(t, 3, 1, "1.16.18", func(o *cni.Options) {
		o.Observe = func(e cni.Event) {
			switch e.Step {
			case cni.EventPreflightReady:
				// Mid-hop: the pre-flight release and its DaemonSet exist.
				ok, err := c.Helm.Exists(ctx, cilium.PreflightRelease, cilium.Namespace)
				if err != nil || !ok {
					t.Errorf("hop to %s: pre-flight release missing while ready (err %v)", e.To, err)
				}
				if _, err := c.Kube.AppsV1().DaemonSets(cilium.Namespace).Get(ctx, cilium.PreflightName, metav1.GetOptions{}); err != nil {
					t.Errorf("hop to %s: pre-flight DaemonSet: %v", e.To, err)
				}
				seen = append(seen, "preflight "+e.To)
			case cni.EventUpgraded:
				seen = append(seen, "upgraded "+e.To)
			}
		}
	})

	// Install: agents on the hybrid nodes only, operator on hybrid nodes.
	rel, err := d.Install(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Revision != 1 || rel.ChartVersion != "1.16.18" {
		t.Fatalf("installed %s", rel)
	}
	r, err := d.Readiness(ctx)
	if err != nil || !r.OK() {
		t.Fatalf("readiness after install: %v %v", err, r.Err())
	}
	assertPlacement(t, env, r)

	// The operator would register Cilium's CRDs now.
	cnitest.RegisterCRDs(t, c, cnitest.CiliumOperatorCRDs()...)

	// Upgrade across a minor: the newest 1.16 patch first, then 1.17.
	hops, err := d.Upgrade(ctx, run, "1.17.18")
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, h := range hops {
		path = append(path, h.To)
		if h.Preflight == nil || !h.Preflight.Removed || h.Preflight.DaemonSetReady != 3 || h.Preflight.AgentReady != 3 || h.Preflight.DeploymentReady != "1/1" {
			t.Errorf("hop %s -> %s: pre-flight %+v", h.From, h.To, h.Preflight)
		}
	}
	if !slices.Equal(path, []string{"1.16.19", "1.17.18"}) {
		t.Fatalf("upgrade path %v, want [1.16.19 1.17.18]", path)
	}
	if want := []string{"preflight 1.16.19", "upgraded 1.16.19", "preflight 1.17.18", "upgraded 1.17.18"}; !slices.Equal(seen, want) {
		t.Errorf("steps %v, want %v", seen, want)
	}
	if ok, err := c.Helm.Exists(ctx, cilium.PreflightRelease, cilium.Namespace); err != nil || ok {
		t.Errorf("pre-flight release after the upgrade: exists=%v err=%v", ok, err)
	}
	cur, err := c.Helm.Get(ctx, cilium.ReleaseName, cilium.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Revision != 3 || cur.ChartVersion != "1.17.18" || cur.Values[cilium.UpgradeCompatibility] != "1.16" {
		t.Errorf("after upgrade: %s, upgradeCompatibility=%v", cur, cur.Values[cilium.UpgradeCompatibility])
	}
	cm, err := c.Kube.CoreV1().ConfigMaps(cilium.Namespace).Get(ctx, "cilium-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["cluster-pool-ipv4-cidr"] != run.Network.PodCIDR || cm.Data["cluster-pool-ipv4-mask-size"] != "25" || cm.Data["ipam"] != "cluster-pool" {
		t.Errorf("cilium-config after upgrade lost the pod CIDR values: ipam=%q cidr=%q mask=%q",
			cm.Data["ipam"], cm.Data["cluster-pool-ipv4-cidr"], cm.Data["cluster-pool-ipv4-mask-size"])
	}
	ds, err := c.Kube.AppsV1().DaemonSets(cilium.Namespace).Get(ctx, cilium.AgentDaemonSet, metav1.GetOptions{})
	if err != nil || !strings.Contains(ds.Spec.Template.Spec.Containers[0].Image, "v1.17.18") {
		t.Errorf("agent image after upgrade: %v %v", ds.Spec.Template.Spec.Containers[0].Image, err)
	}

	// Rollback to the first revision.
	rb, err := d.Rollback(ctx, run, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Revision != 4 || rb.ChartVersion != "1.16.18" {
		t.Errorf("rollback made %s, want revision 4 of 1.16.18", rb)
	}
	ds, err = c.Kube.AppsV1().DaemonSets(cilium.Namespace).Get(ctx, cilium.AgentDaemonSet, metav1.GetOptions{})
	if err != nil || !strings.Contains(ds.Spec.Template.Spec.Containers[0].Image, "v1.16.18") {
		t.Errorf("agent image after rollback: %v %v", ds.Spec.Template.Spec.Containers[0].Image, err)
	}

	// Uninstall, then cleanup of every CRD containing "cilium".
	if err := d.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Helm.Exists(ctx, cilium.ReleaseName, cilium.Namespace); err != nil || ok {
		t.Errorf("release after uninstall: exists=%v err=%v", ok, err)
	}
	if _, err := c.Kube.AppsV1().DaemonSets(cilium.Namespace).Get(ctx, cilium.AgentDaemonSet, metav1.GetOptions{}); err == nil {
		t.Error("DaemonSet cilium still exists after uninstall")
	}
	before := cnitest.CRDNames(t, c, "cilium")
	if len(before) != len(cnitest.CiliumOperatorCRDs()) {
		t.Fatalf("cilium CRDs before cleanup: %v", before)
	}
	rep, err := d.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(before)
	if !slices.Equal(rep.CRDs, before) {
		t.Errorf("cleanup deleted %v, want %v", rep.CRDs, before)
	}
	if left := cnitest.CRDNames(t, c, "cilium"); len(left) != 0 {
		t.Errorf("CRDs left after cleanup: %v", left)
	}
}

// assertPlacement checks agents sit on every hybrid node and no cloud node,
// and the operator on hybrid nodes, from the pods themselves.
func assertPlacement(t *testing.T, env *testenv.Env, r *cni.Readiness) {
	t.Helper()
	agents := r.Pods["DaemonSet kube-system/cilium"]
	onNode := map[string]int{}
	for _, node := range agents {
		onNode[node]++
	}
	for _, n := range env.HybridNodes() {
		if onNode[n] != 1 {
			t.Errorf("hybrid node %s runs %d cilium agents, want 1", n, onNode[n])
		}
	}
	for _, n := range env.CloudNodes() {
		if onNode[n] != 0 {
			t.Errorf("cloud node %s runs a cilium agent", n)
		}
	}
	ops := r.Pods["Deployment kube-system/cilium-operator"]
	if len(ops) == 0 {
		t.Error("no cilium-operator pod")
	}
	for pod, node := range ops {
		if !slices.Contains(env.HybridNodes(), node) {
			t.Errorf("operator pod %s on %q, want a hybrid node", pod, node)
		}
	}
}

var _ = errors.Is
