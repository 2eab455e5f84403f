package cloudcni

import (
	"net/netip"

	"github.com/hybridcni/hybridcni/framework/probe"
)

// Scenario is the probe scenario of the check pod-to-pod/cloud-to-hybrid.
const Scenario = "pod-to-pod/cloud-to-hybrid"

// CloudToHybrid are the check's expectations, from the cloud pod src on
// cloud node srcNode (address srcNodeIP) to each hybrid pod: when the cloud
// side routes the hybrid pod CIDRs (the remote pod network), each must
// answer and see the cloud node's address (the cloud CNI's SNAT); when it
// does not, each must fail.
func CloudToHybrid(src probe.Source, srcNode, srcNodeIP string, hybridPods []probe.Target, routable bool) []probe.Expectation {
	var out []probe.Expectation
	for _, to := range hybridPods {
		if routable {
			out = append(out, probe.ExpectSuccess(Scenario, src, to,
				probe.WithSource(srcNodeIP, "cloud node "+srcNode+": the cloud CNI masquerades traffic leaving the cloud pod range")))
		} else {
			out = append(out, probe.ExpectFailure(Scenario, src, to))
		}
	}
	return out
}

// MasqueradeRule is the agent's SNAT of a cloud node's pods, as iptables
// arguments after the operation: table, chain, match and target.
func MasqueradeRule(block netip.Prefix) []string {
	return []string{"-t", "nat", "POSTROUTING", "-s", block.String(), "!", "-d", PodCIDR.String(),
		"-m", "comment", "--comment", MasqComment, "-j", "MASQUERADE"}
}

// DropToHybrid is the filter rule (chain first) by which a cloud node drops
// what cloud pods send to the hybrid pod CIDR: the fault
// cloud-to-hybrid-pods-dropped.
func DropToHybrid(hybridPodCIDR string) []string {
	return []string{"FORWARD", "-s", PodCIDR.String(), "-d", hybridPodCIDR, "-j", "DROP"}
}
