package cilium

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Facts implements cni.Describer: VXLAN on Cilium's port, the files
// cni-uninstall.sh removes, the agent and its status commands.
func (*Profile) Facts() cni.Facts {
	return cni.Facts{
		Overlay:   true,
		VXLANPort: 8472,
		// The guide's CiliumBGPAdvertisement: ClusterIP, ExternalIP and
		// LoadBalancerIP, the last from LB-IPAM (LoadBalancerPool).
		ServiceAddresses: []string{cni.ClusterIP, cni.ExternalIP, cni.LoadBalancerIP},
		NodeFiles:        []string{"/etc/cni/net.d/05-cilium.conflist", "/etc/cni/net.d/05-cilium.conf", "/opt/cni/bin/cilium-cni"},
		FilePattern:      "cilium",
		ChainPattern:     "cilium",
		AgentContainer:   "cilium-agent",
		StatusCommands: []string{
			"cilium-dbg status --verbose 2>&1 || cilium status --verbose 2>&1",
			"cilium-dbg bgp peers 2>&1 || cilium bgp peers 2>&1",
			"cilium-dbg bgp routes advertised ipv4 unicast 2>&1 || cilium bgp routes 2>&1",
		},
		CRDGroups: []string{"cilium.io"},
		// CiliumBGPPeerConfig timers.connectRetryTimeSeconds, which the
		// guide leaves at its default.
		BGPConnectRetry: 120 * time.Second,
	}
}

var ciliumNodes = schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnodes"}

// ReadIPAM implements cni.IPAMReader: cluster-pool IPAM as the operator
// configured it (cilium-config) and as it handed out blocks (CiliumNode
// spec.ipam.podCIDRs).
func (*Profile) ReadIPAM(ctx context.Context, c *cni.Cluster) (*cni.IPAM, error) {
	ipam := &cni.IPAM{Blocks: map[string][]string{}}
	list, err := c.Dynamic.Resource(ciliumNodes).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list CiliumNodes: %w", err)
	}
	for _, o := range list.Items {
		cidrs, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "ipam", "podCIDRs")
		ipam.Blocks[o.GetName()] = append(ipam.Blocks[o.GetName()], cidrs...)
	}
	cm, err := c.Kube.CoreV1().ConfigMaps(Namespace).Get(ctx, "cilium-config", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read ConfigMap %s/cilium-config: %w", Namespace, err)
	}
	if v := cm.Data["cluster-pool-ipv4-cidr"]; v != "" {
		ipam.PodCIDRs = strings.Fields(strings.ReplaceAll(v, ",", " "))
	}
	if v := cm.Data["cluster-pool-ipv4-mask-size"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("cilium-config cluster-pool-ipv4-mask-size %q is not a number", v)
		}
		ipam.BlockSize = n
	}
	return ipam, nil
}

// LoadBalancerPool implements cni.LoadBalancerIPAM: LB-IPAM hands out
// LoadBalancer addresses only from a CiliumLoadBalancerIPPool. The
// version is the one 1.16 serves; the suite applies it in the version the
// cluster serves (API discovery).
func (*Profile) LoadBalancerPool(config.Run) []*unstructured.Unstructured {
	return []*unstructured.Unstructured{cni.Object("cilium.io/v2alpha1", "CiliumLoadBalancerIPPool", LoadBalancerPoolName, map[string]any{
		"blocks": []any{map[string]any{"cidr": cni.LoadBalancerPoolCIDR}},
	})}
}

// LoadBalancerPoolName is the CiliumLoadBalancerIPPool the BGP checks apply.
const LoadBalancerPoolName = "hybridcni-bgp-checks"
