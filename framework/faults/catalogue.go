package faults

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	"k8s.io/client-go/util/retry"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
)

// Conditions of faults (besides the catalogue's).
var (
	// Routed: the CNI routes pod traffic natively (no overlay).
	Routed = checks.Condition{Name: "routed", Reason: func(s checks.Subject) string {
		if s.Facts.Overlay {
			return s.Run.CNI.Name + " carries cross-node pod traffic in an overlay: there is no routed pod traffic to drop"
		}
		return ""
	}}
	// MasqueradeOff: the run keeps pod addresses (a stray SNAT is a fault).
	MasqueradeOff = checks.Condition{Name: "masquerade off", Reason: func(s checks.Subject) string {
		if s.Run.Network.Masquerade {
			return "masquerading is on (network.masquerade): a SNAT rule is what the run wants"
		}
		return ""
	}}
)

// comment marks every rule a fault adds, so heal deletes exactly it.
const comment = "hybridcni-fault"

var catalogue = []*Fault{
	New("agent-affinity-removed").Breaks("placement").
		Doc("the agent DaemonSet loses its affinity, so agents land on cloud nodes").
		Injects(agentAffinityRemoved),
	New("operator-scaled-to-zero").Breaks("readiness/nodes-ready").
		Doc("the CNI's operator Deployment is scaled to 0 replicas").
		Injects(operatorScaledToZero),
	New("agent-crash-loop").Breaks("readiness/nodes-ready").Needs(checks.NodeShell).
		Doc("the agent container on one hybrid node is stopped each time it runs, so it crash-loops").
		Injects(agentCrashLoop),
	New("node-to-pod-dropped").Breaks("node-to-pod").Needs(checks.Dataplane, checks.NodeShell).
		Doc("one hybrid node drops the packets it sends to the pod CIDR (iptables OUTPUT)").
		Injects(nodeToPodDropped),
	New("vxlan-port-dropped").Breaks("pod-to-pod/cross-node", "vxlan/encapsulated").
		Needs(checks.Dataplane, checks.NodeShell).When(checks.Overlay, checks.TwoHybridNodes).
		Doc("two hybrid nodes drop the VXLAN UDP port between them (iptables OUTPUT)").
		Injects(vxlanPortDropped),
	New("routed-pod-traffic-dropped").Breaks("pod-to-pod/cross-node").
		Needs(checks.Dataplane, checks.NodeShell).When(Routed, checks.TwoHybridNodes).
		Doc("one hybrid node drops routed pod traffic to another node's block (iptables raw PREROUTING)").
		Injects(routedPodTrafficDropped),
	New("coredns-scaled-to-zero").Breaks("pod-to-service/dns").Needs(checks.Dataplane).
		Doc("kube-system/coredns is scaled to 0 replicas").
		Injects(corednsScaledToZero),
	New("kubelet-port-blocked").Breaks("control-plane-to-node").Needs(checks.Dataplane, checks.NodeShell).
		Doc("one hybrid node rejects TCP 10250 (logs and exec from the control plane)").
		Injects(kubeletPortBlocked),
	New("on-prem-replies-dropped").Breaks("pod-to-external").Needs(checks.Dataplane, checks.NodeShell, checks.OnPremHost).
		Doc("every hybrid node drops what the on-prem host sends (iptables raw PREROUTING)").
		Injects(onPremRepliesDropped),
	New("stray-snat").Breaks("masquerade").Needs(checks.Dataplane, checks.NodeShell, checks.OnPremHost).
		When(MasqueradeOff, checks.PodsAnswerable).
		Doc("every hybrid node masquerades pod traffic to the on-prem host, though masquerading is off").
		Injects(straySNAT),
	New("bgp-session-reset").Breaks("bgp/sessions").Needs(checks.Router, checks.NodeShell).When(checks.BGPOn).
		Doc("one hybrid node resets its BGP connections with the router (iptables REJECT with tcp-reset on TCP 179 to and from the router); a node-to-node mesh stays").
		Injects(bgpSessionReset),
	New("same-node-pods-dropped").Breaks("pod-to-pod/same-node").Needs(checks.Dataplane, checks.NodeShell).
		Doc("the echo pods on one hybrid node drop what the others on that node send them (iptables in the pods' namespaces)").
		Injects(sameNodePodsDropped),
	New("pod-to-node-dropped").Breaks("pod-to-node").Needs(checks.Dataplane, checks.NodeShell).
		Doc("one hybrid node drops the pings pods send it (iptables raw PREROUTING, ICMP echo only: the agents keep working)").
		Injects(podToNodeDropped),
	New("service-target-port-broken").Breaks("pod-to-service/cluster-ip").Needs(checks.Dataplane).When(checks.TwoHybridNodes).
		Doc("the Service backed only by one node's pod points at a port nothing serves").
		Injects(serviceTargetPortBroken),
	New("control-plane-to-pod-dropped").Breaks("control-plane-to-pod", "control-plane-to-pod/webhook").
		Needs(checks.Dataplane, checks.NodeShell).
		Doc("the control-plane node drops what it sends to the pod CIDR (API proxy, webhook calls), though pod CIDRs are routable").
		Injects(controlPlaneToPodDropped),
	New("pod-outside-block").Breaks("ipam/pod-addresses").Needs(checks.Dataplane, checks.NodeShell).
		Doc("a stray CNI configuration read first on one hybrid node gives a new pod an address outside the node's block").
		Injects(podOutsideBlock),
	New("stray-node-block").Breaks("ipam/blocks").Needs(checks.Dataplane).
		Doc("a hybrid node registers holding a pod block outside the pod CIDR (Node podCIDR or the CNI's own IPAM object), no kubelet behind it").
		Injects(strayNodeBlock),
	New("ipam-setting-changed").Breaks("ipam/unchanged").Needs(checks.Dataplane).
		Doc("an IPAM setting (the block size) is changed in the CNI's configuration, as an upgrade with other values would; judged against the install's IPAM").
		Injects(ipamSettingChanged),
	New("foreign-peer-announces-block").Breaks("bgp/pod-blocks").Needs(checks.Router, checks.Dataplane).When(checks.BGPOn).
		Doc("a second BGP speaker inside the router's neighbor range announces a node's pod block").
		Injects(foreignPeerAnnouncesBlock),
	New("service-deletion-stuck").Breaks("bgp/withdrawal").Needs(checks.Router, checks.Dataplane).
		When(checks.BGPOn, checks.AdvertisesServices).
		Doc("a finalizer nobody removes holds every new advertised Service, so a deleted one stays advertised").
		Injects(serviceDeletionStuck),
	New("service-routes-filtered").Breaks("bgp/services").Needs(checks.Router, checks.Dataplane).
		When(checks.BGPOn, checks.AdvertisesServices).
		Doc("the router's import policy drops the service host routes one hybrid node advertises (a prefix list on that neighbor); its session and pod block stay").
		Injects(serviceRoutesFiltered),
	New("bgp-no-new-session").Breaks("bgp/graceful-restart").Needs(checks.Router, checks.Dataplane, checks.NodeShell).
		When(checks.BGPOn).
		Doc("hybrid nodes keep their BGP sessions with the router but reset new ones (TCP 179 SYN): a restarted agent comes back without re-advertising").
		Injects(bgpNoNewSession),
	New("bgp-hold-time-changed").Breaks("bgp/parameters").Needs(checks.Router).When(checks.BGPOn).
		Doc("the CNI's BGP configuration gives the agents a 60 s hold time (kube-router --bgp-holdtime, Cilium's CiliumBGPPeerConfig); the sessions come back with it").
		Injects(bgpHoldTimeChanged),
	New("bgp-resource-edited").Breaks("bgp/resources").Needs(checks.NodeShell).When(checks.BGPOn, checks.HasBGPResources).
		Doc("a number in a BGP resource's spec (a timer, an ASN) is edited away from the guide's").
		Injects(bgpResourceEdited),
	New("ready-without-cni").Breaks("readiness/not-ready-without-cni").Needs(checks.NodeShell).After(checks.BeforeCNI).
		Doc("before the install, a stray CNI configuration on one cordoned hybrid node makes it Ready").
		Injects(readyWithoutCNI),
	New("crd-recreated").Breaks("cleanup/crds").After(checks.AfterDelete).
		Doc("a CRD in the CNI's API group is created again after the guide's cleanup").
		Injects(crdRecreated),
	New("cni-file-left").Breaks("cleanup/nodes").Needs(checks.NodeShell).After(checks.AfterDelete).
		Doc("one of the CNI's node files is written back on a hybrid node after the guide's cleanup").
		Injects(cniFileLeft),
}

