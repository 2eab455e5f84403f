package calico_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/testenv"
)

func setup(t *testing.T, hybrid, cloud int, version string, opts ...func(*cni.Options)) (*testenv.Env, *cni.Cluster, *calico.Driver, config.Run) {
	t.Helper()
	env, c, src, run := cnitest.Lifecycle(t, config.Calico, hybrid, cloud, version)
	o := cni.Options{Source: src, Timeout: 60 * time.Second, Log: cnitest.Logger{T: t},
		Record: func(step string, tm cni.Timings) { t.Logf("%s: %s (waiting %s)", step, tm.Total, tm.Waiting) }}
	for _, f := range opts {
		f(&o)
	}
	return env, c, calico.NewDriver(c, o), run
}

func installation(t *testing.T, c *cni.Cluster) map[string]any {
	t.Helper()
	u, err := c.Dynamic.Resource(calico.InstallationGVR).Get(context.Background(), calico.InstallationName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	return spec
}

// guideFields are the Installation fields the guide sets.
func guideFields(spec map[string]any) map[string]any {
	out := map[string]any{"calicoNetwork": spec["calicoNetwork"], "controlPlaneNodeSelector": spec["controlPlaneNodeSelector"]}
	for _, k := range calico.HybridComponents {
		out[k] = spec[k]
	}
	return out
}

func TestCalicoLifecycle(t *testing.T) {
	ctx := context.Background()
	var crdsFirst []string
	var c *cni.Cluster
	_, c, d, run := setup(t, 3, 1, "v3.29.6", func(o *cni.Options) {
		o.Observe = func(e cni.Event) {
			if e.Step == cni.EventCRDsApplied {
				// The release is still on the old chart when the CRDs land.
				rel, err := c.Helm.Get(ctx, calico.ReleaseName, calico.Namespace)
				if err != nil {
					t.Error(err)
					return
				}
				crdsFirst = append(crdsFirst, rel.ChartVersion+"->"+e.To)
			}
		}
	})
	op := cnitest.StartFakeTigeraOperator(t, c, "")

	rel, err := d.Install(ctx, run)
	if err != nil {
		t.Fatalf("%v (fake operator errors: %v)", err, op.Errors())
	}
	if rel.Revision != 1 || rel.ChartVersion != "v3.29.6" {
		t.Fatalf("installed %s", rel)
	}
	r, err := d.Readiness(ctx)
	if err != nil || !r.OK() || r.Tigera["calico"] != "Available" || r.Tigera["apiserver"] != "Available" {
		t.Fatalf("readiness after install: %v %v %v", err, r.Err(), r.Tigera)
	}
	want := guideFields(installation(t, c))
	pools, _, _ := unstructured.NestedSlice(want, "calicoNetwork", "ipPools")
	if len(pools) != 1 || pools[0].(map[string]any)["cidr"] != run.Network.PodCIDR {
		t.Fatalf("installation pool %v, want %s", pools, run.Network.PodCIDR)
	}

	for i, to := range []string{"v3.29.7", "v3.30.7"} {
		hops, err := d.Upgrade(ctx, run, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(hops) != 1 || hops[0].To != to || hops[0].Revision != i+2 || len(hops[0].CRDs) == 0 {
			t.Fatalf("upgrade to %s: %+v", to, hops)
		}
		if got := guideFields(installation(t, c)); !reflect.DeepEqual(got, want) {
			t.Errorf("after upgrade to %s the Installation changed:\n got %v\nwant %v", to, got, want)
		}
		// Server-side applied by the harness, and established.
		crd, err := c.Dynamic.Resource(cni.CRDGVR).Get(ctx, "installations.operator.tigera.io", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		applied := false
		for _, m := range crd.GetManagedFields() {
			applied = applied || (m.Manager == cni.FieldManager && m.Operation == metav1.ManagedFieldsOperationApply)
		}
		if !applied {
			t.Errorf("upgrade to %s: installations CRD not server-side applied by %s", to, cni.FieldManager)
		}
	}
	if !slices.Equal(crdsFirst, []string{"v3.29.6->v3.29.7", "v3.29.7->v3.30.7"}) {
		t.Errorf("CRDs applied while the release was at %v, want before each helm upgrade", crdsFirst)
	}
	// An "upgrade" to an older version is refused as invalid input, and the
	// release stays where it is.
	if _, err := d.Upgrade(ctx, run, "v3.29.7"); !slices.Contains(config.Fields(err), "cni.upgradeTo") || !strings.Contains(fmt.Sprint(err), "not newer than the installed v3.30.7") {
		t.Errorf("upgrade v3.30.7 -> v3.29.7: %v, want a cni.upgradeTo error saying it is not newer", err)
	}
	if cur, err := c.Helm.Get(ctx, calico.ReleaseName, calico.Namespace); err != nil || cur.Revision != 3 {
		t.Errorf("release after a refused upgrade: %v %v, want revision 3", cur, err)
	}
	// A CRD new in 3.30 arrived with the upgrade.
	if _, err := c.Dynamic.Resource(cni.CRDGVR).Get(ctx, "goldmanes.operator.tigera.io", metav1.GetOptions{}); err != nil {
		t.Errorf("3.30 CRD goldmanes.operator.tigera.io: %v", err)
	}

	rb, err := d.Rollback(ctx, run, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rb.Revision != 4 || rb.ChartVersion != "v3.29.7" {
		t.Errorf("rollback made %s, want revision 4 of v3.29.7", rb)
	}

	if err := d.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Helm.Exists(ctx, calico.ReleaseName, calico.Namespace); err != nil || ok {
		t.Errorf("release after uninstall: exists=%v err=%v", ok, err)
	}

	// The operator is gone; its finalizers hold the Installation and
	// calico-system. A bounded cleanup reports exactly those.
	short := calico.NewDriver(c, cni.Options{Timeout: 3 * time.Second,
		Record: func(step string, tm cni.Timings) { t.Logf("%s: %s (waiting %s)", step, tm.Total, tm.Waiting) }})
	rep, err := short.Cleanup(ctx)
	if err == nil {
		t.Fatal("cleanup succeeded although finalizers hold objects")
	}
	msg := err.Error()
	for _, want := range []string{"Installation default", cnitest.InstallationFinalizer, "ServiceAccount calico-system/calico-node", cnitest.CNIProtector, "--remove-finalizers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("cleanup error does not name %q:\n%s", want, msg)
		}
	}
	held := 0
	for _, s := range rep.Stuck {
		if len(s.Finalizers) > 0 {
			held++
		}
	}
	if held != 2 {
		t.Errorf("stuck: %v, want the Installation and the calico-node ServiceAccount held by finalizers", rep.Stuck)
	}

	force := calico.NewDriver(c, cni.Options{Timeout: 2 * time.Minute, FinalizerGrace: 3 * time.Second, RemoveFinalizers: true,
		Record: func(step string, tm cni.Timings) { t.Logf("%s: %s (waiting %s)", step, tm.Total, tm.Waiting) }})
	rep, err = force.Cleanup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.FinalizersRemoved) != 2 {
		t.Errorf("finalizers removed: %v", rep.FinalizersRemoved)
	}
	if left := cnitest.CRDNames(t, c, "calico", "tigera"); len(left) != 0 {
		t.Errorf("CRDs left: %v", left)
	}
	for _, ns := range []string{calico.SystemNamespace, calico.APIServerNamespace} {
		if _, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s still there: %v", ns, err)
		}
	}
}
