package checks

import (
	"fmt"
	"strings"
)

// Feature labels, one per row of the compatibility matrix (framework/report).
const (
	Conformance = "conformance"
	Readiness   = "readiness"
	Placement   = "placement"
	CPToNode    = "cp-to-node"
	CPToPod     = "cp-to-pod"
	Install     = "install"
	Upgrade     = "upgrade"
	Delete      = "delete"
	VXLAN       = "vxlan"
	IPAM        = "ipam"
	IPv4        = "ipv4"
	Masquerade  = "masquerade"
	BGP         = "bgp"
)

// Conditions on a run.
var (
	BGPOn = Condition{"bgp on", func(s Subject) string {
		if !s.Run.BGP.Enabled {
			return "BGP is off in this run (bgp.enabled)"
		}
		return ""
	}}
	TwoHybridNodes = Condition{"two hybrid nodes", func(s Subject) string {
		if s.Run.Nodes.Hybrid < 2 {
			return fmt.Sprintf("needs at least 2 hybrid nodes, the run has %d (nodes.hybrid)", s.Run.Nodes.Hybrid)
		}
		return ""
	}}
	Overlay = Condition{"overlay", func(s Subject) string {
		if !s.Facts.Overlay {
			return s.Run.CNI.Name + " routes pod traffic natively: there is no overlay"
		}
		return ""
	}}
	HasCRDs = Condition{"has CRDs", func(s Subject) string {
		if len(s.Facts.CRDGroups) == 0 {
			return s.Run.CNI.Name + " registers no CRDs"
		}
		return ""
	}}
	AdvertisesServices = Condition{"advertises services", func(s Subject) string { return s.Facts.NoServiceAdvertisement }}
	HasBGPResources    = Condition{"has BGP resources", func(s Subject) string { return s.Facts.NoBGPResources }}
	// CloudNode: the run has a cloud worker (where the cloud CNI runs pods).
	CloudNode = Condition{"a cloud node", func(s Subject) string {
		if s.Run.Nodes.Cloud < 1 {
			return "needs a cloud worker, the run has none (nodes.cloud, --cloud-nodes)"
		}
		return ""
	}}
	// PodsAnswerable: the on-prem host can answer a pod, because the pod's
	// address is masqueraded or advertised.
	PodsAnswerable = Condition{"pods answerable on-prem", func(s Subject) string {
		if !s.Run.Network.Masquerade && !s.Run.BGP.Enabled {
			return "masquerading off and pod CIDRs not advertised (network.allowUnroutablePods): the on-prem host cannot answer a pod, so the address it sees cannot be read back"
		}
		return ""
	}}
)

// Catalogue is every check, in the order a phase runs them.
func Catalogue() []*Check { return catalogue }

