package cilium_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/cni/cilium"
	"github.com/hybridcni/hybridcni/framework/cni/cnitest"
	"github.com/hybridcni/hybridcni/framework/cni/standin"
)

// specOf normalises an object's spec through JSON so numbers compare equal.
func specOf(t *testing.T, o *unstructured.Unstructured) any {
	t.Helper()
	data, err := json.Marshal(o.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertReadBack checks every rendered object is in the cluster, in
// apiVersion, with the rendered spec and labels.
func assertReadBack(t *testing.T, rendered, got []*unstructured.Unstructured, apiVersion string) {
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
		if !reflect.DeepEqual(specOf(t, found), specOf(t, r)) {
			t.Errorf("%s %s spec read back\n %v\nrendered\n %v", r.GetKind(), r.GetName(), specOf(t, found), specOf(t, r))
		}
		for k, v := range r.GetLabels() {
			if found.GetLabels()[k] != v {
				t.Errorf("%s %s label %s=%q, want %q", r.GetKind(), r.GetName(), k, found.GetLabels()[k], v)
			}
		}
	}
}

// The BGP resources go in the API version the cluster serves: v2alpha1
// while only it exists, v2 once Cilium's CRDs serve it too.
func TestBGPResourcesFollowAPIDiscovery(t *testing.T) {
	ctx := context.Background()
	_, c, d, run := setup(t, 1, 0, "1.16.18", func(o *cni.Options) { o.Timeout = 2 * time.Second })
	run.BGP.Enabled = true

	// Before the operator registered the CRDs: a clear error, nothing applied.
	_, err := d.ApplyBGP(ctx, run)
	wantAll(t, err, "CiliumBGPClusterConfig (cilium.io) not served", "cilium-operator registers")

	cnitest.RegisterCRDs(t, c, cnitest.CiliumOperatorCRDs("v2alpha1")...)
	applied, err := d.ApplyBGP(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	rendered := cilium.New(cilium.WithBGPAPIVersion("cilium.io/v2alpha1")).BGPResources(run)
	assertReadBack(t, rendered, applied, "cilium.io/v2alpha1")
	got, err := d.BGPResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertReadBack(t, rendered, got, "cilium.io/v2alpha1")

	// Newer Cilium serves v2 (stored) next to v2alpha1.
	cnitest.RegisterCRDs(t, c, cnitest.CiliumOperatorCRDs("v2", "v2alpha1")...)
	v, err := d.BGPAPIVersion(ctx)
	if err != nil || v != "cilium.io/v2" {
		t.Fatalf("BGP API version %q, %v; want cilium.io/v2", v, err)
	}
	applied, err = d.ApplyBGP(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	assertReadBack(t, cilium.New(cilium.WithBGPAPIVersion("cilium.io/v2")).BGPResources(run), applied, "cilium.io/v2")
}

// The operator registers its CRDs one after the other: discovery that finds
// the cluster config before the advertisement waits for the rest, and says
// the CRDs are incomplete only when the wait runs out.
func TestBGPAPIVersionWaitsForEveryBGPKind(t *testing.T) {
	ctx := context.Background()
	_, c, d, _ := setup(t, 1, 0, "1.16.18", func(o *cni.Options) { o.Timeout = 30 * time.Second })
	var first, rest []standin.CRD
	for _, crd := range standin.CiliumOperatorCRDs("v2alpha1") {
		if crd.Kind == "CiliumBGPClusterConfig" {
			first = append(first, crd)
		} else {
			rest = append(rest, crd)
		}
	}
	if err := standin.RegisterCRDs(ctx, c, 30*time.Second, first...); err != nil {
		t.Fatal(err)
	}
	late := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		late <- standin.RegisterCRDs(ctx, c, 30*time.Second, rest...)
	}()
	v, err := d.BGPAPIVersion(ctx)
	if err != nil || v != "cilium.io/v2alpha1" {
		t.Fatalf("BGP API version %q, %v: want cilium.io/v2alpha1 once every BGP kind is served", v, err)
	}
	if err := <-late; err != nil {
		t.Fatal(err)
	}
}

func TestBGPAPIVersionNamesTheMissingKind(t *testing.T) {
	ctx := context.Background()
	_, c, d, _ := setup(t, 1, 0, "1.16.18", func(o *cni.Options) { o.Timeout = 2 * time.Second })
	for _, crd := range standin.CiliumOperatorCRDs("v2alpha1") {
		if crd.Kind == "CiliumBGPClusterConfig" {
			if err := standin.RegisterCRDs(ctx, c, 30*time.Second, crd); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := d.BGPAPIVersion(ctx)
	wantAll(t, err, "CiliumBGPPeerConfig (cilium.io) is not served", "Cilium's CRDs are incomplete")
}
