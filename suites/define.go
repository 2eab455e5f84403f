package suites

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Feature labels, one per row of the compatibility matrix (framework/report).
const (
	FeatureConformance = "conformance"
	FeatureReadiness   = "readiness"
	FeaturePlacement   = "placement"
	FeatureCPToNode    = "cp-to-node"
	FeatureCPToPod     = "cp-to-pod"
	FeatureInstall     = "install"
	FeatureUpgrade     = "upgrade"
	FeatureDelete      = "delete"
	FeatureVXLAN       = "vxlan"
	FeatureIPAM        = "ipam"
	FeatureIPv4        = "ipv4"
	FeatureMasquerade  = "masquerade"
	FeatureBGP         = "bgp"
)

func feature(names ...string) Labels {
	l := Labels{}
	for _, n := range names {
		l = append(l, "feature:"+n)
	}
	return l
}

// runLabels are the labels of every spec of a run.
func runLabels(r config.Run) Labels {
	l := Labels{"cni:" + r.CNI.Name, "version:" + r.CNI.Version, "run:" + r.Name}
	if r.CNI.UpgradeTo != "" {
		l = append(l, "upgrade-to:"+r.CNI.UpgradeTo)
	}
	return l
}

// define registers the specs of one run: an ordered container that
// provisions the cluster, installs the CNI, checks it, upgrades it, rolls it
// back and deletes it.
func define(r config.Run) {
	w := &world{run: r}
	Describe(fmt.Sprintf("%s %s", r.CNI.Name, r.CNI.Version), Ordered, ContinueOnFailure, runLabels(r), func() {
		BeforeAll(w.provision, NodeTimeout(w.provisionTimeout()))
		AfterEach(w.diagnoseFailure)

		Context("before the CNI", func() {
			It("readiness: hybrid nodes are NotReady without a CNI", feature(FeatureReadiness), w.nodesNotReady, specTimeout())
		})
		Context("install", func() {
			It(fmt.Sprintf("install: helm install %s %s", r.CNI.Name, r.CNI.Version), feature(FeatureInstall), w.install, specTimeout())
			It("readiness: hybrid nodes turn Ready once the CNI runs", feature(FeatureReadiness), w.nodesReady, specTimeout())
			It("placement: an agent on every hybrid node and none on cloud nodes", feature(FeaturePlacement), w.placement, specTimeout())
		})
		Context("ipam", func() {
			It(fmt.Sprintf("ipam: one /%d block per hybrid node inside %s, no overlap, disjoint from %s",
				r.Network.BlockSize, r.Network.PodCIDR, r.Network.NodeCIDR), feature(FeatureIPAM, FeatureIPv4), w.ipamBlocks, specTimeout())
			It("ipam: every pod address inside its node's block", feature(FeatureIPAM, FeatureIPv4), w.ipamPods, specTimeout())
		})
		Context("connectivity", func() {
			It("pod-to-pod/same-node", feature(FeatureConformance), w.podToPodSameNode, specTimeout())
			if overlay(r) {
				It("pod-to-pod/cross-node over VXLAN", feature(FeatureConformance, FeatureVXLAN), w.podToPodCrossNode, specTimeout())
			} else {
				It("pod-to-pod/cross-node (routed, no overlay)", feature(FeatureConformance), w.podToPodCrossNode, specTimeout())
			}
			It("pod-to-service/cluster-ip", feature(FeatureConformance), w.podToClusterIP, specTimeout())
			It("pod-to-service/dns", feature(FeatureConformance), w.podToServiceDNS, specTimeout())
			It("node-to-pod", feature(FeatureConformance), w.nodeToPod, specTimeout())
			It("pod-to-node", feature(FeatureConformance), w.podToNode, specTimeout())
			It("pod-to-external: the on-prem host", feature(FeatureConformance), w.podToExternal, specTimeout())
		})
		Context("control plane", func() {
			It("control-plane-to-node: logs and exec", feature(FeatureCPToNode), w.controlPlaneToNode, specTimeout())
			It("control-plane-to-pod: API proxy and port-forward", feature(FeatureCPToPod), w.controlPlaneToPod, specTimeout())
			It("control-plane-to-pod: a webhook served from a hybrid node", feature(FeatureCPToPod), w.webhookOnHybridNode, specTimeout())
		})
		Context("masquerade", func() {
			It(masqueradeSpecName(r), feature(FeatureMasquerade), w.masquerade, specTimeout())
		})
		Context("bgp", func() {
			It("bgp: resources applied as the guide gives them", feature(FeatureBGP), w.bgpResources, specTimeout())
			It("bgp: a session from every hybrid node to the router", feature(FeatureBGP), w.bgpSessions, specTimeout())
			It("bgp: each node's pod block with the node as next hop", feature(FeatureBGP), w.bgpPodBlocks, specTimeout())
			It("bgp: service addresses advertised (ClusterIP, ExternalIP, LoadBalancerIP)", feature(FeatureBGP), w.bgpServices, specTimeout())
			It("bgp: a deleted service is withdrawn", feature(FeatureBGP), w.bgpWithdrawal, specTimeout())
			It("bgp: routes retained across an agent restart (graceful restart)", feature(FeatureBGP), w.bgpGracefulRestart, specTimeout())
		})
		Context("upgrade", func() {
			It(upgradeSpecName(r), feature(FeatureUpgrade), w.upgrade, SpecTimeout(w.upgradeTimeout()))
			It("rollback: to the first revision, then ready again", feature(FeatureUpgrade), w.rollback, specTimeout())
		})
		Context("delete", func() {
			It("delete: helm uninstall", feature(FeatureDelete), w.uninstall, specTimeout())
			It("delete: report what stays on each node", feature(FeatureDelete), w.leftovers, specTimeout())
			It("delete: cleanup removes the CRDs and files", feature(FeatureDelete), w.cleanup, specTimeout())
		})
	})
}

// overlay reports whether the CNI carries cross-node pod traffic in VXLAN,
// as the guide configures Cilium and Calico; kube-router routes it.
func overlay(r config.Run) bool { return r.CNI.Name != config.KubeRouter }

func masqueradeSpecName(r config.Run) string {
	if r.Network.Masquerade {
		return "masquerade: the on-prem host sees the node address (masquerading on)"
	}
	return "masquerade: the on-prem host sees the pod address (masquerading off)"
}

func upgradeSpecName(r config.Run) string {
	if r.CNI.UpgradeTo == "" {
		return "upgrade: along the planned hops with the disruption meter"
	}
	return fmt.Sprintf("upgrade: %s -> %s along the planned hops with the disruption meter", r.CNI.Version, r.CNI.UpgradeTo)
}
