// Package cloudcni is the cloud CNI of kind runs: it plays the Amazon VPC
// CNI on the cluster's cloud side, so cloud workers turn Ready and host pods,
// and the guide's border between the two halves can be checked (the cloud
// CNI stays off hybrid nodes; cloud pods reach hybrid pods exactly when the
// hybrid pod CIDRs are routable; a webhook on a cloud node works when pods
// on hybrid nodes are not routable).
//
// It is a DaemonSet of the harness's own image (`hybridcni cloud-cni`,
// hostNetwork, privileged) with the VPC CNI's anti-affinity to hybrid nodes,
// kindnet-like: each cloud worker's pods get addresses from a /24 of
// PodCIDR derived from the node's address (as VPC addresses come with the
// node's subnet), through the node image's ptp and host-local plugins; every
// cloud-side node (the control plane too, which plays the EKS control plane
// and so gets routes but no CNI configuration) routes the other cloud
// workers' blocks via those workers; and pod traffic leaving the cloud pod
// range is masqueraded to the node's address, as the VPC CNI's SNAT does
// for destinations outside the VPC.
package cloudcni

import (
	"encoding/json"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
)

const (
	// Namespace and Name of the DaemonSet (and its service account and RBAC).
	Namespace = "kube-system"
	Name      = "hybridcni-cloud-cni"
	// Command is the hidden hybridcni command the DaemonSet runs.
	Command = "cloud-cni"
	// ConfFile is the CNI configuration the agent writes on cloud workers.
	ConfFile = "/etc/cni/net.d/20-hybridcni-cloud.conflist"
	// MasqComment marks the agent's masquerade rule.
	MasqComment = "hybridcni-cloud-cni"
	// LabelApp labels the agent pods.
	LabelApp = "app.kubernetes.io/name"
	// ControlPlaneLabel marks the control-plane node, which gets routes only.
	ControlPlaneLabel = "node-role.kubernetes.io/control-plane"
	blockBits         = 24
)

// PodCIDR is the cloud pods' address range (the "VPC" pod addresses):
// RFC 6598 shared space, which no run's pod, node or service CIDR uses.
var PodCIDR = netip.MustParsePrefix("100.64.0.0/10")

// Block is the /24 of PodCIDR a cloud node with address ip hands its pods:
// the address's low 14 bits pick it, so nodes of one node network of up to
// 16384 addresses never share a block, and every node computes every other
// node's block from the Node objects alone.
func Block(ip netip.Addr) (netip.Prefix, error) {
	if !ip.Is4() {
		return netip.Prefix{}, fmt.Errorf("node address %s is not IPv4", ip)
	}
	b := ip.As4()
	idx := (uint32(b[2])<<8 | uint32(b[3])) & (1<<(blockBits-PodCIDR.Bits()) - 1)
	base := PodCIDR.Addr().As4()
	v := (uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])) + idx<<(32-blockBits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), blockBits), nil
}

// Conflist is the CNI configuration of a cloud worker whose pods take
// addresses from block: a point-to-point veth per pod, host-local IPAM.
func Conflist(block netip.Prefix) []byte {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "hybridcni-cloud",
		"plugins": []any{
			map[string]any{
				"type": "ptp", "ipMasq": false, "mtu": 1500,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  []any{[]any{map[string]any{"subnet": block.String()}}},
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"dataDir": "/var/lib/cni/hybridcni-cloud",
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return append(b, '\n')
}

// Hybrid reports whether n is a hybrid node.
func Hybrid(n *corev1.Node) bool { return n.Labels[cni.HybridLabel] == cni.HybridValue }

// ControlPlane reports whether n is the control-plane node.
func ControlPlane(n *corev1.Node) bool {
	_, ok := n.Labels[ControlPlaneLabel]
	return ok
}

// Worker reports whether n is a cloud worker: neither hybrid nor the
// control plane. Cloud workers get the CNI configuration and host pods.
func Worker(n *corev1.Node) bool { return !Hybrid(n) && !ControlPlane(n) }

// InternalIP is the node's InternalIP address.
func InternalIP(n *corev1.Node) (netip.Addr, error) {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("node %s has no IPv4 InternalIP", n.Name)
}

// Route is one route the agent keeps: a cloud worker's block via that worker.
type Route struct {
	Dst  netip.Prefix
	Via  netip.Addr
	Node string
}

// Plan is what the agent keeps on its node.
type Plan struct {
	// Idle says why the agent does nothing on this node ("" when it acts):
	// a hybrid node is never configured, even if the agent lands there.
	Idle string
	// Block is the node's pod block; Conf its CNI configuration (nil on the
	// control plane, which hosts no cloud pods).
	Block netip.Prefix
	Conf  []byte
	// Routes to the other cloud workers' blocks.
	Routes []Route
}

// PlanFor computes the plan of node self from the cluster's nodes. Two
// cloud workers whose addresses give the same block are an error.
func PlanFor(self string, nodes []corev1.Node) (Plan, error) {
	var me *corev1.Node
	for i := range nodes {
		if nodes[i].Name == self {
			me = &nodes[i]
		}
	}
	if me == nil {
		return Plan{}, fmt.Errorf("node %s is not in the node list", self)
	}
	if Hybrid(me) {
		return Plan{Idle: fmt.Sprintf("node %s is a hybrid node (%s=%s): the cloud CNI never configures one", self, cni.HybridLabel, cni.HybridValue)}, nil
	}
	var p Plan
	owner := map[netip.Prefix]string{}
	for i := range nodes {
		n := &nodes[i]
		if !Worker(n) {
			continue
		}
		ip, err := InternalIP(n)
		if err != nil {
			return Plan{}, err
		}
		b, err := Block(ip)
		if err != nil {
			return Plan{}, err
		}
		if o, dup := owner[b]; dup {
			return Plan{}, fmt.Errorf("cloud nodes %s and %s both get block %s", o, n.Name, b)
		}
		owner[b] = n.Name
		if n.Name == self {
			p.Block, p.Conf = b, Conflist(b)
			continue
		}
		p.Routes = append(p.Routes, Route{Dst: b, Via: ip, Node: n.Name})
	}
	return p, nil
}
