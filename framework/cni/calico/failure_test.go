package calico_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/calico"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
)

// wantAll fails t unless err names every part.
var wantAll = cnitest.WantAll

func specJSON(t *testing.T, o *unstructured.Unstructured) any {
	t.Helper()
	data, _ := json.Marshal(o.Object["spec"])
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// calico-node never reaching a hybrid node, and a degraded tigerastatus,
// are each named.
func TestCalicoReadinessFailures(t *testing.T) {
	ctx := context.Background()
	_, c, d, run := setup(t, 2, 1, "v3.29.6", func(o *cni.Options) { o.Timeout = 4 * time.Second })
	op := cnitest.StartFakeTigeraOperator(t, c, "calicoNodeDaemonSet")
	_, err := d.Install(ctx, run)
	wantAll(t, err, "installed (revision 1) but CNI not ready",
		"node hybrid-node-1: missing (no calico-node pod on this hybrid node; DaemonSet desires 0 pods for 2 hybrid nodes",
		"node hybrid-node-2: missing (no calico-node pod")
	if op.Rounds() == 0 {
		t.Fatalf("the stand-in operator never ran: %v", op.Errors())
	}

	// Fixed placement; then the operator reports itself degraded.
	op.SetBroken("")
	// Readiness must hold for its settle window: a longer wait than the failure's.
	if _, err := calico.NewDriver(c, cni.Options{Timeout: 40 * time.Second}).WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cnitest.SetTigeraStatus(ctx, c, "calico", "Degraded", "True", "calico-node is not ready on hybrid-node-2"); err != nil {
		t.Fatal(err)
	}
	_, err = d.WaitReady(ctx)
	wantAll(t, err, "tigerastatus calico: degraded (calico-node is not ready on hybrid-node-2)")
}

// The guide's BGPPeer and BGPConfiguration apply to the server (as the
// chart's crd.projectcalico.org/v1 CRDs, calico-apiserver being absent) and
// read back as rendered.
func TestCalicoBGPResources(t *testing.T) {
	ctx := context.Background()
	_, c, d, run := setup(t, 1, 0, "v3.29.6", func(o *cni.Options) { o.Timeout = 2 * time.Second })
	run.BGP.Enabled = true
	_, err := d.ApplyBGP(ctx, run)
	wantAll(t, err, "BGPPeer (crd.projectcalico.org) not served", "is the release installed?")

	src, err := chart.NewSource(run.CNI.ChartSource)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := src.Load(ctx, calico.ChartName, run.CNI.Version)
	if err != nil {
		t.Fatal(err)
	}
	crds, err := ch.CRDObjects()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, crds); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range crds {
		names = append(names, o.GetName())
	}
	if err := c.WaitCRDsEstablished(ctx, names, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	applied, err := d.ApplyBGP(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.BGPResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rendered := calico.New().BGPResources(run)
	for _, set := range [][]*unstructured.Unstructured{applied, got} {
		if len(set) != len(rendered) {
			t.Fatalf("in the cluster: %s; rendered %s", cnitest.Sprint(set), cnitest.Sprint(rendered))
		}
		for _, r := range rendered {
			ok := false
			for _, g := range set {
				if g.GetKind() == r.GetKind() && g.GetName() == r.GetName() {
					ok = true
					if g.GetAPIVersion() != calico.CRDAPIVersion {
						t.Errorf("%s served as %s", g.GetKind(), g.GetAPIVersion())
					}
					if !reflect.DeepEqual(specJSON(t, g), specJSON(t, r)) {
						t.Errorf("%s %s read back %v, rendered %v", r.GetKind(), r.GetName(), specJSON(t, g), specJSON(t, r))
					}
				}
			}
			if !ok {
				t.Errorf("%s %s not in the cluster", r.GetKind(), r.GetName())
			}
		}
	}
}
