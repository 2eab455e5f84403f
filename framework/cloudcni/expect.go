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

// ScenarioHybridToCloud is the probe scenario of pod-to-pod/hybrid-to-cloud.
const ScenarioHybridToCloud = "pod-to-pod/hybrid-to-cloud"

// HybridToCloud are the expectations of pod-to-pod/hybrid-to-cloud, from
// each hybrid pod to the cloud pod dst. The on-prem side reaches cloud pods
// through the router, as it reaches a VPC; the cloud pod's answer goes back
// to the address it sees. With the hybrid CNI masquerading, that is the
// hybrid node's, and each must answer; without, it is the hybrid pod's,
// which the cloud side routes only when the hybrid pod CIDRs are routable
// (each must answer and see the pod's own address), and each must fail
// otherwise.
func HybridToCloud(hybridPods []probe.Source, dst probe.Target, routable, masquerade bool) []probe.Expectation {
	var out []probe.Expectation
	for _, src := range hybridPods {
		switch {
		case masquerade:
			out = append(out, probe.ExpectSuccess(ScenarioHybridToCloud, src, dst))
		case routable:
			out = append(out, probe.ExpectSuccess(ScenarioHybridToCloud, src, dst,
				probe.WithSource(src.IP, "the hybrid pod's address: masquerading off, routed back through the remote pod network")))
		default:
			out = append(out, probe.ExpectFailure(ScenarioHybridToCloud, src, dst))
		}
	}
	return out
}

// DropFromHybrid are the filter rules (chain first) by which a cloud node
// drops what the hybrid side sends its pods, from hybrid pod addresses and
// from the hybrid nodes' (masqueraded): the fault hybrid-to-cloud-pods-dropped.
func DropFromHybrid(hybridPodCIDR string, hybridNodeIPs []string) [][]string {
	var out [][]string
	for _, src := range append([]string{hybridPodCIDR}, hybridNodeIPs...) {
		out = append(out, []string{"FORWARD", "-s", src, "-d", PodCIDR.String(), "-j", "DROP"})
	}
	return out
}
