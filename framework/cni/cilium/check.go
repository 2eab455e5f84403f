package cilium

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// CheckRendered reports every way the chart objects of a Cilium install
// differ from what run asks for: agent and operator pinned to hybrid nodes;
// cilium-config with cluster-pool IPAM of the pod CIDR and block size, VXLAN
// tunnel routing, masquerading and the BGP control plane as the run says,
// the unmanaged pod watcher off; no Envoy DaemonSet.
func CheckRendered(objs []*unstructured.Unstructured, run config.Run) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	for _, w := range []struct{ kind, name string }{{"DaemonSet", "cilium"}, {"Deployment", "cilium-operator"}} {
		o := cni.Find(objs, w.kind, w.name)
		if o == nil {
			bad("%s %s: not rendered", w.kind, w.name)
			continue
		}
		if spec, ok := cni.PodSpec(o); !ok || !cni.RequiresHybridNodes(spec) {
			bad("%s %s: pods are not required to run on %s=%s nodes", w.kind, w.name, cni.HybridLabel, cni.HybridValue)
		}
	}
	for _, o := range objs {
		if o.GetKind() == "DaemonSet" && strings.Contains(o.GetName(), "envoy") {
			bad("DaemonSet %s: Envoy must be off (envoy.enabled: false)", o.GetName())
		}
	}

	cm := cni.Find(objs, "ConfigMap", "cilium-config")
	if cm == nil {
		bad("ConfigMap cilium-config: not rendered")
		return errors.Join(errs...)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	want := map[string]string{
		"ipam":                           "cluster-pool",
		"cluster-pool-ipv4-cidr":         run.Network.PodCIDR,
		"cluster-pool-ipv4-mask-size":    strconv.Itoa(run.Network.BlockSize),
		"routing-mode":                   "tunnel",
		"tunnel-protocol":                "vxlan",
		"enable-ipv4-masquerade":         strconv.FormatBool(run.Network.Masquerade),
		"unmanaged-pod-watcher-interval": "0",
	}
	for _, k := range sortedKeys(want) {
		if got, ok := data[k]; !ok || got != want[k] {
			bad("ConfigMap cilium-config: %s = %q, want %q", k, got, want[k])
		}
	}
	// The chart writes the key only when the BGP control plane is on.
	if got := data["enable-bgp-control-plane"] == "true"; got != run.BGP.Enabled {
		bad("ConfigMap cilium-config: enable-bgp-control-plane = %q, want BGP control plane %s", data["enable-bgp-control-plane"], onOff(run.BGP.Enabled))
	}
	return errors.Join(errs...)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
