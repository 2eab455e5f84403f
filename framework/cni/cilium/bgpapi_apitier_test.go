package cilium_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
)

// registerModuleCRDs applies the BGP CRDs of Cilium version as its operator
// registers them at start-up (an upgrade replaces the old ones; a CRD the
// new release no longer has stays, as with the real operator).
func registerModuleCRDs(t *testing.T, c *cni.Cluster, version string) {
	t.Helper()
	crds := cilium.ModuleBGPCRDs(t, version)
	var names []string
	for _, crd := range crds {
		crd.SetResourceVersion("")
		names = append(names, crd.GetName())
	}
	if _, err := c.Apply(context.Background(), crds); err != nil {
		t.Fatalf("Cilium %s CRDs: %v", version, err)
	}
	if err := c.WaitCRDsEstablished(context.Background(), names, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// The BGP API across the chain on a real API server with the real CRDs of
// each release: the guide's objects go in as v2alpha1 on 1.17, the findings
// before 1.17 -> 1.18 say they will be re-applied as v2, the re-apply moves
// them to v2 with the same spec, and before 1.18 -> 1.19 a BGP v1 object of
// the user's is named as no longer served.
func TestBGPAPIAcrossHopsOnTheRealCRDs(t *testing.T) {
	ctx := context.Background()
	for _, v := range []string{"1.17.0", "1.18.0", "1.19.6"} {
		cilium.ModuleBGPCRDs(t, v) // skip early, saying which module is missing
	}
	_, c, d, run := setup(t, 1, 0, "1.16.19", func(o *cni.Options) { o.Timeout = 20 * time.Second })
	run.BGP.Enabled = true

	registerModuleCRDs(t, c, "1.17.0")
	applied, err := d.ApplyBGP(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	assertSubset(t, cilium.New().BGPResources(run), applied, "cilium.io/v2alpha1")

	// A user's BGP v1 policy, as on 1.17.
	legacy := cni.Object("cilium.io/v2alpha1", cilium.KindPeeringPolicy, "legacy-v1", map[string]any{
		"virtualRouters": []any{map[string]any{"localASN": int64(64512), "neighbors": []any{
			map[string]any{"peerAddress": "10.80.0.254/32", "peerASN": int64(65000)},
		}}},
	})
	if _, err := c.Apply(ctx, []*unstructured.Unstructured{legacy}); err != nil {
		t.Fatal(err)
	}

	f, err := d.HopFindings(ctx, "1.17.0", "1.18.0")
	if err != nil {
		t.Fatal(err)
	}
	if !contains(f, "re-applies its BGP resources as cilium.io/v2 after the hop") || contains(f, "legacy-v1") {
		t.Errorf("findings before 1.17.0 -> 1.18.0: %q", f)
	}

	registerModuleCRDs(t, c, "1.18.0")
	re, err := d.ReapplyBGP(ctx, run, "1.17.0", "1.18.0")
	if err != nil {
		t.Fatal(err)
	}
	v2 := cilium.New(cilium.WithBGPAPIVersion("cilium.io/v2")).BGPResources(run)
	assertSubset(t, v2, re, "cilium.io/v2")
	got, err := d.BGPResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertSubset(t, v2, got, "cilium.io/v2")
	for _, name := range []string{"ciliumbgpclusterconfigs.cilium.io", "ciliumbgppeerconfigs.cilium.io", "ciliumbgpadvertisements.cilium.io"} {
		crd, err := c.Dynamic.Resource(cni.CRDGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stored, _, _ := unstructured.NestedStringSlice(crd.Object, "status", "storedVersions")
		t.Logf("%s storedVersions %v", name, stored)
		if !slices.Contains(stored, "v2") {
			t.Errorf("%s storedVersions %v: want v2 after the re-apply", name, stored)
		}
	}

	f, err = d.HopFindings(ctx, "1.18.0", "1.19.6")
	if err != nil {
		t.Fatal(err)
	}
	if !contains(f, "CiliumBGPPeeringPolicy (BGP v1, cilium.io/v2alpha1) is not served by Cilium 1.19.6") ||
		!contains(f, "the cluster holds CiliumBGPPeeringPolicy legacy-v1 (cilium.io/v2alpha1)") {
		t.Errorf("findings before 1.18.0 -> 1.19.6: %q", f)
	}

	registerModuleCRDs(t, c, "1.19.6")
	if re, err := d.ReapplyBGP(ctx, run, "1.18.0", "1.19.6"); err != nil || re != nil {
		t.Errorf("1.18.0 -> 1.19.6 keeps v2: re-applied %d objects, %v", len(re), err)
	}
	got, err = d.BGPResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertSubset(t, v2, got, "cilium.io/v2")
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// assertSubset checks every rendered object is in the cluster, in
// apiVersion, with every rendered field as rendered: the real CRDs add
// their defaults (ebgpMultihop, connectRetryTimeSeconds, peerConfigRef's
// group and kind), which the guide's objects leave out.
func assertSubset(t *testing.T, rendered, got []*unstructured.Unstructured, apiVersion string) {
	t.Helper()
	if len(got) != len(rendered) {
		t.Fatalf("read back %s, rendered %s", cnitest.Sprint(got), cnitest.Sprint(rendered))
	}
	for _, r := range rendered {
		var found *unstructured.Unstructured
		for _, g := range got {
			if g.GetKind() == r.GetKind() && g.GetName() == r.GetName() {
				found = g
			}
		}
		if found == nil {
			t.Errorf("%s %s not in the cluster", r.GetKind(), r.GetName())
			continue
		}
		if found.GetAPIVersion() != apiVersion {
			t.Errorf("%s %s served as %s, want %s", r.GetKind(), r.GetName(), found.GetAPIVersion(), apiVersion)
		}
		if !subset(specOf(t, r), specOf(t, found)) {
			t.Errorf("%s %s spec read back\n %v\nlacks what was rendered\n %v", r.GetKind(), r.GetName(), specOf(t, found), specOf(t, r))
		}
	}
}

// subset is true when every field of want is in got with the same value
// (lists element by element).
func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !subset(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, got)
}

// Install applies the BGP resources before its wait for readiness, so the
// settle window it ends on shows the agents stable with them: the next
// wait (the readiness check) continues that window instead of watching a
// new one (it took 10 s more on kind).
func TestInstallSettlesWithTheBGPResources(t *testing.T) {
	ctx := context.Background()
	cilium.ModuleBGPCRDs(t, "1.17.0") // skip early, saying which module is missing
	_, c, d, run := setup(t, 2, 0, "1.16.19", func(o *cni.Options) { o.Timeout = 30 * time.Second })
	run.BGP.Enabled = true
	registerModuleCRDs(t, c, "1.17.0") // as the operator does at start-up
	if _, err := d.Install(ctx, run); err != nil {
		t.Fatal(err)
	}
	objs, err := d.BGPResources(ctx)
	if err != nil || len(objs) == 0 {
		t.Fatalf("BGP resources after install: %d, %v", len(objs), err)
	}
	var applied time.Time
	for _, o := range objs {
		if at := o.GetCreationTimestamp().Time; at.After(applied) { // whole seconds, rounded down
			applied = at
		}
	}
	r, err := d.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Inherited || r.StableSince.Before(applied) {
		t.Errorf("the wait after install: inherited %v, stable since %s, BGP resources applied at %s: "+
			"the install's settle window did not follow the BGP resources", r.Inherited, r.StableSince.Format(time.TimeOnly), applied.Format(time.TimeOnly))
	}
}
