package calico_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
)

// crdState says whether CRD name exists and whether the harness applied it.
func crdState(t *testing.T, c *cni.Cluster, name string) (exists, appliedByHarness bool) {
	t.Helper()
	crd, err := c.Dynamic.Resource(cni.CRDGVR).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, false
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range crd.GetManagedFields() {
		appliedByHarness = appliedByHarness || (m.Manager == cni.FieldManager && m.Operation == metav1.ManagedFieldsOperationApply)
	}
	return true, appliedByHarness
}

// A fresh install of Calico 3.32 (no crds/ in its chart): the CRDs of
// crd.projectcalico.org.v1 go in first, so the chart's Installation finds
// its kind; the guide's BGP objects then apply; cleanup removes the CRDs.
func TestCalico332Install(t *testing.T) {
	ctx := context.Background()
	_, c, d, run := setup(t, 2, 1, "v3.32.0")
	run.BGP.Enabled = true
	cnitest.StartFakeTigeraOperator(t, c, "", cnitest.WithoutFinalizers())

	rel, err := d.Install(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if rel.ChartVersion != "v3.32.0" || rel.Revision != 1 {
		t.Fatalf("installed %s", rel)
	}
	for _, name := range []string{"installations.operator.tigera.io", "bgppeers.crd.projectcalico.org", "ippools.crd.projectcalico.org"} {
		if ok, applied := crdState(t, c, name); !ok || !applied {
			t.Errorf("CRD %s: exists=%v, server-side applied by the harness=%v", name, ok, applied)
		}
	}
	if ok, _ := crdState(t, c, "bgppeers.projectcalico.org"); ok {
		t.Errorf("the projectcalico.org/v3 CRDs were installed beside crd.projectcalico.org/v1")
	}
	if layout, err := calico.Layout(ctx, c); err != nil || layout != calico.LayoutV1 {
		t.Errorf("layout after install: %q %v", layout, err)
	}
	if _, err := d.Readiness(ctx); err != nil {
		t.Fatal(err)
	}
	bgp, err := d.BGPResources(ctx)
	if err != nil || len(bgp) != 2 {
		t.Fatalf("BGP resources after install: %s %v", cnitest.Sprint(bgp), err)
	}

	if err := d.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if left := cnitest.CRDNames(t, c, "calico", "tigera"); len(left) != 0 {
		t.Errorf("CRDs left after cleanup: %v", left)
	}
}

// 3.30.7 -> 3.32.0: the chart's crds/ at install, the CRD chart
// crd.projectcalico.org.v1 of 3.32.0 (the layout 3.30 made) server-side
// applied before `helm upgrade`; the release ends ready at 3.32.0.
func TestCalico330To332Upgrade(t *testing.T) {
	ctx := context.Background()
	var c *cni.Cluster
	var atCRDs []string
	_, c, d, run := setup(t, 2, 1, "v3.30.7", func(o *cni.Options) {
		o.Observe = func(e cni.Event) {
			if e.Step == cni.EventCRDsApplied {
				rel, err := c.Helm.Get(ctx, calico.ReleaseName, calico.Namespace)
				if err == nil {
					atCRDs = append(atCRDs, rel.ChartVersion+"->"+e.To)
				}
			}
		}
	})
	cnitest.StartFakeTigeraOperator(t, c, "", cnitest.WithoutFinalizers())
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err)
	}
	if _, applied := crdState(t, c, "bgppeers.crd.projectcalico.org"); applied {
		t.Fatal("3.30.7's CRDs should come from its chart (Helm), not from the harness")
	}
	hops, err := d.Upgrade(ctx, run, "v3.32.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != 1 || hops[0].To != "v3.32.0" || hops[0].Revision != 2 {
		t.Fatalf("hops %+v", hops)
	}
	for _, want := range []string{"installations.operator.tigera.io", "bgppeers.crd.projectcalico.org"} {
		if !slices.Contains(hops[0].CRDs, want) {
			t.Errorf("upgrade applied CRDs %v, want %s among them", hops[0].CRDs, want)
		}
	}
	for _, crd := range hops[0].CRDs {
		if strings.HasSuffix(crd, ".projectcalico.org") && !strings.HasSuffix(crd, ".crd.projectcalico.org") {
			t.Errorf("upgrade applied %s: the projectcalico.org/v3 layout over a crd.projectcalico.org/v1 cluster", crd)
		}
	}
	if ok, applied := crdState(t, c, "bgppeers.crd.projectcalico.org"); !ok || !applied {
		t.Errorf("bgppeers.crd.projectcalico.org after the upgrade: exists=%v applied=%v", ok, applied)
	}
	if !slices.Equal(atCRDs, []string{"v3.30.7->v3.32.0"}) {
		t.Errorf("CRDs applied while the release was at %v, want before helm upgrade", atCRDs)
	}
	rel, err := c.Helm.Get(ctx, calico.ReleaseName, calico.Namespace)
	if err != nil || rel.ChartVersion != "v3.32.0" {
		t.Fatalf("release after upgrade: %v %v", rel, err)
	}
	if _, err := d.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	// And back: rollback to 3.30.7 keeps the newer CRDs (Helm never
	// downgrades CRDs) and is ready.
	if _, err := d.Rollback(ctx, run, 0); err != nil {
		t.Fatal(err)
	}
}

// A cluster where Calico already keeps its resources as projectcalico.org/v3
// CRDs gets 3.32's projectcalico.org.v3 chart, never the v1 CRDs beside
// them (which would switch Calico back to crd.projectcalico.org).
func TestCalico332KeepsTheV3Layout(t *testing.T) {
	ctx := context.Background()
	_, c, d, run := setup(t, 1, 0, "v3.32.0", func(o *cni.Options) { o.Timeout = 20 * time.Second })
	cnitest.RegisterCRDs(t, c, cnitest.CRD{Group: "projectcalico.org", Kind: "BGPPeer", Plural: "bgppeers", Versions: []string{"v3"}})
	if layout, err := calico.Layout(ctx, c); err != nil || layout != calico.LayoutV3 {
		t.Fatalf("layout: %q %v", layout, err)
	}
	cnitest.StartFakeTigeraOperator(t, c, "", cnitest.WithoutFinalizers())
	_, err := d.Install(ctx, run)
	if ok, _ := crdState(t, c, "bgppeers.crd.projectcalico.org"); ok {
		t.Errorf("crd.projectcalico.org/v1 CRDs installed over the projectcalico.org/v3 layout")
	}
	if err != nil {
		// The chart's admission policies are admissionregistration.k8s.io/v1beta1,
		// which this API server may not serve: the error says so.
		t.Logf("install on the v3 layout: %v", err)
		wantAll(t, err, "projectcalico.org.v3", "MutatingAdmissionPolicy")
		return
	}
	if ok, applied := crdState(t, c, "ippools.projectcalico.org"); !ok || !applied {
		t.Errorf("ippools.projectcalico.org: exists=%v applied=%v", ok, applied)
	}
}
