package kuberouter

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
)

// Facts implements cni.Describer: kube-router routes pod traffic natively
// (no overlay) and peers from its own configuration.
func (Profile) Facts() cni.Facts {
	return cni.Facts{
		Overlay:        false,
		NoBGPResources: "kube-router takes its BGP peering from its own configuration: no BGP resources to check",
		// --advertise-cluster-ip, -external-ip and -loadbalancer-ip, the
		// LoadBalancer addresses from its own allocator (--run-loadbalancer).
		ServiceAddresses: []string{cni.ClusterIP, cni.ExternalIP, cni.LoadBalancerIP},
		NodeFiles:        []string{"/etc/cni/net.d/10-kuberouter.conflist"},
		FilePattern:      "kube-?router",
		ChainPattern:     "kube-router",
		AgentContainer:   "kube-router",
		StatusCommands:   []string{"gobgp neighbor 2>&1; gobgp global rib 2>&1"},
	}
}

// ReadIPAM implements cni.IPAMReader: kube-router takes each node's pod
// CIDR from the controller manager (Node spec.podCIDRs); the pool it is
// carved from is the controller manager's flag, not read here.
func (Profile) ReadIPAM(ctx context.Context, c *cni.Cluster) (*cni.IPAM, error) {
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	ipam := &cni.IPAM{Blocks: map[string][]string{}}
	for _, n := range nodes.Items {
		ipam.Blocks[n.Name] = append(ipam.Blocks[n.Name], n.Spec.PodCIDRs...)
	}
	return ipam, nil
}
