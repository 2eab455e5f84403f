package calico

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// Facts implements cni.Describer: VXLAN on the IANA port, Calico's files,
// calico-node and BIRD's view, and the guide's BGP configuration, which
// advertises pod CIDRs only.
func (*Profile) Facts() cni.Facts {
	return cni.Facts{
		Overlay:                true,
		VXLANPort:              4789,
		NoServiceAdvertisement: "the guide's Calico configuration advertises pod CIDRs only (no BGPConfiguration.serviceClusterIPs)",
		NodeFiles:              []string{"/etc/cni/net.d/10-calico.conflist", "/etc/cni/net.d/calico-kubeconfig", "/opt/cni/bin/calico", "/opt/cni/bin/calico-ipam"},
		FilePattern:            "calico",
		ChainPattern:           "cali",
		AgentContainer:         "calico-node",
		StatusCommands: []string{
			"birdcl -s /var/run/calico/bird.ctl show protocols all 2>&1",
			"calico-node -bird-ready -felix-ready 2>&1; echo exit $?",
		},
		CRDGroups: []string{"crd.projectcalico.org", "operator.tigera.io", "projectcalico.org"},
	}
}

var (
	blockAffinities = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "blockaffinities"}
	ipPools         = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "ippools"}
)

// ReadIPAM implements cni.IPAMReader: the IP pools' CIDR and block size,
// and each node's confirmed BlockAffinities.
func (*Profile) ReadIPAM(ctx context.Context, c *cni.Cluster) (*cni.IPAM, error) {
	ipam := &cni.IPAM{Blocks: map[string][]string{}}
	list, err := c.Dynamic.Resource(blockAffinities).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Calico BlockAffinities: %w", err)
	}
	for _, o := range list.Items {
		node, _, _ := unstructured.NestedString(o.Object, "spec", "node")
		cidr, _, _ := unstructured.NestedString(o.Object, "spec", "cidr")
		state, _, _ := unstructured.NestedString(o.Object, "spec", "state")
		if state == "" || state == "confirmed" {
			ipam.Blocks[node] = append(ipam.Blocks[node], cidr)
		}
	}
	pools, err := c.Dynamic.Resource(ipPools).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Calico IPPools: %w", err)
	}
	for _, o := range pools.Items {
		cidr, _, _ := unstructured.NestedString(o.Object, "spec", "cidr")
		ipam.PodCIDRs = append(ipam.PodCIDRs, cidr)
		if bs, ok, _ := unstructured.NestedInt64(o.Object, "spec", "blockSize"); ok && ipam.BlockSize == 0 {
			ipam.BlockSize = int(bs)
		}
	}
	return ipam, nil
}
