package suites

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/router"
)

func (w *world) requireBGP() {
	if !w.run.BGP.Enabled {
		Skip("BGP is off in this run (bgp.enabled)")
	}
}

// bgpResources: what the cluster holds is what the guide gives.
func (w *world) bgpResources(ctx SpecContext) {
	w.requireBGP()
	w.requireInstalled()
	objs, err := w.driver.BGPResources(ctx)
	Expect(err).NotTo(HaveOccurred())
	want := w.driver.Profile().BGPResources(w.run)
	if len(want) == 0 {
		Skip(fmt.Sprintf("%s takes its BGP peering from its own configuration: no BGP resources to check", w.run.CNI.Name))
	}
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
	w.requireBGP()
	w.require(Router)
	w.requireInstalled()
	for _, n := range w.env.RouterNodes() {
		Expect(w.checker().PeerEstablished(ctx, n)).To(Succeed())
	}
}

// bgpPodBlocks: exactly each node's pod blocks, with that node as next hop.
func (w *world) bgpPodBlocks(ctx SpecContext) {
	w.requireBGP()
	w.require(Router, Dataplane)
	w.requireInstalled()
	blocks, err := nodeBlocks(ctx, w.env, w.run)
	Expect(err).NotTo(HaveOccurred(), "read each node's pod blocks")
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
	w.requireBGP()
	if w.run.CNI.Name == config.Calico {
		Skip("the guide's Calico configuration advertises pod CIDRs only (no BGPConfiguration.serviceClusterIPs)")
	}
	wl := w.dataplane(ctx, Router)
	Expect(w.checker().ServiceAdvertised(ctx, wl.serviceIP, w.env.RouterNodes()...)).To(Succeed())
}

// bgpWithdrawal: deleting the service withdraws its address.
func (w *world) bgpWithdrawal(ctx SpecContext) {
	w.requireBGP()
	if w.run.CNI.Name == config.Calico {
		Skip("the guide's Calico configuration advertises pod CIDRs only")
	}
	wl := w.dataplane(ctx, Router)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-withdraw", Namespace: workloadNamespace, Labels: map[string]string{"advertise": "bgp"}},
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
	_ = wl
}

// bgpGracefulRestart: restarting a node's agent keeps its routes on the
// router (graceful restart, restart time 120 s) until the session is back.
func (w *world) bgpGracefulRestart(ctx SpecContext) {
	w.requireBGP()
	w.require(Router, Dataplane)
	w.requireInstalled()
	blocks, err := nodeBlocks(ctx, w.env, w.run)
	Expect(err).NotTo(HaveOccurred())
	n := w.env.RouterNodes()[0]
	ns, agent, err := w.agentPodOn(ctx, n.Name)
	Expect(err).NotTo(HaveOccurred())
	By(fmt.Sprintf("deleting agent pod %s on %s", agent, n.Name))
	Expect(w.env.Kube.CoreV1().Pods(ns).Delete(ctx, agent, metav1.DeleteOptions{})).To(Succeed())
	Expect(w.checker().RoutesRetained(ctx, n, blocks[n.Name]...)).To(Succeed())
	Expect(w.checker().PeerEstablished(ctx, n)).To(Succeed())
}

// nodeBlocks reads each node's pod CIDR blocks from the CNI's IPAM objects:
// CiliumNode spec.ipam.podCIDRs, Calico BlockAffinity spec.cidr, or (for
// kube-router) the Node's spec.podCIDRs.
func nodeBlocks(ctx context.Context, env *Env, run config.Run) (map[string][]string, error) {
	dyn, err := dynamic.NewForConfig(env.REST)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	switch run.CNI.Name {
	case config.Cilium:
		list, err := dyn.Resource(schema.GroupVersionResource{Group: "cilium.io", Version: "v2", Resource: "ciliumnodes"}).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list CiliumNodes: %w", err)
		}
		for _, o := range list.Items {
			cidrs, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "ipam", "podCIDRs")
			out[o.GetName()] = append(out[o.GetName()], cidrs...)
		}
	case config.KubeRouter:
		// kube-router takes each node's pod CIDR from the controller manager.
		nodes, err := env.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		for _, n := range nodes.Items {
			out[n.Name] = append(out[n.Name], n.Spec.PodCIDRs...)
		}
	case config.Calico:
		list, err := dyn.Resource(schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "blockaffinities"}).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list Calico BlockAffinities: %w", err)
		}
		for _, o := range list.Items {
			node, _, _ := unstructured.NestedString(o.Object, "spec", "node")
			cidr, _, _ := unstructured.NestedString(o.Object, "spec", "cidr")
			state, _, _ := unstructured.NestedString(o.Object, "spec", "state")
			if state == "" || state == "confirmed" {
				out[node] = append(out[node], cidr)
			}
		}
	default:
		return nil, fmt.Errorf("no IPAM reader for CNI %q", run.CNI.Name)
	}
	for node, cidrs := range out {
		for _, c := range cidrs {
			if _, err := netip.ParsePrefix(c); err != nil {
				return nil, fmt.Errorf("node %s: pod block %q is not a CIDR", node, c)
			}
		}
	}
	return out, nil
}
