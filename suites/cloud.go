package suites

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridcni/hybridcni/framework/cloudcni"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/webhook"
)

// The cloud side of the cluster: a cloud worker's echo pod and webhook.
const (
	cloudEchoApp = "hybridcni-echo-cloud"
	webhookCloud = "hybridcni-webhook-cloud"
)

// placementCloudCNI: the cloud CNI runs on every cloud node (the control
// plane included) and on no hybrid node, so it never competes with the
// hybrid CNI there; the hybrid CNI's side is the placement check.
func (w *world) placementCloudCNI(ctx SpecContext) {
	wrong, seen, err := cloudcni.CheckPlacement(ctx, w.env.Kube)
	Expect(err).NotTo(HaveOccurred())
	Expect(wrong).To(BeEmpty(), "placement of the cloud CNI: %s", strings.Join(wrong, "; "))
	// Every cloud node was judged above; a judgement over none proves nothing.
	Expect(seen).To(BeNumerically(">=", len(w.cloudWorkers(ctx))), "cloud nodes where the cloud CNI has a pod")
	AddReportEntry("cloud CNI", fmt.Sprintf("%s on %d cloud nodes, none on the %d hybrid nodes", cloudcni.Name, seen, len(w.env.HybridNodes())))
}

// cloudWorkers are the nodes where the cloud CNI hosts pods: neither hybrid
// nor the control plane. A run with a cloud node must have one.
func (w *world) cloudWorkers(ctx context.Context) []string {
	nodes, err := w.env.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for i := range nodes.Items {
		if cloudcni.Worker(&nodes.Items[i]) {
			out = append(out, nodes.Items[i].Name)
		}
	}
	Expect(out).NotTo(BeEmpty(), "the run has a cloud node (nodes.cloud), but the cluster has no cloud worker")
	return out
}

// cloudEcho runs an echo pod on the first cloud worker (once per run) and
// returns it once it runs with an address from the cloud CNI's range.
func (w *world) cloudEcho(ctx context.Context) echoPod {
	node := w.cloudWorkers(ctx)[0]
	spec := w.echoPodSpec(node, "cloud")
	spec.Labels = map[string]string{labelApp: cloudEchoApp, labelNode: node}
	pods := w.env.Kube.CoreV1().Pods(workloadNamespace)
	if _, err := pods.Create(ctx, spec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred(), "create the echo pod on cloud node %s", node)
	}
	var p *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		p, err = pods.Get(ctx, spec.Name, metav1.GetOptions{})
		return err == nil && cni.PodReady(p) && p.Status.PodIP != "", nil
	})
	Expect(err).NotTo(HaveOccurred(), "echo pod %s on cloud node %s never became ready", spec.Name, node)
	ip, err := cloudcni.InternalIP(mustNode(ctx, w, node))
	Expect(err).NotTo(HaveOccurred())
	Expect(cloudcni.PodCIDR.Contains(netip.MustParseAddr(p.Status.PodIP))).To(BeTrue(),
		"echo pod %s on cloud node %s has %s, outside the cloud CNI's range %s", p.Name, node, p.Status.PodIP, cloudcni.PodCIDR)
	return echoPod{Name: p.Name, Node: node, NodeIP: ip.String(), IP: p.Status.PodIP}
}

// podToPodCloudToHybrid: a pod on a cloud node reaches a pod on every
// hybrid node exactly when the cloud side routes the hybrid pod CIDRs
// (through the on-prem router: the EKS remote pod network); when it does
// not, every pair must fail, and the check says it expects that.
func (w *world) podToPodCloudToHybrid(ctx SpecContext) {
	wl := w.dataplane(ctx)
	src := w.cloudEcho(ctx)
	routable := w.podsRoutableFromControlPlane()
	var targets []probe.Target
	for _, node := range wl.order {
		targets = append(targets, target(wl.pods[node][0]))
	}
	exps := cloudcni.CloudToHybrid(w.source(src), src.Node, src.NodeIP, targets, routable)
	if !routable {
		AddReportEntry("expected failure", fmt.Sprintf("hybrid pod CIDR %s is not routable from the cloud side (no remote pod network route): "+
			"every cloud pod -> hybrid pod probe must fail", w.run.Network.PodCIDR))
	}
	w.probe(ctx, exps...)
}

// podToPodHybridToCloud: a pod on every hybrid node reaches the cloud pod
// (through the router, as on-prem reaches a VPC) exactly when the answer
// can come back: to the hybrid node's address when the hybrid CNI
// masquerades, to the pod's own only through the remote pod network; with
// neither, every pair must fail, and the check says it expects that.
func (w *world) podToPodHybridToCloud(ctx SpecContext) {
	wl := w.dataplane(ctx)
	dst := w.cloudEcho(ctx)
	routable, masq := w.podsRoutableFromControlPlane(), w.run.Network.Masquerade
	var srcs []probe.Source
	for _, node := range wl.order {
		srcs = append(srcs, w.source(wl.pods[node][0]))
	}
	if !routable && !masq {
		AddReportEntry("expected failure", fmt.Sprintf("masquerading off and hybrid pod CIDR %s not routable from the cloud side: "+
			"no cloud pod's answer can reach a hybrid pod, every probe must fail", w.run.Network.PodCIDR))
	}
	w.probe(ctx, cloudcni.HybridToCloud(srcs, target(dst), routable, masq)...)
}

// webhookOnCloudNode serves the webhook from a pod on a cloud node: the
// control plane reaches cloud pods whatever the hybrid side routes, so
// admission consults it in every run. With hybrid pods unroutable this is
// the guide's fallback, beside the hybrid node's webhook that must fail
// (control-plane-to-pod/webhook).
func (w *world) webhookOnCloudNode(ctx SpecContext) {
	w.dataplane(ctx)
	node := w.cloudWorkers(ctx)[0]
	cms, cm, where := w.serveWebhook(ctx, webhookCloud, node)
	where += " (a cloud node)"
	_, err := cms.Create(ctx, cm(webhook.RejectName), metav1.CreateOptions{})
	Expect(err).To(HaveOccurred(), "the webhook %s was not consulted: the marker ConfigMap was admitted", where)
	Expect(err.Error()).To(ContainSubstring(webhook.RejectMessage), "admission through the webhook %s failed, but not by its answer", where)
	allow := webhookCloud + "-allow"
	_, err = cms.Create(ctx, cm(allow), metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred(), "the webhook %s must admit an ordinary ConfigMap: the control plane reaches cloud pods", where)
	_ = cms.Delete(ctx, allow, metav1.DeleteOptions{})
	if !w.podsRoutableFromControlPlane() {
		AddReportEntry("fallback", "hybrid pods are not routable: the webhook on cloud node "+node+" works, as the guide advises")
	}
}

func mustNode(ctx context.Context, w *world, name string) *corev1.Node {
	n, err := w.env.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	return n
}

// The cloud side's check bodies, beside the others in bodies.
func init() {
	bodies["placement/cloud-cni"] = (*world).placementCloudCNI
	bodies["pod-to-pod/cloud-to-hybrid"] = (*world).podToPodCloudToHybrid
	bodies["pod-to-pod/hybrid-to-cloud"] = (*world).podToPodHybridToCloud
	bodies["control-plane-to-pod/webhook-cloud"] = (*world).webhookOnCloudNode
}
