// Package kuberouter is the kube-router profile: the reference CNI of the
// offline kind tier, installed from this project's own chart
// (fixtures/charts/kube-router) with an image built here
// (hack/kube-router-image.sh). It stands in for Cilium and Calico where their
// images cannot be had: agents on hybrid nodes only, each node's pod CIDR
// advertised by BGP to the on-prem router, masquerading on or off.
package kuberouter

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Name is the CNI's name in a run (cni.name).
const Name = "kube-router"

// Chart, release and image.
const (
	ChartName   = "kube-router"
	ReleaseName = "kube-router"
	Namespace   = "kube-system"
	// Version is the kube-router the chart and image are built for
	// (tools/kube-router/go.mod).
	Version = "v2.1.0"
	// ChartDir is the chart's folder, relative to the repository root.
	ChartDir = "fixtures/charts/kube-router"
	// ImageRepo is where hack/kube-router-image.sh tags the image.
	ImageRepo = "hybridcni/kube-router"
)

// Image is the local image reference of the agent.
func Image() string { return ImageRepo + ":" + Version }

// Profile is the kube-router profile.
type Profile struct{}

func init() { cni.Register(Profile{}) }

var _ cni.Profile = Profile{}

// Name implements cni.Profile.
func (Profile) Name() string { return Name }

// ChartName implements cni.Profile.
func (Profile) ChartName() string { return ChartName }

// ReleaseName implements cni.Profile.
func (Profile) ReleaseName() string { return ReleaseName }

// Namespace implements cni.Profile.
func (Profile) Namespace() string { return Namespace }

// Values turn a run into the chart's values: the local image (never pulled),
// the hybrid node label, masquerading, the service CIDR, the nodes' ASN (for
// their iBGP mesh) and, when BGP is on, the router as the only peer and
// service addresses advertised.
func (Profile) Values(run config.Run) map[string]any {
	v := map[string]any{
		"image": map[string]any{"repository": ImageRepo, "tag": Version, "pullPolicy": "Never"},
		"hybridNodeLabel": map[string]any{
			"key": cni.HybridLabel, "value": cni.HybridValue,
		},
		"masquerade":  run.Network.Masquerade,
		"serviceCIDR": run.Network.ServiceCIDR,
	}
	bgp := map[string]any{"enabled": run.BGP.Enabled, "clusterASN": run.BGP.NodeASN}
	if run.BGP.Enabled {
		bgp["peers"] = []any{map[string]any{"address": run.BGP.RouterAddress, "asn": run.BGP.RouterASN}}
		// As the guide's Cilium advertisement: service addresses too.
		bgp["advertiseClusterIP"] = true
		bgp["advertiseExternalIP"] = true
		bgp["advertiseLoadBalancerIP"] = true
		v["loadBalancerIPRange"] = cni.LoadBalancerPoolCIDR
	}
	v["bgp"] = bgp
	return v
}

// BGPResources implements cni.Profile: kube-router takes its peering from
// flags (rendered from Values), so there are no BGP objects to apply.
func (Profile) BGPResources(config.Run) []*unstructured.Unstructured { return nil }
