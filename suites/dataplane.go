package suites

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/progress"
)

// dataplane readies a dataplane spec: capabilities, the CNI, the workload.
func (w *world) dataplane(ctx context.Context) *workload {
	w.require(Dataplane)
	w.requireInstalled()
	if w.workload == nil {
		wl, err := w.deployWorkload(ctx)
		Expect(err).NotTo(HaveOccurred(), "deploy the echo workload on the hybrid nodes")
		if !w.facts().Overlay && w.env.Has(NodeShell) {
			Expect(w.waitPodRoutes(ctx, wl)).To(Succeed(), "routed pod CIDRs")
		}
		w.workload = wl
	}
	return w.workload
}

// routedVia reports whether `ip -o route get` output sends the packet to
// the gateway gw.
func routedVia(out, gw string) bool {
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			return f[i+1] == gw
		}
	}
	return false
}

// waitPodRoutes waits (bounded) until, with no overlay, every hybrid node
// routes each other node's pods via that node: the CNI's routes (learned
// over BGP, for kube-router) are a precondition of the dataplane specs, and
// can follow the agents' readiness by seconds.
func (w *world) waitPodRoutes(ctx context.Context, wl *workload) error {
	start := time.Now()
	var last string
	pw := progress.Start(GinkgoWriter, "pod routes via their nodes", progress.Limit(2*time.Minute))
	defer pw.Done()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, node := range wl.order {
			for _, other := range wl.order {
				if other == node {
					continue
				}
				to := wl.pods[other][0]
				out, err := w.env.NodeExec(ctx, node, "ip", "-o", "route", "get", to.IP)
				if err != nil || !routedVia(out, to.NodeIP) {
					last = fmt.Sprintf("node %s routes pod %s (%s, on %s) as %q, not via %s", node, to.Name, to.IP, other, strings.TrimSpace(out), to.NodeIP)
					pw.Update(last)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("pod routes not in place within 2 minutes: %s: %w", last, err)
	}
	AddReportEntry("pod-routes", fmt.Sprintf("every hybrid node routes the others' pods via their node after %s", time.Since(start).Round(100*time.Millisecond)))
	return nil
}

// probe runs the expectations in parallel and fails with the OK/ERROR
// table; an expectation that never ran fails it too.
func (w *world) probe(ctx context.Context, exps ...probe.Expectation) {
	Expect(exps).NotTo(BeEmpty(), "no probe to run: the check would pass on nothing")
	c := probe.NewCheck(probe.WithLogf(func(f string, a ...any) { fmt.Fprintf(GinkgoWriter, f+"\n", a...) }))
	Expect(c.Expect(exps...)).To(Succeed())
	rep := c.Run(ctx)
	table := rep.Table()
	w.tables = append(w.tables, CurrentSpecReport().LeafNodeText+"\n"+table)
	AddReportEntry("probes", table)
	Expect(rep.Err()).NotTo(HaveOccurred(), "\n%s", table)
}

func (w *world) podToPodSameNode(ctx SpecContext) {
	wl := w.dataplane(ctx)
	var exps []probe.Expectation
	for _, node := range wl.order {
		a, b := wl.pods[node][0], wl.pods[node][1]
		exps = append(exps, probe.ExpectSuccess("pod-to-pod/same-node", w.source(a), target(b), probe.WithSource(a.IP, "pod IP: no NAT inside the cluster")))
	}
	w.probe(ctx, exps...)
}

func (w *world) podToPodCrossNode(ctx SpecContext) {
	wl := w.dataplane(ctx)
	w.probe(ctx, w.crossNodePairs(wl)...)
}

// crossNodePairs are pod-to-pod expectations for every ordered pair of
// hybrid nodes: N(N-1) of them.
func (w *world) crossNodePairs(wl *workload) []probe.Expectation {
	var exps []probe.Expectation
	for _, node := range wl.order {
		for _, other := range wl.order {
			if other == node {
				continue
			}
			a, b := wl.pods[node][0], wl.pods[other][1]
			exps = append(exps, probe.ExpectSuccess("pod-to-pod/cross-node", w.source(a), target(b), probe.WithSource(a.IP, "pod IP: no NAT inside the cluster")))
		}
	}
	return exps
}

// vxlanEncapsulated: cross-node pod traffic leaves every node through its
// VXLAN device: each device's transmit counter moves by at least the
// probes' packets while every pair is probed.
func (w *world) vxlanEncapsulated(ctx SpecContext) {
	wl := w.dataplane(ctx)
	before := map[string]uint64{}
	for _, node := range wl.order {
		n, err := w.vxlanTxPackets(ctx, node)
		Expect(err).NotTo(HaveOccurred(), "read the VXLAN devices' counters on node %s", node)
		before[node] = n
	}
	w.probe(ctx, w.crossNodePairs(wl)...)
	var flat []string
	for _, node := range wl.order {
		n, err := w.vxlanTxPackets(ctx, node)
		Expect(err).NotTo(HaveOccurred(), "read the VXLAN devices' counters on node %s", node)
		// Each node sent at least one request per peer (a TCP handshake is 3+ packets).
		if n-before[node] < uint64(len(wl.order)-1) {
			flat = append(flat, fmt.Sprintf("node %s: VXLAN transmit counter moved by %d during %d cross-node probes", node, n-before[node], len(wl.order)-1))
		}
	}
	Expect(flat).To(BeEmpty(), "cross-node pod traffic is not encapsulated in VXLAN:\n%s", strings.Join(flat, "\n"))
}

// vxlanTxPackets sums the transmit packet counters of a node's VXLAN devices.
func (w *world) vxlanTxPackets(ctx context.Context, node string) (uint64, error) {
	out, err := w.env.NodeExec(ctx, node, "sh", "-c",
		`set -e; n=0; found=; for d in $(ip -o link show type vxlan | awk -F': ' '{print $2}' | cut -d@ -f1); do found=1; n=$((n + $(cat /sys/class/net/$d/statistics/tx_packets))); done; [ -n "$found" ] || { echo "no VXLAN device" >&2; exit 3; }; echo $n`)
	if err != nil {
		return 0, err
	}
	var n uint64
	if _, err := fmt.Sscan(strings.TrimSpace(out), &n); err != nil {
		return 0, fmt.Errorf("node %s: VXLAN counter %q: %w", node, out, err)
	}
	return n, nil
}

func (w *world) podToClusterIP(ctx SpecContext) {
	wl := w.dataplane(ctx)
	var exps []probe.Expectation
	for i, node := range wl.order {
		b := wl.pods[node][1]
		exps = append(exps, probe.ExpectSuccess("pod-to-service/cluster-ip", w.source(b),
			probe.HTTPTarget("service/"+echoService, wl.serviceIP, echoHTTPPort, "/clientip")))
		if len(wl.order) > 1 {
			// A service whose only backend is on the next node: the cross-node service path.
			other := wl.order[(i+1)%len(wl.order)]
			exps = append(exps, probe.ExpectSuccess("pod-to-service/remote-backend", w.source(b),
				probe.HTTPTarget("service/"+nodeServiceName(other), wl.nodeServiceIP[other], echoHTTPPort, "/clientip")))
		}
	}
	w.probe(ctx, exps...)
}

func (w *world) podToServiceDNS(ctx SpecContext) {
	wl := w.dataplane(ctx)
	if !w.run.Network.Masquerade && !w.podsRoutableFromControlPlane() {
		Skip("masquerading off and pod CIDRs not routable from the control plane (allowUnroutablePods): CoreDNS on hybrid nodes cannot reach the API server (no route back to pod addresses), so cluster DNS is down")
	}
	Expect(w.waitServiceReady(ctx, "kube-system", "kube-dns")).To(Succeed(), "cluster DNS")
	var sources []probe.Source
	for _, node := range wl.order {
		sources = append(sources, w.source(wl.pods[node][1]))
	}
	Expect(w.waitClusterDNS(ctx, sources)).To(Succeed(), "cluster DNS")
	name := fmt.Sprintf("%s.%s.svc.cluster.local", echoService, workloadNamespace)
	var exps []probe.Expectation
	for _, src := range sources {
		exps = append(exps, probe.ExpectSuccess("pod-to-service/dns", src, probe.HTTPTarget("service/"+echoService, name, echoHTTPPort, "/healthz")))
	}
	w.probe(ctx, exps...)
}

// waitClusterDNS waits (bounded) until every source resolves cluster DNS's
// own service by name and connects to it (TCP 53), as cilium-cli waits for
// CoreDNS: a ready kube-dns endpoint can precede the nodes' service rules by
// seconds, and CoreDNS often starts only once the CNI has made nodes Ready.
// CoreDNS runs on hybrid nodes, so this needs no route to the control plane.
func (w *world) waitClusterDNS(ctx context.Context, sources []probe.Source) error {
	dns := probe.TCPTarget("service/kube-dns", "kube-dns.kube-system.svc.cluster.local", 53)
	took, err := waitReachable(ctx, sources, dns, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("the echo pods do not resolve and reach kube-dns by name: %w", err)
	}
	AddReportEntry("cluster-dns", fmt.Sprintf("the echo pods reach kube-dns by name after %s", took.Round(100*time.Millisecond)))
	return nil
}

// waitReachable polls (each second, bounded by limit) until every source
// reaches to, and says how long that took; a precondition, not a check.
func waitReachable(ctx context.Context, sources []probe.Source, to probe.Target, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, limit, true, func(ctx context.Context) (bool, error) {
		c := probe.NewCheck()
		for _, src := range sources {
			if err := c.Expect(probe.ExpectSuccess("precondition", src, to)); err != nil {
				return false, err
			}
		}
		last = c.Run(ctx).Err()
		return last == nil, nil
	})
	if err != nil {
		return 0, fmt.Errorf("not within %s: %v: %w", limit, last, err)
	}
	return time.Since(start), nil
}

// nodeToPod: each hybrid node reaches a pod on itself and on another node.
// The request is plain HTTP over bash's /dev/tcp, which every node image has.
func (w *world) nodeToPod(ctx SpecContext) {
	wl := w.dataplane(ctx)
	for i, node := range wl.order {
		for _, b := range []echoPod{wl.pods[node][1], wl.pods[wl.order[(i+1)%len(wl.order)]][1]} {
			script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d && printf 'GET /clientip HTTP/1.0\r\n\r\n' >&3 && timeout 5 cat <&3`, b.IP, echoHTTPPort)
			out, err := w.env.NodeExec(ctx, node, "timeout", "10", "bash", "-c", script)
			Expect(err).NotTo(HaveOccurred(), "node-to-pod: node %s -> %s (%s): %s", node, b.Name, b.IP, out)
			Expect(out).To(ContainSubstring(" 200 "), "node-to-pod: node %s -> %s (%s) answered:\n%s", node, b.Name, b.IP, out)
		}
	}
}

// waitServiceReady waits (bounded) until a Service has a ready endpoint: a
// precondition of the probes that use it, not what they measure.
func (w *world) waitServiceReady(ctx context.Context, namespace, name string) error {
	return waitServiceReady(ctx, w.env.Kube, namespace, name, 3*time.Minute, noBackendFor)
}

// noBackendFor is how long a Service may select no pod at all before
// waitServiceReady gives up: a controller that scales up, or a rollout,
// makes its pods within seconds, Pending ones count.
const noBackendFor = 30 * time.Second

// scaledToZeroFor is how long a Service with no pod may have every
// Deployment and StatefulSet that makes its pods held at zero replicas
// before waitServiceReady gives up: a declared state no rollout makes, so
// one settle window (the readiness checks' rule for the CNI's own).
var scaledToZeroFor = cni.DefaultSettle

// waitServiceReady waits (within) until the Service has a ready endpoint,
// and stops sooner when no pod, in any phase but deleted, has matched its
// selector for noBackend: nothing will serve it then (coredns scaled to 0
// waited the whole 3 minutes); or for scaledToZeroFor when the controllers
// that make its pods are all scaled to zero.
func waitServiceReady(ctx context.Context, kube kubernetes.Interface, namespace, name string, within, noBackend time.Duration) error {
	var last string
	var emptySince, zeroSince time.Time
	errNoBackend := errors.New("no pod selected")
	err := wait.PollUntilContextTimeout(ctx, time.Second, within, true, func(ctx context.Context) (bool, error) {
		slices, err := kube.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					return true, nil
				}
			}
		}
		last = "no ready endpoint"
		svc, err := kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil || len(svc.Spec.Selector) == 0 {
			return false, nil
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector).String()
		pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				emptySince, zeroSince = time.Time{}, time.Time{}
				return false, nil
			}
		}
		if emptySince.IsZero() {
			emptySince = time.Now()
		}
		last = "no pod matches its selector " + sel
		if zero := scaledToZero(ctx, kube, namespace, svc.Spec.Selector); zero == "" {
			zeroSince = time.Time{}
		} else {
			if zeroSince.IsZero() {
				zeroSince = time.Now()
			}
			last += ": " + zero
			if time.Since(zeroSince) >= scaledToZeroFor {
				last += fmt.Sprintf(" (for %s): nothing will serve it", scaledToZeroFor)
				return false, errNoBackend
			}
		}
		if time.Since(emptySince) >= noBackend {
			last += fmt.Sprintf(" (for %s): nothing will serve it", noBackend)
			return false, errNoBackend
		}
		return false, nil
	})
	if errors.Is(err, errNoBackend) {
		return fmt.Errorf("service %s/%s not ready: %s", namespace, name, last)
	}
	if err != nil {
		return fmt.Errorf("service %s/%s not ready within %s (%s): %w", namespace, name, within, last, err)
	}
	return nil
}

func (w *world) podToNode(ctx SpecContext) {
	wl := w.dataplane(ctx)
	var exps []probe.Expectation
	for i, node := range wl.order {
		other := wl.order[(i+1)%len(wl.order)]
		a := wl.pods[node][0]
		exps = append(exps, probe.ExpectSuccess("pod-to-node", w.source(a), probe.ICMPTarget("node/"+other, wl.pods[other][0].NodeIP)))
	}
	w.probe(ctx, exps...)
}

func (w *world) onPremTarget() probe.Target {
	return probe.HTTPTarget(w.env.OnPrem.Name, w.env.OnPrem.IP, w.env.OnPremHTTPPort, "/clientip").Outside()
}

// podToExternal: pods reach the on-prem host, except when their addresses
// are neither masqueraded nor routable on-prem: the guide's reason to
// advertise pod CIDRs, proved by the host's reply never coming back.
func (w *world) podToExternal(ctx SpecContext) {
	wl := w.dataplane(ctx)
	var exps []probe.Expectation
	for _, node := range wl.order {
		a := wl.pods[node][0]
		if w.podsUnreachableOnPrem() {
			exps = append(exps, probe.ExpectNoAnswer("pod-to-external/unroutable", w.source(a), w.onPremTarget()))
		} else {
			exps = append(exps, probe.ExpectSuccess("pod-to-external", w.source(a), w.onPremTarget()))
		}
	}
	w.probe(ctx, exps...)
}

// podsUnreachableOnPrem: masquerading off and no pod routes on the router.
func (w *world) podsUnreachableOnPrem() bool {
	return checks.PodsAnswerable.Reason(checks.SubjectOf(w.run)) != ""
}

// masquerade: the exact source address the on-prem host sees.
func (w *world) masquerade(ctx SpecContext) {
	wl := w.dataplane(ctx)
	var exps []probe.Expectation
	for _, node := range wl.order {
		a := wl.pods[node][0]
		exps = append(exps, probe.Masquerade(w.source(a), a.NodeIP, w.onPremTarget(), w.run.Network.Masquerade))
	}
	w.probe(ctx, exps...)
}

// controlPlaneToNode: the API server reaches the kubelet (logs, exec).
func (w *world) controlPlaneToNode(ctx SpecContext) {
	wl := w.dataplane(ctx)
	for _, node := range wl.order {
		p := wl.pods[node][0]
		req := w.env.Kube.CoreV1().Pods(workloadNamespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: "echo"})
		_, err := req.DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred(), "control-plane-to-node: logs of %s on %s", p.Name, node)
		var out strings.Builder
		code, err := probe.InPod(w.env.REST, workloadNamespace, p.Name, "echo").Exec(ctx, []string{"/hybridcni", "--help"}, probe.Stdio{Stdout: &out})
		Expect(err).NotTo(HaveOccurred(), "control-plane-to-node: exec in %s on %s", p.Name, node)
		Expect(code).To(Equal(0), "control-plane-to-node: exec in %s on %s exited %d", p.Name, node, code)
	}
}

// controlPlaneToPod: the API server reaches pods (proxy, port-forward).
// It works exactly when pod CIDRs are routable from the control plane.
func (w *world) controlPlaneToPod(ctx SpecContext) {
	wl := w.dataplane(ctx)
	routable := w.podsRoutableFromControlPlane()
	for _, node := range wl.order {
		p := wl.pods[node][0]
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		body, err := w.env.Kube.CoreV1().Pods(workloadNamespace).ProxyGet("http", p.Name, fmt.Sprint(echoHTTPPort), "/clientip", nil).DoRaw(pctx)
		cancel()
		if routable {
			Expect(err).NotTo(HaveOccurred(), "control-plane-to-pod: API proxy to %s (%s) on %s: pod CIDRs are routable, so it must work", p.Name, p.IP, node)
			Expect(string(body)).NotTo(BeEmpty())
		} else {
			Expect(err).To(HaveOccurred(), "control-plane-to-pod: API proxy to %s (%s) worked although pod CIDRs are not routable from the control plane", p.Name, p.IP)
			// The API server says why in the body: "error trying to reach service: dial tcp ...".
			why := fmt.Errorf("%v: %s", err, strings.TrimSpace(string(body)))
			Expect(unreachable(why)).To(BeTrue(), "control-plane-to-pod: API proxy to %s (%s) failed, but not for want of a route (something answered): %v", p.Name, p.IP, why)
		}
	}
	w.controlPlanePortForward(ctx, wl)
}

// unreachable reports whether err is what an unroutable pod address gives
// the API server: no answer (a timeout) or no route, not an answer such as
// a refusal, a 404 or a 403.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") {
		return false
	}
	for _, s := range []string{"i/o timeout", "deadline exceeded", "client.timeout", "no route to host", "network is unreachable", "timed out", "timeout awaiting"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// controlPlanePortForward is part of the control-plane-to-pod spec: the
// kubelet enters the pod's network namespace itself, so port-forward works
// whether or not pod CIDRs are routable.
func (w *world) controlPlanePortForward(ctx context.Context, wl *workload) {
	for _, node := range wl.order {
		p := wl.pods[node][0]
		body, err := w.portForwardGet(ctx, p.Name, echoHTTPPort, "/healthz")
		Expect(err).NotTo(HaveOccurred(), "control-plane-to-pod: port-forward to %s on %s", p.Name, node)
		Expect(body).NotTo(BeEmpty())
	}
}

// podsRoutableFromControlPlane: remote pod networks configured (BGP to the router).
func (w *world) podsRoutableFromControlPlane() bool {
	return w.env.PodsRoutable
}

// scaledToZero names the Deployments and StatefulSets of namespace whose
// pods the selector matches when every one of them is scaled to zero
// ("Deployment kube-system/coredns is scaled to 0 replicas"); empty when
// none matches, one would make pods, or the API does not answer.
func scaledToZero(ctx context.Context, kube kubernetes.Interface, namespace string, selector map[string]string) string {
	type controller struct {
		kind, name string
		template   map[string]string
		replicas   *int32
	}
	var all []controller
	deps, err := kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	for _, d := range deps.Items {
		all = append(all, controller{"Deployment", d.Name, d.Spec.Template.Labels, d.Spec.Replicas})
	}
	sets, err := kube.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	for _, s := range sets.Items {
		all = append(all, controller{"StatefulSet", s.Name, s.Spec.Template.Labels, s.Spec.Replicas})
	}
	sel := labels.SelectorFromSet(selector)
	var zero []string
	for _, c := range all {
		if !sel.Matches(labels.Set(c.template)) {
			continue
		}
		if c.replicas == nil || *c.replicas != 0 {
			return ""
		}
		zero = append(zero, c.kind+" "+namespace+"/"+c.name)
	}
	if len(zero) == 0 {
		return ""
	}
	return strings.Join(zero, ", ") + " scaled to 0 replicas"
}
