// Package cilium is the Cilium profile for hybrid nodes: the Helm values and
// BGP resources of the EKS hybrid-nodes guide, and a check that rendered
// objects carry them.
package cilium

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Chart and release as the guide installs them.
const (
	ChartName   = "cilium"
	ReleaseName = "cilium"
	Namespace   = "kube-system"
)

// DefaultBGPAPIVersion is the API version of the BGP resources in the guide.
// Cilium 1.18 and later store them as cilium.io/v2 (BGPAPIVersionFor): a
// profile writes them in the version the run's Cilium stores unless told
// otherwise (the driver asks API discovery).
const DefaultBGPAPIVersion = "cilium.io/v2alpha1"

// Names of the BGP resources, as in the guide.
const (
	ClusterConfigName  = "cilium-bgp"
	PeerConfigName     = "cilium-peer"
	AdvertisementName  = "bgp-advertisements"
	InstanceName       = "rack0"
	RouterPeerName     = "onprem-router"
	AdvertiseLabel     = "advertise"
	AdvertiseLabelBGP  = "bgp"
	HoldTimeSeconds    = 30
	KeepAliveSeconds   = 10
	RestartTimeSeconds = 120
)

// Profile is the Cilium profile.
type Profile struct {
	bgpAPIVersion string
}

// Option configures a Profile.
type Option func(*Profile)

// WithBGPAPIVersion sets the API version of the BGP resources (e.g. cilium.io/v2).
func WithBGPAPIVersion(v string) Option { return func(p *Profile) { p.bgpAPIVersion = v } }

// New returns a Cilium profile.
func New(opts ...Option) *Profile {
	p := &Profile{}
	for _, o := range opts {
		o(p)
	}
	return p
}

func init() { cni.Register(New()) }

var _ cni.Profile = (*Profile)(nil)

// Name implements cni.Profile.
func (*Profile) Name() string { return config.Cilium }

// ChartName implements cni.Profile.
func (*Profile) ChartName() string { return ChartName }

// ReleaseName implements cni.Profile.
func (*Profile) ReleaseName() string { return ReleaseName }

// Namespace implements cni.Profile.
func (*Profile) Namespace() string { return Namespace }

// BGPAPIVersion is the API version the BGP resources are written in: the one
// set with WithBGPAPIVersion, else the guide's.
func (p *Profile) BGPAPIVersion() string {
	if p.bgpAPIVersion == "" {
		return DefaultBGPAPIVersion
	}
	return p.bgpAPIVersion
}

// Values are the guide's values: agent and operator only on hybrid nodes,
// cluster-pool IPAM carved from the pod CIDR, VXLAN tunnel, masquerading and
// the BGP control plane as the run says, no Envoy DaemonSet, and no restarts
// of pods Cilium does not manage. routingMode and tunnelProtocol are set
// explicitly: 1.16 charts only default to a VXLAN tunnel when routingMode is
// empty, 1.17 charts default each value on its own.
func (*Profile) Values(run config.Run) map[string]any {
	return map[string]any{
		"affinity": cni.HybridNodeAffinity(),
		"ipam": map[string]any{
			"mode": "cluster-pool",
			"operator": map[string]any{
				"clusterPoolIPv4PodCIDRList": []any{run.Network.PodCIDR},
				"clusterPoolIPv4MaskSize":    run.Network.BlockSize,
			},
		},
		"operator": map[string]any{
			"affinity":            cni.HybridNodeAffinity(),
			"unmanagedPodWatcher": map[string]any{"restart": false},
		},
		"envoy":                map[string]any{"enabled": false},
		"routingMode":          "tunnel",
		"tunnelProtocol":       "vxlan",
		"enableIPv4Masquerade": run.Network.Masquerade,
		"bgpControlPlane":      map[string]any{"enabled": run.BGP.Enabled},
	}
}

