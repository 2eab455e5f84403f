package suites

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/router"
)

// bgpResources: what the cluster holds is what the guide gives.
func (w *world) bgpResources(ctx SpecContext) {
	objs, err := w.driver.BGPResources(ctx)
	Expect(err).NotTo(HaveOccurred())
	want := w.driver.Profile().BGPResources(w.run)
	Expect(want).NotTo(BeEmpty(), "the %s profile gives no BGP resources and states no reason (framework/cni Facts.NoBGPResources)", w.run.CNI.Name)
	for _, o := range want {
		var got *unstructured.Unstructured
		for _, g := range objs {
			if g.GetKind() == o.GetKind() && g.GetName() == o.GetName() {
				got = g
			}
		}
		Expect(got).NotTo(BeNil(), "%s %s is not in the cluster", o.GetKind(), o.GetName())
		Expect(cni.SpecDiff("spec", o.Object["spec"], got.Object["spec"])).To(BeEmpty(),
			"%s %s as applied departs from the guide (server defaults aside)", o.GetKind(), o.GetName())
	}
}

func (w *world) checker() *router.Checker {
	c := router.NewChecker(w.env.Router)
	c.Timeout = 3 * time.Minute
	// A line every few seconds while a session or prefix is awaited.
	c.Progress = GinkgoWriter
	return c
}

// serviceRouteTimeout bounds a service route's arrival or withdrawal on
// sessions already established: Cilium does either in about a second (2
// cores, every version 1.16.19 to 1.20.2), so a minute is a wide margin,
// and a fault that keeps a route from moving is caught in a minute, not in
// the three a session coming up may need.
const serviceRouteTimeout = time.Minute

// routeChecker is the checker for service routes on established sessions
// (after sessionsUp).
func (w *world) routeChecker() *router.Checker {
	c := w.checker()
	c.Timeout = serviceRouteTimeout
	return c
}

// sessionsUp waits (the checker's timeout) until every hybrid node's
// session is established, so the service route checks after it, and the
// guide's probe, time the CNI's answer to a service, not a session still
// coming up after an install or a hop.
func (w *world) sessionsUp(ctx SpecContext) {
	for _, n := range w.env.RouterNodes() {
		Expect(w.checker().PeerEstablished(ctx, n)).To(Succeed(), "the session of %s, before the service routes are checked", n)
	}
}

// bgpSessions: every hybrid node has an established session with the router.
func (w *world) bgpSessions(ctx SpecContext) {
	for _, n := range w.env.RouterNodes() {
		Expect(w.checker().PeerEstablished(ctx, n)).To(Succeed())
	}
}

// bgpPodBlocks: exactly each node's pod blocks, with that node as next hop.
func (w *world) bgpPodBlocks(ctx SpecContext) {
	w.dataplane(ctx)
	ipam, err := w.readIPAM(ctx)
	Expect(err).NotTo(HaveOccurred(), "read each node's pod blocks")
	blocks := ipam.Blocks
	want := router.NodeBlocks{}
	for _, n := range w.env.RouterNodes() {
		Expect(blocks[n.Name]).NotTo(BeEmpty(), "no pod block on node %s", n.Name)
		want[n] = blocks[n.Name]
	}
	// Only routes inside the pod CIDR are pod blocks; service addresses are checked apart.
	Expect(w.checker().ExactBlocks(ctx, want, w.run.Network.PodCIDR)).To(Succeed())
}

// bgpServices: every service address the CNI's configuration advertises
// (Facts.ServiceAddresses: ClusterIP, ExternalIP, LoadBalancerIP) is a /32
// from every hybrid node and no other peer, with the node as next hop.
func (w *world) bgpServices(ctx SpecContext) {
	w.dataplane(ctx)
	svcs := w.createAdvertisedServices(ctx, "adv")
	w.sessionsUp(ctx)
	w.guideServiceFix(ctx, svcs)
	for _, s := range svcs {
		By("checking " + s.String() + " is advertised by every hybrid node")
		Expect(w.routeChecker().AdvertisedByOnly(ctx, s.address+"/32", w.env.RouterNodes(), "")).To(Succeed(), "%s", s)
	}
}

// bgpWithdrawal: deleting a service of each advertised type withdraws its
// address from every peer, sessions kept.
func (w *world) bgpWithdrawal(ctx SpecContext) {
	w.dataplane(ctx)
	svcs := w.createAdvertisedServices(ctx, "wd")
	w.sessionsUp(ctx)
	w.guideServiceFix(ctx, svcs)
	for _, s := range svcs {
		Expect(w.routeChecker().AdvertisedByOnly(ctx, s.address+"/32", w.env.RouterNodes(), "")).To(Succeed(), "%s", s)
	}
	for _, s := range svcs {
		By("deleting " + s.String())
		Expect(w.env.Kube.CoreV1().Services(workloadNamespace).Delete(ctx, s.name, metav1.DeleteOptions{})).To(Succeed())
	}
	for _, s := range svcs {
		Expect(w.routeChecker().WithdrawnByAll(ctx, s.address+"/32")).To(Succeed(), "%s deleted", s)
	}
	for _, n := range w.env.RouterNodes() {
		Expect(w.checker().PeerEstablished(ctx, n)).To(Succeed(), "the session of %s after the withdrawal", n)
	}
}

// bgpParameters: each node's session as the router negotiated it: the
// node's AS, hold time 30 s and keepalive 10 s, graceful restart with
// restart time 120 s, IPv4 unicast. The topology's router runs a longer
// hold time (topologies: 90 s), so the negotiated one is the node's.
func (w *world) bgpParameters(ctx SpecContext) {
	nodes := w.env.RouterNodes()
	Expect(nodes).NotTo(BeEmpty(), "no hybrid node to check")
	want := router.GuidePeerParams(uint32(w.run.BGP.NodeASN))
	Expect(w.checker().PeerParametersAll(ctx, nodes, want)).To(Succeed())
}

// bgpGracefulRestart: restarting a node's agent keeps its routes on the
// router (graceful restart, restart time 120 s) until the session is back.
func (w *world) bgpGracefulRestart(ctx SpecContext) {
	w.dataplane(ctx)
	ipam, err := w.readIPAM(ctx)
	Expect(err).NotTo(HaveOccurred())
	blocks := ipam.Blocks
	n := w.env.RouterNodes()[0]
	Expect(blocks[n.Name]).NotTo(BeEmpty(), "no pod block to retain on node %s", n.Name)
	ns, agent, err := w.agentPodOn(ctx, n.Name)
	Expect(err).NotTo(HaveOccurred())
	By(fmt.Sprintf("deleting agent pod %s on %s", agent, n.Name))
	at := time.Now()
	Expect(w.env.Kube.CoreV1().Pods(ns).Delete(ctx, agent, metav1.DeleteOptions{})).To(Succeed())
	// Retained while the agent is away, then advertised again by the new one.
	Expect(w.checker().GracefulRestart(ctx, n, at, blocks[n.Name]...)).To(Succeed())
}
