package calico

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// CheckRendered reports every way the chart objects of a Calico install
// differ from what run asks for: the tigera-operator Deployment; the
// Installation with Calico CNI and IPAM, one pool (pod CIDR, block size,
// VXLAN, natOutgoing as the run's masquerading, hybrid node selector), BGP as
// the run says, and every component on hybrid nodes.
func CheckRendered(objs []*unstructured.Unstructured, run config.Run) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if cni.Find(objs, "Deployment", "tigera-operator") == nil {
		bad("Deployment tigera-operator: not rendered")
	}
	inst := cni.Find(objs, "Installation", "default")
	if inst == nil {
		bad("Installation default: not rendered")
		return errors.Join(errs...)
	}
	spec, _, _ := unstructured.NestedMap(inst.Object, "spec")
	field := func(path ...string) any {
		v, _, _ := unstructured.NestedFieldNoCopy(spec, path...)
		return v
	}
	expect := func(want any, path ...string) {
		if got := field(path...); !reflect.DeepEqual(got, want) {
			bad("Installation default: spec.%s = %v, want %v", joinPath(path), got, want)
		}
	}
	expect("Calico", "cni", "type")
	expect("Calico", "cni", "ipam", "type")
	expect(Enabled(run.BGP.Enabled), "calicoNetwork", "bgp")
	expect(int64(1), "controlPlaneReplicas")
	expect(map[string]any{cni.HybridLabel: cni.HybridValue}, "controlPlaneNodeSelector")
	for _, c := range HybridComponents {
		expect(map[string]any{cni.HybridLabel: cni.HybridValue}, c, "spec", "template", "spec", "nodeSelector")
	}

	pools, _ := field("calicoNetwork", "ipPools").([]any)
	if len(pools) != 1 {
		bad("Installation default: spec.calicoNetwork.ipPools has %d pools, want 1", len(pools))
		return errors.Join(errs...)
	}
	pool, _ := pools[0].(map[string]any)
	want := map[string]any{
		"cidr":          run.Network.PodCIDR,
		"blockSize":     int64(run.Network.BlockSize),
		"encapsulation": "VXLAN",
		"natOutgoing":   Enabled(run.Network.Masquerade),
		"nodeSelector":  PoolNodeSelector,
	}
	for _, k := range []string{"cidr", "blockSize", "encapsulation", "natOutgoing", "nodeSelector"} {
		if !reflect.DeepEqual(pool[k], want[k]) {
			bad("Installation default: spec.calicoNetwork.ipPools[0].%s = %v, want %v", k, pool[k], want[k])
		}
	}
	return errors.Join(errs...)
}

func joinPath(p []string) string { return strings.Join(p, ".") }