// BGPResources are the guide's CiliumBGPClusterConfig, CiliumBGPPeerConfig
// and CiliumBGPAdvertisement, in the version the run's Cilium stores (unless
// WithBGPAPIVersion says otherwise): the hybrid nodes (localASN = node ASN) peer
// with the on-prem router (peerASN = router ASN) and advertise their pod
// CIDRs and service addresses.
func (p *Profile) BGPResources(run config.Run) []*unstructured.Unstructured {
	apiVersion := p.bgpAPIVersion
	if apiVersion == "" {
		apiVersion = BGPAPIVersionFor(run.CNI.Version)
	}
	hybrid := map[string]any{"matchExpressions": []any{map[string]any{
		"key": cni.HybridLabel, "operator": "In", "values": []any{cni.HybridValue},
	}}}
	cluster := cni.Object(apiVersion, "CiliumBGPClusterConfig", ClusterConfigName, map[string]any{
		"nodeSelector": hybrid,
		"bgpInstances": []any{map[string]any{
			"name":     InstanceName,
			"localASN": run.BGP.NodeASN,
			"peers": []any{map[string]any{
				"name":          RouterPeerName,
				"peerASN":       run.BGP.RouterASN,
				"peerAddress":   run.BGP.RouterAddress,
				"peerConfigRef": map[string]any{"name": PeerConfigName},
			}},
		}},
	})
	peer := cni.Object(apiVersion, "CiliumBGPPeerConfig", PeerConfigName, map[string]any{
		"timers": map[string]any{
			"holdTimeSeconds":      int64(HoldTimeSeconds),
			"keepAliveTimeSeconds": int64(KeepAliveSeconds),
		},
		"gracefulRestart": map[string]any{"enabled": true, "restartTimeSeconds": int64(RestartTimeSeconds)},
		"families": []any{map[string]any{
			"afi": "ipv4", "safi": "unicast",
			"advertisements": map[string]any{"matchLabels": map[string]any{AdvertiseLabel: AdvertiseLabelBGP}},
		}},
	})
	adv := cni.Object(apiVersion, "CiliumBGPAdvertisement", AdvertisementName, map[string]any{
		"advertisements": []any{
			map[string]any{"advertisementType": "PodCIDR"},
			// As the guide writes it: no selector (see ServiceAdvertisementFix).
			map[string]any{
				"advertisementType": "Service",
				"service":           map[string]any{"addresses": []any{"ClusterIP", "ExternalIP", "LoadBalancerIP"}},
			},
		},
	})
	adv.SetLabels(map[string]string{AdvertiseLabel: AdvertiseLabelBGP})
	return []*unstructured.Unstructured{cluster, peer, adv}
}

// ServiceAdvertisementFix implements cni.GuideFixer: Cilium's BGP API says
// a Service advertisement without a selector selects no service (1.16 to
// 1.18 return no prefixes for it), so the guide's CiliumBGPAdvertisement, as
// written, advertises no service address. The fix is a selector matching
// every service.
func (p *Profile) ServiceAdvertisementFix(run config.Run) ([]*unstructured.Unstructured, string) {
	objs := p.BGPResources(run)
	adv := cni.Find(objs, "CiliumBGPAdvertisement", AdvertisementName)
	adverts, _, _ := unstructured.NestedSlice(adv.Object, "spec", "advertisements")
	for _, a := range adverts {
		if m := a.(map[string]any); m["advertisementType"] == "Service" {
			m["selector"] = map[string]any{"matchExpressions": []any{map[string]any{
				"key": "somekey", "operator": "NotIn", "values": []any{"never-used-value"},
			}}}
		}
	}
	_ = unstructured.SetNestedSlice(adv.Object, adverts, "spec", "advertisements")
	return objs, "CiliumBGPAdvertisement " + AdvertisementName + ": the Service advertisement given a selector that matches every service " +
		"(selector: {matchExpressions: [{key: somekey, operator: NotIn, values: [never-used-value]}]})"
}

// The offline kind tier's Cilium: the versions the Go module proxy serves,
// built by hack/cilium-image.sh into OfflineImages, which the real chart
// uses with OfflineValuesFile (relative to the repository root). The script
// also packages each module's own chart into OfflineChartDir (under the
// cache root), where an upgrade run finds both versions.
const (
	OfflineVersion    = "1.16.19"
	OfflineUpgradeTo  = "1.17.0"
	OfflineValuesFile = "fixtures/values/cilium-offline.yaml"
	OfflineChartDir   = "cilium/charts"
)

// OfflineVersions are every version hack/cilium-image.sh builds, oldest
// first (the Makefile's OFFLINE_CILIUM_VERSIONS; one per row of BGPAPIs).
var OfflineVersions = []string{"1.16.19", "1.17.0", "1.18.0", "1.19.6", "1.20.2"}

// OfflineImages are the agent and operator images of the offline tier at
// version (default OfflineVersion).
func OfflineImages(version ...string) []string {
	v := OfflineVersion
	if len(version) > 0 {
		v = version[0]
	}
	return []string{"hybridcni/cilium:v" + v, "hybridcni/cilium-operator-generic:v" + v}
}
