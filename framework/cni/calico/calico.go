// Package calico is the Calico profile for hybrid nodes: the tigera-operator
// Helm values and BGP resources of the EKS hybrid-nodes guide, and a check
// that rendered objects carry them.
package calico

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Chart and release as the guide installs them.
const (
	ChartName   = "tigera-operator"
	ReleaseName = "calico"
	Namespace   = "kube-system"
)

// BGP resources, as in the guide.
const (
	BGPAPIVersion        = "projectcalico.org/v3"
	PeerName             = "calico-hybrid-nodes"
	BGPConfigurationName = "default"
)

// Components the guide pins to hybrid nodes, as keys of the Installation spec.
var HybridComponents = []string{
	"calicoNodeDaemonSet", "csiNodeDriverDaemonSet", "calicoKubeControllersDeployment", "typhaDeployment",
}

// PoolNodeSelector is the IP pool's node selector in Calico's selector syntax.
var PoolNodeSelector = fmt.Sprintf("%s == %q", cni.HybridLabel, cni.HybridValue)

// Profile is the Calico profile.
type Profile struct{}

// New returns a Calico profile.
func New() *Profile { return &Profile{} }

func init() { cni.Register(New()) }

var _ cni.Profile = (*Profile)(nil)

// Name implements cni.Profile.
func (*Profile) Name() string { return config.Calico }

// ChartName implements cni.Profile.
func (*Profile) ChartName() string { return ChartName }

// ReleaseName implements cni.Profile.
func (*Profile) ReleaseName() string { return ReleaseName }

// Namespace implements cni.Profile.
func (*Profile) Namespace() string { return Namespace }

// ComponentNamespaces implements cni.ComponentNamespaces: where the operator
// runs calico-node, typha, kube-controllers and the API server.
func (*Profile) ComponentNamespaces() []string { return []string{SystemNamespace, APIServerNamespace} }

// Enabled is Calico's spelling of a boolean.
func Enabled(on bool) string {
	if on {
		return "Enabled"
	}
	return "Disabled"
}

// Values are the guide's values: Calico CNI and IPAM, one VXLAN pool of the
// pod CIDR for hybrid nodes with natOutgoing as the run's masquerading, BGP
// as the run says, one control-plane replica and every component on hybrid nodes.
func (*Profile) Values(run config.Run) map[string]any {
	onHybrid := func() map[string]any {
		return map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeSelector": cni.HybridNodeSelector(),
		}}}}
	}
	inst := map[string]any{
		"enabled": true,
		"cni":     map[string]any{"type": "Calico", "ipam": map[string]any{"type": "Calico"}},
		"calicoNetwork": map[string]any{
			"bgp": Enabled(run.BGP.Enabled),
			"ipPools": []any{map[string]any{
				"cidr":          run.Network.PodCIDR,
				"blockSize":     run.Network.BlockSize,
				"encapsulation": "VXLAN",
				"natOutgoing":   Enabled(run.Network.Masquerade),
				"nodeSelector":  PoolNodeSelector,
			}},
		},
		"controlPlaneReplicas":     1,
		"controlPlaneNodeSelector": cni.HybridNodeSelector(),
	}
	for _, c := range HybridComponents {
		inst[c] = onHybrid()
	}
	return map[string]any{"installation": inst}
}

// BGPResources are the guide's BGPPeer (the on-prem router, keeping each
// node's own next hop) and the default BGPConfiguration (nodes' ASN, no
// node-to-node mesh).
func (*Profile) BGPResources(run config.Run) []*unstructured.Unstructured {
	peer := cni.Object(BGPAPIVersion, "BGPPeer", PeerName, map[string]any{
		"peerIP":              run.BGP.RouterAddress,
		"asNumber":            run.BGP.RouterASN,
		"keepOriginalNextHop": true,
	})
	conf := cni.Object(BGPAPIVersion, "BGPConfiguration", BGPConfigurationName, map[string]any{
		"nodeToNodeMeshEnabled": false,
		"asNumber":              run.BGP.NodeASN,
	})
	return []*unstructured.Unstructured{peer, conf}
}
