package calico

import (
	"fmt"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// InstallNotes implements cni.Planner: what the guide's values configure.
func (*Profile) InstallNotes(r config.Run) []string {
	return []string{
		fmt.Sprintf("Calico IPAM: pool %s, block size /%d, VXLAN, natOutgoing %s", r.Network.PodCIDR, r.Network.BlockSize, onOff(r.Network.Masquerade)),
		fmt.Sprintf("BGP %s, control plane replicas 1, every component on hybrid nodes", onOff(r.BGP.Enabled)),
	}
}

// UpgradeSteps implements cni.Planner: the operator's CRDs first, then the chart.
func (*Profile) UpgradeSteps(_ config.Run, hop, _ string) []cni.PlanStep {
	return []cni.PlanStep{
		{Name: "operator CRDs of " + hop, Details: []string{
			fmt.Sprintf("apply the CRDs of %s server-side with force-conflicts (manifests/operator-crds.yaml, or the CRD charts from 3.32)", hop)}},
		{Name: "upgrade to " + hop, Details: []string{fmt.Sprintf("helm upgrade %s to %s with the same values", ReleaseName, hop)}},
	}
}

// CleanupNotes implements cni.Planner: the guide's delete section.
func (*Profile) CleanupNotes() []string {
	return []string{"remove Calico's files from /opt/cni and /etc/cni on every node",
		"delete every CRD whose name contains calico or tigera"}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
