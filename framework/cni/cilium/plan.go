package cilium

import (
	"fmt"

	"github.com/Masterminds/semver/v3"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// InstallNotes implements cni.Planner: what the guide's values configure.
func (*Profile) InstallNotes(r config.Run) []string {
	return []string{
		fmt.Sprintf("cluster-pool IPAM: pod CIDR %s, mask size /%d", r.Network.PodCIDR, r.Network.BlockSize),
		"VXLAN tunnel, Envoy off, unmanaged pod watcher off, agent and operator on hybrid nodes",
		fmt.Sprintf("masquerade %s, BGP control plane %s", onOff(r.Network.Masquerade), onOff(r.BGP.Enabled)),
	}
}

// UpgradeSteps implements cni.Planner: the guide's pre-flight, then the
// upgrade with upgradeCompatibility set to the installed minor.
func (*Profile) UpgradeSteps(_ config.Run, hop, installed string) []cni.PlanStep {
	return []cni.PlanStep{
		{Name: "pre-flight for " + hop, Details: []string{
			fmt.Sprintf("helm install cilium-preflight: chart %s %s with preflight.enabled=true, agent=false, operator.enabled=false (preflight.affinity: the agent's; envoy.enabled: the release's)", ChartName, hop),
			"wait until DaemonSet cilium-pre-flight-check has as many READY pods as DaemonSet cilium",
			"wait until deployment cilium-pre-flight-check is READY 1/1 (0/1: CiliumNetworkPolicy validation problem, stop)",
			"helm uninstall cilium-preflight",
		}},
		{Name: "upgrade to " + hop, Details: []string{
			fmt.Sprintf("helm upgrade %s to %s with upgradeCompatibility=%s and the same values", ReleaseName, hop, minorOf(installed)),
		}},
	}
}

// CleanupNotes implements cni.Planner: the guide's delete section.
func (*Profile) CleanupNotes() []string {
	return []string{"remove Cilium's on-disk files from every node as cni-uninstall.sh does",
		"delete every CRD whose name contains cilium"}
}

func minorOf(v string) string {
	sv, err := semver.NewVersion(v)
	if err != nil {
		return v
	}
	return fmt.Sprintf("%d.%d", sv.Major(), sv.Minor())
}