// pollEvery: a fault's change shows within a second mostly (a Deployment
// scaled, a rule in place), and at 2 s a dozen of Cilium's injects and
// heals took exactly one poll interval more. sessionLasts: how long a BGP
// connection must stay to count as a session (sessionsBack).
const (
	settle       = 5 * time.Minute
	pollEvery    = 500 * time.Millisecond
	sessionLasts = 2 * time.Second
	injectTakes  = 3 * time.Minute
)

func poll(ctx context.Context, d time.Duration, what string, cond func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, pollEvery, d, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok && err == nil, nil
	})
	if err != nil {
		if last != nil {
			return fmt.Errorf("%s: %w (last: %v)", what, err, last)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func names(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

// agent returns the CNI's first agent DaemonSet.
func agent(ctx context.Context, t Target) (*appsv1.DaemonSet, error) {
	ws, err := t.Workloads(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.Agent && strings.EqualFold(w.Kind, "DaemonSet") {
			return t.Kube().AppsV1().DaemonSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		}
	}
	return nil, NotApplicable(t.CNI() + " names no agent DaemonSet")
}

func podsOf(ctx context.Context, t Target, ds *appsv1.DaemonSet) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	l, err := t.Kube().CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

func agentAffinityRemoved(ctx context.Context, t Target) (Heal, []string, error) {
	cloud := names(t.CloudNodes())
	if len(cloud) == 0 {
		return nil, nil, NotApplicable("the cluster has no cloud node for an agent to land on")
	}
	// An agent on a cloud node writes its CNI configuration there, and the
	// node turns Ready: heal puts back what the cloud nodes had.
	before, err := cloudNodeState(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	ds, err := agent(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	if ds.Spec.Template.Spec.Affinity == nil && len(ds.Spec.Template.Spec.NodeSelector) == 0 {
		return nil, nil, NotApplicable(fmt.Sprintf("DaemonSet %s/%s has no affinity to remove", ds.Namespace, ds.Name))
	}
	saved := ds.Spec.Template.Spec.DeepCopy()
	dsc := t.Kube().AppsV1().DaemonSets(ds.Namespace)
	// The DaemonSet's controller writes its status all the while: edit the
	// latest version.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := dsc.Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Spec.Template.Spec.Affinity = nil
		cur.Spec.Template.Spec.NodeSelector = nil
		updated, err := dsc.Update(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			ds = updated
		}
		return err
	}); err != nil {
		return nil, nil, fmt.Errorf("remove the affinity of DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	restoreAffinity := restoreAffinityFn(t, dsc, ds, saved, cloud)
	heal := func(ctx context.Context) error {
		if err := restoreAffinity(ctx); err != nil {
			return err
		}
		return before.restore(ctx, t)
	}
	err = poll(ctx, injectTakes, "an agent pod on a cloud node", func(ctx context.Context) (bool, error) {
		pods, err := podsOf(ctx, t, ds)
		if err != nil {
			return false, err
		}
		for _, p := range pods {
			for _, c := range cloud {
				if p.Spec.NodeName == c {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, nil, healAfter(ctx, heal, fmt.Errorf("the fault did not take (an operator may have restored the DaemonSet): %w", err))
	}
	return heal, cloud, nil
}

// restoreAffinityFn puts back a DaemonSet's affinity and waits for its pods
// to leave the cloud nodes.
func restoreAffinityFn(t Target, dsc appsv1client.DaemonSetInterface, ds *appsv1.DaemonSet, saved *corev1.PodSpec, cloud []string) func(context.Context) error {
	return func(ctx context.Context) error {
		return retryUpdate(ctx, func(ctx context.Context) error {
			cur, err := dsc.Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Template.Spec.Affinity = saved.Affinity
			cur.Spec.Template.Spec.NodeSelector = saved.NodeSelector
			_, err = dsc.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		}, func(ctx context.Context) (bool, error) {
			cur, err := dsc.Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			pods, err := podsOf(ctx, t, cur)
			if err != nil {
				return false, err
			}
			for _, p := range pods {
				for _, c := range cloud {
					if p.Spec.NodeName == c {
						return false, fmt.Errorf("agent pod %s still on cloud node %s", p.Name, c)
					}
				}
			}
			st := cur.Status
			return st.ObservedGeneration >= cur.Generation && st.DesiredNumberScheduled > 0 &&
				st.UpdatedNumberScheduled == st.DesiredNumberScheduled && st.NumberReady == st.DesiredNumberScheduled &&
				everyPodReady(pods, st.DesiredNumberScheduled), nil
		})
	}
}

// everyPodReady: want pods, none going away, each Ready. The DaemonSet's
// status counts lag its pods: polled every 500 ms, a heal once saw them all
// ready while the new agent on a hybrid node had not started.
func everyPodReady(pods []corev1.Pod, want int32) bool {
	if int32(len(pods)) != want {
		return false
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || !cni.PodReady(&p) {
			return false
		}
	}
	return true
}

// retryUpdate applies change until it succeeds, then waits for done.
func retryUpdate(ctx context.Context, change func(context.Context) error, done func(context.Context) (bool, error)) error {
	if err := poll(ctx, time.Minute, "undo the fault", func(ctx context.Context) (bool, error) {
		err := change(ctx)
		return err == nil, err
	}); err != nil {
		return err
	}
	return poll(ctx, settle, "the cluster whole again", done)
}

// healAfter heals a fault whose injection failed and returns err.
func healAfter(ctx context.Context, heal Heal, err error) error {
	if herr := heal(ctx); herr != nil {
		return fmt.Errorf("%w; and the heal failed: %v", err, herr)
	}
	return err
}

func scaleToZero(ctx context.Context, t Target, ns, name string) (Heal, error) {
	d := t.Kube().AppsV1().Deployments(ns)
	sc, err := d.GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the scale of Deployment %s/%s: %w", ns, name, err)
	}
	orig := sc.Spec.Replicas
	if orig == 0 {
		return nil, NotApplicable(fmt.Sprintf("Deployment %s/%s already has 0 replicas", ns, name))
	}
	sc.Spec.Replicas = 0
	if _, err := d.UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("scale Deployment %s/%s to 0: %w", ns, name, err)
	}
	heal := func(ctx context.Context) error {
		return retryUpdate(ctx, func(ctx context.Context) error {
			sc, err := d.GetScale(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			sc.Spec.Replicas = orig
			_, err = d.UpdateScale(ctx, name, sc, metav1.UpdateOptions{})
			return err
		}, func(ctx context.Context) (bool, error) {
			cur, err := d.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return cur.Status.ObservedGeneration >= cur.Generation && cur.Status.ReadyReplicas == orig &&
				cur.Status.UpdatedReplicas == orig && cur.Status.AvailableReplicas == orig, nil
		})
	}
	err = poll(ctx, injectTakes, fmt.Sprintf("Deployment %s/%s at 0 replicas", ns, name), func(ctx context.Context) (bool, error) {
		cur, err := d.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if cur.Spec.Replicas != nil && *cur.Spec.Replicas != 0 {
			return false, fmt.Errorf("spec.replicas is %d again (an operator restored it)", *cur.Spec.Replicas)
		}
		return cur.Status.Replicas == 0, nil
	})
	if err != nil {
		return nil, healAfter(ctx, heal, fmt.Errorf("the fault did not take: %w", err))
	}
	return heal, nil
}

func operatorScaledToZero(ctx context.Context, t Target) (Heal, []string, error) {
	ws, err := t.Workloads(ctx)
	if err != nil {
		return nil, nil, err
	}
	var pick *struct{ ns, name string }
	for _, w := range ws {
		if strings.EqualFold(w.Kind, "Deployment") && strings.Contains(w.Name, "operator") {
			pick = &struct{ ns, name string }{w.Namespace, w.Name}
			break
		}
	}
	if pick == nil {
		return nil, nil, NotApplicable(t.CNI() + " names no operator Deployment")
	}
	heal, err := scaleToZero(ctx, t, pick.ns, pick.name)
	if err != nil {
		return nil, nil, err
	}
	return heal, []string{pick.name}, nil
}

func corednsScaledToZero(ctx context.Context, t Target) (Heal, []string, error) {
	heal, err := scaleToZero(ctx, t, "kube-system", "coredns")
	if err != nil {
		return nil, nil, err
	}
	// The DNS check names the pods whose lookups fail, or the Service
	// without endpoints.
	return heal, []string{"kube-dns", "coredns"}, nil
}

// rule is one iptables rule on one node; add inserts it, del deletes it.
type rule struct {
	node string
	args []string // after -I/-D: table and chain first
}

func (r rule) cmd(op string) []string {
	table, chain, rest := r.args[0], r.args[1], r.args[2:]
	out := []string{"iptables", "-w", "-t", table, op, chain, "-m", "comment", "--comment", comment}
	return append(out, rest...)
}

// iptablesFault inserts rules; heal deletes them.
func iptablesFault(ctx context.Context, t Target, rules []rule) (Heal, error) {
	heal := func(ctx context.Context) error {
		var errs []string
		for _, r := range rules {
			// Delete every copy of the rule (a retried insert may have added two).
			for i := 0; i < 5; i++ {
				if _, err := t.Exec(ctx, r.node, r.cmd("-D")...); err != nil {
					break
				}
			}
			if _, err := t.Exec(ctx, r.node, r.cmd("-C")...); err == nil {
				errs = append(errs, fmt.Sprintf("node %s: rule still there: %s", r.node, strings.Join(r.cmd("-C"), " ")))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	}
	for _, r := range rules {
		if out, err := t.Exec(ctx, r.node, r.cmd("-I")...); err != nil {
			return nil, healAfter(ctx, heal, fmt.Errorf("node %s: %s: %w: %s", r.node, strings.Join(r.cmd("-I"), " "), err, out))
		}
	}
	return heal, nil
}

func twoHybrid(t Target) (Node, Node, error) {
	h := t.HybridNodes()
	if len(h) < 2 {
		return Node{}, Node{}, NotApplicable(fmt.Sprintf("needs 2 hybrid nodes, the cluster has %d", len(h)))
	}
	return h[0], h[1], nil
}

func vxlanPortDropped(ctx context.Context, t Target) (Heal, []string, error) {
	port := t.Facts().VXLANPort
	if port == 0 {
		return nil, nil, NotApplicable(t.CNI() + " states no VXLAN port (framework/cni Facts.VXLANPort)")
	}
	a, b, err := twoHybrid(t)
	if err != nil {
		return nil, nil, err
	}
	p := fmt.Sprint(port)
	heal, err := iptablesFault(ctx, t, []rule{
		{a.Name, []string{"filter", "OUTPUT", "-p", "udp", "-d", b.Address, "--dport", p, "-j", "DROP"}},
		{b.Name, []string{"filter", "OUTPUT", "-p", "udp", "-d", a.Address, "--dport", p, "-j", "DROP"}},
	})
	return heal, []string{a.Name, b.Name}, err
}

func routedPodTrafficDropped(ctx context.Context, t Target) (Heal, []string, error) {
	a, b, err := twoHybrid(t)
	if err != nil {
		return nil, nil, err
	}
	n, err := t.Kube().CoreV1().Nodes().Get(ctx, b.Name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	block := n.Spec.PodCIDR
	if block == "" {
		return nil, nil, NotApplicable(fmt.Sprintf("node %s has no spec.podCIDR to name its block", b.Name))
	}
	// Pod traffic from a's pods to b's block enters a's stack in PREROUTING,
	// and so do the replies a's pods send to b's pods: the pair breaks both ways.
	heal, err := iptablesFault(ctx, t, []rule{
		{a.Name, []string{"raw", "PREROUTING", "-d", block, "-j", "DROP"}},
	})
	return heal, []string{a.Name, b.Name, block}, err
}

func nodeToPodDropped(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	heal, err := iptablesFault(ctx, t, []rule{
		{h[0].Name, []string{"filter", "OUTPUT", "-d", t.PodCIDR(), "-j", "DROP"}},
	})
	return heal, []string{h[0].Name}, err
}

func kubeletPortBlocked(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	heal, err := iptablesFault(ctx, t, []rule{
		{h[0].Name, []string{"filter", "INPUT", "-p", "tcp", "--dport", "10250", "-j", "REJECT", "--reject-with", "tcp-reset"}},
	})
	return heal, []string{h[0].Name}, err
}

func onPremRepliesDropped(ctx context.Context, t Target) (Heal, []string, error) {
	addr := t.OnPremAddress()
	if addr == "" {
		return nil, nil, NotApplicable("the environment names no on-prem host address")
	}
	var rules []rule
	for _, n := range t.HybridNodes() {
		rules = append(rules, rule{n.Name, []string{"raw", "PREROUTING", "-s", addr, "-j", "DROP"}})
	}
	heal, err := iptablesFault(ctx, t, rules)
	return heal, names(t.HybridNodes()), err
}

func straySNAT(ctx context.Context, t Target) (Heal, []string, error) {
	addr := t.OnPremAddress()
	if addr == "" {
		return nil, nil, NotApplicable("the environment names no on-prem host address")
	}
	var rules []rule
	for _, n := range t.HybridNodes() {
		rules = append(rules, rule{n.Name, []string{"nat", "POSTROUTING", "-s", t.PodCIDR(), "-d", addr, "-j", "MASQUERADE"}})
	}
	heal, err := iptablesFault(ctx, t, rules)
	return heal, names(t.HybridNodes()), err
}

// bgpSessionReset: one hybrid node resets its BGP connections with the
// router (not the other nodes': a node-to-node mesh is no part of
// bgp/sessions, and kube-router's would stay down past heal, its routes to
// the node's block with it).
func bgpSessionReset(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	n := h[0]
	rtr := t.BGP().RouterAddress
	if rtr == "" {
		return nil, nil, NotApplicable("the run names no router address (bgp.routerAddress)")
	}
	before, err := sessionsNow(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	heal, err := iptablesFault(ctx, t, resetRules(n.Name, rtr))
	if err != nil {
		return nil, nil, err
	}
	// The session drops at the next keepalive: wait until the node has none
	// with the router.
	err = poll(ctx, injectTakes, "node "+n.Name+" without an established BGP session with the router "+rtr, func(ctx context.Context) (bool, error) {
		peers, err := bgpPeersOn(ctx, t, n.Name)
		return !slices.Contains(peers, rtr), err
	})
	if err != nil {
		return nil, nil, healAfter(ctx, heal, err)
	}
	// Healed means the node has every session of before the fault again,
	// not only that the rules are gone.
	healed := func(ctx context.Context) error {
		if err := heal(ctx); err != nil {
			return err
		}
		if err := restartRefusedAgents(ctx, t, rtr); err != nil {
			return err
		}
		return sessionsBack(ctx, t, before)
	}
	return healed, []string{n.Name, n.Address}, nil
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func crdRecreated(ctx context.Context, t Target) (Heal, []string, error) {
	groups := t.Facts().CRDGroups
	if len(groups) == 0 {
		return nil, nil, NotApplicable(t.CNI() + " registers no CRDs (framework/cni Facts.CRDGroups)")
	}
	name := "hybridcnifaults." + groups[0]
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": name},
		"spec": map[string]any{
			"group": groups[0],
			"scope": "Namespaced",
			"names": map[string]any{"plural": "hybridcnifaults", "singular": "hybridcnifault", "kind": "HybridcniFault", "listKind": "HybridcniFaultList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	c := t.Dynamic().Resource(crdGVR)
	if _, err := c.Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		return nil, nil, fmt.Errorf("create CRD %s: %w", name, err)
	}
	heal := func(ctx context.Context) error {
		if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete CRD %s: %w", name, err)
		}
		return poll(ctx, settle, "CRD "+name+" gone", func(ctx context.Context) (bool, error) {
			_, err := c.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
	}
	return heal, []string{name}, nil
}

func cniFileLeft(ctx context.Context, t Target) (Heal, []string, error) {
	f := t.Facts()
	if len(f.NodeFiles) == 0 {
		return nil, nil, NotApplicable(t.CNI() + " states no node files (framework/cni Facts.NodeFiles)")
	}
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	node, file := h[0].Name, f.NodeFiles[0]
	if out, err := t.Exec(ctx, node, "sh", "-c", fmt.Sprintf("mkdir -p '%s' && echo '{}' > '%s'", path.Dir(file), file)); err != nil {
		return nil, nil, fmt.Errorf("node %s: write %s: %w: %s", node, file, err, out)
	}
	heal := func(ctx context.Context) error {
		if out, err := t.Exec(ctx, node, "rm", "-f", file); err != nil {
			return fmt.Errorf("node %s: remove %s: %w: %s", node, file, err, out)
		}
		return nil
	}
	return heal, []string{node, path.Base(file)}, nil
}
