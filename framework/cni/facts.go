package cni

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Facts are what the checks need to know of a CNI beyond its Helm values:
// its datapath, what it advertises, what it leaves on a node and how to
// ask its agent. Each CNI states them in its own package (Describer).
type Facts struct {
	// Overlay: cross-node pod traffic is carried in VXLAN between the
	// nodes (as the guide configures Cilium and Calico); otherwise it is
	// routed natively (kube-router).
	Overlay bool
	// VXLANPort is the overlay's UDP port (8472 for Cilium, 4789 for Calico).
	VXLANPort int
	// NoServiceAdvertisement, when set, says why the guide's configuration
	// of this CNI advertises no service addresses over BGP.
	NoServiceAdvertisement string
	// ServiceAddresses are the service addresses the guide's configuration
	// advertises (ClusterIP, ExternalIP, LoadBalancerIP), each as a /32
	// from every hybrid node with the node as next hop.
	ServiceAddresses []string
	// NoBGPResources, when set, says why the CNI has no BGP objects to
	// compare with the guide's (it peers from its own configuration).
	NoBGPResources string
	// NodeFiles are the files the CNI puts on a node (CNI configuration and
	// plugins) that the guide's cleanup removes.
	NodeFiles []string
	// FilePattern matches (grep -E -i) the names of the CNI's files in
	// /etc/cni/net.d and /opt/cni/bin, whatever a version calls them.
	FilePattern string
	// ChainPattern matches the CNI's iptables chains and rules.
	ChainPattern string
	// AgentContainer is the agent pods' main container.
	AgentContainer string
	// StatusCommands are what a network engineer runs in an agent: the
	// CNI's own status and its BGP view (each a shell command line).
	StatusCommands []string
	// CRDGroups are the API groups of the CNI's CRDs, gone after cleanup.
	CRDGroups []string
	// BGPConnectRetry is how long the agent waits before it connects again
	// after its BGP connection was refused or reset (0: not known).
	BGPConnectRetry time.Duration
}

// Describer is implemented by profiles that state their Facts.
type Describer interface {
	Facts() Facts
}

// FactsOf returns a profile's facts (zero when it states none).
func FactsOf(p Profile) Facts {
	if d, ok := p.(Describer); ok {
		return d.Facts()
	}
	return Facts{}
}

// IPAM is how a CNI has handed out pod addresses, as read from the cluster.
type IPAM struct {
	// PodCIDRs are the pools blocks are carved from ("" entries unknown).
	PodCIDRs []string `json:"podCIDRs,omitempty"`
	// BlockSize is the prefix length of each node's block (0: unknown).
	BlockSize int `json:"blockSize,omitempty"`
	// Blocks are each node's pod blocks.
	Blocks map[string][]string `json:"blocks"`
}

// IPAMReader is implemented by profiles that can read their IPAM state:
// CiliumNode spec.ipam.podCIDRs, Calico BlockAffinities, Node podCIDRs.
type IPAMReader interface {
	ReadIPAM(ctx context.Context, c *Cluster) (*IPAM, error)
}

// ReadIPAM reads the IPAM state of profile p, checking every block is a CIDR.
func ReadIPAM(ctx context.Context, p Profile, c *Cluster) (*IPAM, error) {
	r, ok := p.(IPAMReader)
	if !ok {
		return nil, fmt.Errorf("the %s profile has no IPAM reader", p.Name())
	}
	ipam, err := r.ReadIPAM(ctx, c)
	if err != nil {
		return nil, err
	}
	if ipam.Blocks == nil {
		ipam.Blocks = map[string][]string{}
	}
	for node, cidrs := range ipam.Blocks {
		for _, b := range cidrs {
			if _, err := netip.ParsePrefix(b); err != nil {
				return nil, fmt.Errorf("node %s: pod block %q is not a CIDR", node, b)
			}
		}
		sort.Strings(ipam.Blocks[node])
	}
	return ipam, nil
}

// PlanStep is one step of a CNI's own lifecycle, as `hybridcni plan` shows it.
type PlanStep struct {
	Name    string
	Details []string
}

// Planner is implemented by profiles that describe their lifecycle for
// `hybridcni plan`: what install configures, the steps of one upgrade hop,
// and the guide's cleanup. Profiles without it get the plain Helm steps.
type Planner interface {
	InstallNotes(run config.Run) []string
	UpgradeSteps(run config.Run, hop, installed string) []PlanStep
	CleanupNotes() []string
}

// ImageLister is implemented by profiles whose components run images that
// are not in the chart's manifests (an operator deploys them).
type ImageLister interface {
	ExtraImages(version string) []string
}