var catalogue = []*Check{
	New("readiness/not-ready-without-cni").Features(Readiness).In(BeforeCNI).
		Titled(func(Subject) string { return "readiness: hybrid nodes are NotReady without a CNI" }).
		Doc("every configured hybrid node exists, carries the hybrid label and is NotReady"),
	New("readiness/nodes-ready").Features(Readiness).
		Titled(func(Subject) string { return "readiness: every hybrid node Ready, the CNI ready and stable" }).
		Doc("every configured hybrid node is Ready and the CNI's workloads are ready without restarts"),
	New("placement").Features(Placement).
		Titled(func(Subject) string { return "placement: an agent on every hybrid node and none on cloud nodes" }),
	New("placement/cloud-cni").Features(Placement).Needs(CloudCNI).When(CloudNode).
		Titled(func(Subject) string { return "placement: the cloud CNI on every cloud node and on no hybrid node" }).
		Doc("the cloud CNI (the VPC CNI's part) carries the anti-affinity to hybrid nodes; the hybrid CNI's own placement is the placement check"),
	New("ipam/blocks").Features(IPAM, IPv4).Needs(Dataplane).
		Titled(func(s Subject) string {
			return fmt.Sprintf("ipam: one /%d block per hybrid node inside %s, no overlap, disjoint from %s",
				s.Run.Network.BlockSize, s.Run.Network.PodCIDR, s.Run.Network.NodeCIDR)
		}),
	New("ipam/pod-addresses").Features(IPAM, IPv4).Needs(Dataplane).
		Titled(func(Subject) string { return "ipam: every pod address inside its node's block" }),
	New("ipam/unchanged").Features(IPAM).Needs(Dataplane).In(SinceInstall).
		Titled(func(Subject) string {
			return "ipam: pod CIDR, block size and every node's blocks unchanged since install"
		}).
		Doc("the guide: neither the pod CIDR nor the block size may change after install"),
	New("pod-to-pod/same-node").Features(Conformance).Needs(Dataplane),
	New("pod-to-pod/cross-node").Features(Conformance).Needs(Dataplane).When(TwoHybridNodes).
		Titled(func(s Subject) string {
			if s.Facts.Overlay {
				return "pod-to-pod/cross-node: every node pair, over the overlay"
			}
			return "pod-to-pod/cross-node: every node pair, routed (no overlay)"
		}),
	New("pod-to-pod/cloud-to-hybrid").Features(Conformance).Needs(Dataplane, CloudCNI).When(CloudNode).
		Titled(func(s Subject) string {
			if s.Run.BGP.Enabled {
				return "pod-to-pod/cloud-to-hybrid: a cloud pod reaches every hybrid node's pod (hybrid pod CIDRs routable: remote pod network)"
			}
			return "pod-to-pod/cloud-to-hybrid: a cloud pod reaches no hybrid node's pod when hybrid pod CIDRs are not routable (expected to fail)"
		}).
		Doc("works exactly when the cloud side routes the hybrid pod CIDRs through the on-prem router (EKS remote pod network), and must fail otherwise"),
	New("pod-to-pod/hybrid-to-cloud").Features(Conformance).Needs(Dataplane, CloudCNI, Router).When(CloudNode).
		Titled(func(s Subject) string {
			switch {
			case s.Run.Network.Masquerade:
				return "pod-to-pod/hybrid-to-cloud: every hybrid node's pod reaches a cloud pod (masqueraded to the node address)"
			case s.Run.BGP.Enabled:
				return "pod-to-pod/hybrid-to-cloud: every hybrid node's pod reaches a cloud pod, which sees the pod address (routed back: remote pod network)"
			}
			return "pod-to-pod/hybrid-to-cloud: no hybrid pod gets an answer from a cloud pod when pod addresses are neither masqueraded nor routable (expected to fail)"
		}).
		Doc("the on-prem side reaches cloud pods through the router; the answer returns to a masqueraded node address, or to the pod address only through the remote pod network"),
	New("vxlan/encapsulated").Features(VXLAN).Needs(Dataplane, NodeShell).When(Overlay, TwoHybridNodes).
		Titled(func(Subject) string { return "vxlan: cross-node pod traffic leaves each node encapsulated" }).
		Doc("the VXLAN devices' transmit counters move with cross-node probes"),
	New("pod-to-service/cluster-ip").Features(Conformance).Needs(Dataplane).
		Titled(func(Subject) string {
			return "pod-to-service/cluster-ip: the shared service and one backed only by another node"
		}),
	New("pod-to-service/dns").Features(Conformance).Needs(Dataplane),
	New("node-to-pod").Features(Conformance).Needs(Dataplane, NodeShell),
	New("pod-to-node").Features(Conformance).Needs(Dataplane),
	New("pod-to-external").Features(Conformance).Needs(Dataplane, OnPremHost).
		Titled(func(Subject) string { return "pod-to-external: the on-prem host" }),
	New("control-plane-to-node").Features(CPToNode).Needs(Dataplane).
		Titled(func(Subject) string { return "control-plane-to-node: logs and exec" }),
	New("control-plane-to-pod").Features(CPToPod).Needs(Dataplane).
		Titled(func(Subject) string { return "control-plane-to-pod: API proxy and port-forward" }),
	New("control-plane-to-pod/webhook").Features(CPToPod).Needs(Dataplane).
		Titled(func(Subject) string { return "control-plane-to-pod: a webhook served from a hybrid node" }),
	New("control-plane-to-pod/webhook-cloud").Features(CPToPod).Needs(Dataplane, CloudCNI).When(CloudNode).
		Titled(func(s Subject) string {
			return "control-plane-to-pod: a webhook served from a cloud node (the guide's fallback when hybrid pods are not routable)"
		}).
		Doc("the control plane reaches cloud pods whatever the hybrid side does; with unroutable hybrid pods the hybrid node's webhook fails and this one works"),
	New("masquerade").Features(Masquerade).Needs(Dataplane, OnPremHost).When(PodsAnswerable).
		Titled(func(s Subject) string {
			if s.Run.Network.Masquerade {
				return "masquerade: the on-prem host sees the node address (masquerading on)"
			}
			return "masquerade: the on-prem host sees the pod address (masquerading off)"
		}),
	New("bgp/resources").Features(BGP).When(BGPOn, HasBGPResources).
		Titled(func(Subject) string { return "bgp: resources applied as the guide gives them" }),
	New("bgp/sessions").Features(BGP).Needs(Router).When(BGPOn).
		Titled(func(Subject) string { return "bgp: a session from every hybrid node to the router, no other peer" }),
	New("bgp/pod-blocks").Features(BGP).Needs(Router, Dataplane).When(BGPOn).
		Titled(func(Subject) string {
			return "bgp: each node's pod block from that node only, with the node as next hop"
		}),
	New("bgp/services").Features(BGP).Needs(Router, Dataplane).When(BGPOn, AdvertisesServices).
		Titled(func(s Subject) string {
			return fmt.Sprintf("bgp: each service address advertised (%s) by every hybrid node only, the node as next hop",
				strings.Join(s.Facts.ServiceAddresses, ", "))
		}),
	New("bgp/withdrawal").Features(BGP).Needs(Router, Dataplane).When(BGPOn, AdvertisesServices).
		Titled(func(Subject) string {
			return "bgp: a deleted service of each type is withdrawn by every peer, sessions kept"
		}),
	New("bgp/parameters").Features(BGP).Needs(Router).When(BGPOn).
		Titled(func(Subject) string {
			return "bgp: each session as negotiated: node AS, hold time 30 s, keepalive 10 s, graceful restart 120 s, IPv4 unicast"
		}).
		Doc("read from the router's neighbor state and the node's KEEPALIVEs, not from the objects applied"),
	New("bgp/graceful-restart").Features(BGP).Needs(Router, Dataplane).When(BGPOn).
		Titled(func(Subject) string {
			return "bgp: routes retained across an agent restart (graceful restart), then advertised again"
		}),
	New("cleanup/nodes").Features(Delete).Needs(NodeShell).In(AfterDelete).
		Titled(func(Subject) string { return "cleanup: no CNI file or agent pod left on any hybrid node" }),
	New("cleanup/crds").Features(Delete).In(AfterDelete).When(HasCRDs).
		Titled(func(Subject) string { return "cleanup: no CRD of the CNI left in the cluster" }),
}
