package suites

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
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
	return c
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
		Expect(blocks[n.Name]).NotTo(BeEmpty(), "node %s has no pod block", n.Name)
		want[n] = blocks[n.Name]
	}
	// Only routes inside the pod CIDR are pod blocks; service addresses are checked apart.
	Expect(w.checker().ExactBlocks(ctx, want, w.run.Network.PodCIDR)).To(Succeed())
}

// bgpServices: the guide's advertisement covers ClusterIP, ExternalIP and
// LoadBalancerIP; the router must learn the service's ClusterIP as a /32.
func (w *world) bgpServices(ctx SpecContext) {
	wl := w.dataplane(ctx)
	Expect(w.checker().ServiceAdvertised(ctx, wl.serviceIP, w.env.RouterNodes()...)).To(Succeed())
}

// bgpWithdrawal: deleting the service withdraws its address.
func (w *world) bgpWithdrawal(ctx SpecContext) {
	w.dataplane(ctx)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-withdraw-" + w.phase.Name, Namespace: workloadNamespace, Labels: map[string]string{"advertise": "bgp"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{labelApp: "hybridcni-echo"}, Ports: []corev1.ServicePort{{Port: echoHTTPPort}}},
	}
	created, err := w.env.Kube.CoreV1().Services(workloadNamespace).Create(ctx, svc, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	prefix := created.Spec.ClusterIP + "/32"
	Expect(w.checker().ServiceAdvertised(ctx, created.Spec.ClusterIP, w.env.RouterNodes()...)).To(Succeed())
	Expect(w.env.Kube.CoreV1().Services(workloadNamespace).Delete(ctx, svc.Name, metav1.DeleteOptions{})).To(Succeed())
	for _, n := range w.env.RouterNodes() {
		Expect(w.checker().PrefixWithdrawn(ctx, n, prefix)).To(Succeed())
	}
}

// bgpGracefulRestart: restarting a node's agent keeps its routes on the
// router (graceful restart, restart time 120 s) until the session is back.
func (w *world) bgpGracefulRestart(ctx SpecContext) {
	w.dataplane(ctx)
	ipam, err := w.readIPAM(ctx)
	Expect(err).NotTo(HaveOccurred())
	blocks := ipam.Blocks
	n := w.env.RouterNodes()[0]
	Expect(blocks[n.Name]).NotTo(BeEmpty(), "node %s has no pod block to retain", n.Name)
	ns, agent, err := w.agentPodOn(ctx, n.Name)
	Expect(err).NotTo(HaveOccurred())
	By(fmt.Sprintf("deleting agent pod %s on %s", agent, n.Name))
	at := time.Now()
	Expect(w.env.Kube.CoreV1().Pods(ns).Delete(ctx, agent, metav1.DeleteOptions{})).To(Succeed())
	// Retained while the agent is away, then advertised again by the new one.
	Expect(w.checker().GracefulRestart(ctx, n, at, blocks[n.Name]...)).To(Succeed())
}
