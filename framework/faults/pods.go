package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
)

// The echo workload's labels and names (suites/workload.go).
const (
	echoSelector = "app.kubernetes.io/name=hybridcni-echo"
	nodeService  = "echo-at-"
	// strayConf sorts before every CNI's own file in /etc/cni/net.d, so the
	// container runtime takes it.
	strayConf   = "/etc/cni/net.d/00-hybridcni-fault.conflist"
	strayRange  = "198.18.0.0/24" // RFC 2544 benchmarking: no real pod has it
	strayPod    = "hybridcni-fault-stray"
	finalizer   = "hybridcni.dev/fault"
	controlRole = "node-role.kubernetes.io/control-plane"
)

// echoPods are the running echo pods with an address on a node.
func echoPods(ctx context.Context, t Target, node string) ([]corev1.Pod, error) {
	l, err := t.Kube().CoreV1().Pods(t.Namespace()).List(ctx, metav1.ListOptions{LabelSelector: echoSelector})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.Spec.NodeName == node && p.Status.PodIP != "" && p.DeletionTimestamp == nil && len(p.Status.ContainerStatuses) > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// nsRule is an iptables rule inside a pod's network namespace, entered
// from the node through the pod's first container.
type nsRule struct {
	node, pod, container string
	args                 []string // chain first
}

func (r nsRule) cmd(op string) []string {
	id := r.container
	if _, after, ok := strings.Cut(id, "://"); ok {
		id = after
	}
	ipt := append([]string{"iptables", "-w", op, r.args[0], "-m", "comment", "--comment", comment}, r.args[1:]...)
	script := fmt.Sprintf(`pid=$(crictl inspect --output go-template --template '{{.info.pid}}' %s) && [ -n "$pid" ] && exec nsenter -t "$pid" -n %s`,
		id, strings.Join(ipt, " "))
	return []string{"sh", "-c", script}
}

// podNetnsFault inserts rules in pods' network namespaces; heal deletes them.
func podNetnsFault(ctx context.Context, t Target, rules []nsRule) (Heal, error) {
	heal := func(ctx context.Context) error {
		var errs []string
		for _, r := range rules {
			for i := 0; i < 5; i++ {
				if _, err := t.Exec(ctx, r.node, r.cmd("-D")...); err != nil {
					break
				}
			}
			if _, err := t.Exec(ctx, r.node, r.cmd("-C")...); err == nil {
				errs = append(errs, fmt.Sprintf("pod %s on %s: rule still there: %s", r.pod, r.node, strings.Join(r.args, " ")))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	}
	for _, r := range rules {
		if out, err := t.Exec(ctx, r.node, r.cmd("-I")...); err != nil {
			return nil, healAfter(ctx, heal, fmt.Errorf("pod %s on %s: iptables -I %s: %w: %s", r.pod, r.node, strings.Join(r.args, " "), err, out))
		}
	}
	return heal, nil
}

// sameNodePodsDropped: each echo pod on one node drops what the other
// echo pods on that node send it (iptables in the pods' own namespaces,
// which no CNI datapath bypasses).
func sameNodePodsDropped(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	node := h[0].Name
	pods, err := echoPods(ctx, t, node)
	if err != nil {
		return nil, nil, err
	}
	if len(pods) < 2 {
		return nil, nil, NotApplicable(fmt.Sprintf("node %s runs %d echo pods, a pair needs 2", node, len(pods)))
	}
	var rules []nsRule
	names := []string{node}
	for _, p := range pods {
		names = append(names, p.Name)
		for _, q := range pods {
			if q.Name != p.Name {
				rules = append(rules, nsRule{node, p.Name, p.Status.ContainerStatuses[0].ContainerID,
					[]string{"INPUT", "-s", q.Status.PodIP, "-j", "DROP"}})
			}
		}
	}
	heal, err := podNetnsFault(ctx, t, rules)
	return heal, names, err
}

// podToNodeDropped: one hybrid node drops the pings pods send it.
func podToNodeDropped(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	n := h[0]
	heal, err := iptablesFault(ctx, t, []rule{
		{n.Name, []string{"raw", "PREROUTING", "-s", t.PodCIDR(), "-d", n.Address, "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"}},
	})
	return heal, []string{n.Name, n.Address}, err
}

// serviceTargetPortBroken: the Service backed only by one node's pod sends
// to a port nothing serves, so its endpoints answer nothing useful.
func serviceTargetPortBroken(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) < 2 {
		// With one node no pod reaches a service backed on another node.
		return nil, nil, NotApplicable(fmt.Sprintf("needs 2 hybrid nodes, the cluster has %d", len(h)))
	}
	name := nodeService + h[0].Name
	if len(name) > 63 {
		name = name[:63]
	}
	sc := t.Kube().CoreV1().Services(t.Namespace())
	svc, err := sc.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, NotApplicable(fmt.Sprintf("no Service %s/%s (the echo workload is not deployed)", t.Namespace(), name))
	}
	if err != nil {
		return nil, nil, err
	}
	orig := svc.Spec.Ports[0].TargetPort
	setPort := func(ctx context.Context, to intstr.IntOrString) error {
		return retryUpdate(ctx, func(ctx context.Context) error {
			cur, err := sc.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Ports[0].TargetPort = to
			_, err = sc.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		}, func(ctx context.Context) (bool, error) {
			// Done when the endpoints follow: every slice's port is the new
			// one (a slice left at the old port still sends there).
			sl, err := t.Kube().DiscoveryV1().EndpointSlices(t.Namespace()).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
			if err != nil {
				return false, err
			}
			seen := false
			for _, s := range sl.Items {
				for _, p := range s.Ports {
					if p.Port == nil {
						return false, fmt.Errorf("EndpointSlice %s has a port without a number, want %d", s.Name, to.IntVal)
					}
					if *p.Port != to.IntVal {
						return false, fmt.Errorf("EndpointSlice %s has port %d, want %d", s.Name, *p.Port, to.IntVal)
					}
					seen = true
				}
			}
			return seen, nil
		})
	}
	if err := setPort(ctx, intstr.FromInt32(1)); err != nil {
		return nil, nil, fmt.Errorf("point Service %s/%s at port 1: %w", t.Namespace(), name, err)
	}
	heal := func(ctx context.Context) error { return setPort(ctx, orig) }
	return heal, []string{name, svc.Spec.ClusterIP}, nil
}

// controlPlanes are the control-plane nodes by their role label.
func controlPlanes(ctx context.Context, t Target) ([]string, error) {
	l, err := t.Kube().CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: controlRole})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range l.Items {
		out = append(out, n.Name)
	}
	if len(out) == 0 {
		return nil, NotApplicable("no node carries the " + controlRole + " label (a managed control plane has no shell)")
	}
	return out, nil
}

// controlPlaneToPodDropped: the control plane drops what it sends to pod
// addresses (API proxy, webhooks), though they are routable.
func controlPlaneToPodDropped(ctx context.Context, t Target) (Heal, []string, error) {
	if !t.PodsRoutable() {
		return nil, nil, NotApplicable("pod CIDRs are not routable from the control plane: the checks expect no answer already")
	}
	cps, err := controlPlanes(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	var rules []rule
	for _, cp := range cps {
		rules = append(rules, rule{cp, []string{"filter", "OUTPUT", "-d", t.PodCIDR(), "-j", "DROP"}})
	}
	heal, err := iptablesFault(ctx, t, rules)
	// The API proxy's failure names the node; the webhook's names the Service it calls.
	return heal, append(append(cps, names(t.HybridNodes())...), t.Namespace()+".svc"), err
}

// strayCNIConfig writes a ptp/host-local CNI configuration, on an address
// range no block holds, where the container runtime reads it first: a
// leftover of another CNI.
func strayCNIConfig(ctx context.Context, t Target, node string) (Heal, error) {
	conf, _ := json.Marshal(map[string]any{
		"cniVersion": "0.4.0", "name": "hybridcni-fault",
		"plugins": []any{map[string]any{"type": "ptp", "ipMasq": false,
			"ipam": map[string]any{"type": "host-local", "ranges": []any{[]any{map[string]any{"subnet": strayRange}}},
				"dataDir": "/run/hybridcni-fault-ipam"}}},
	})
	if out, err := t.Exec(ctx, node, "sh", "-c", fmt.Sprintf("cat > %s.tmp <<'EOF'\n%s\nEOF\nmv %s.tmp %s", strayConf, conf, strayConf, strayConf)); err != nil {
		return nil, fmt.Errorf("node %s: write %s: %w: %s", node, strayConf, err, out)
	}
	return func(ctx context.Context) error {
		// With what a CNI made of it (Cilium renames it to *.cilium_bak).
		if out, err := t.Exec(ctx, node, "sh", "-c", "rm -rf "+strayConf+"* /run/hybridcni-fault-ipam"); err != nil {
			return fmt.Errorf("node %s: remove %s: %w: %s", node, strayConf, err, out)
		}
		return nil
	}, nil
}

// podOutsideBlock: a stray CNI configuration on one node hands a new pod an
// address outside the node's block.
func podOutsideBlock(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	node := h[0].Name
	like, err := echoPods(ctx, t, node)
	if err != nil {
		return nil, nil, err
	}
	if len(like) == 0 {
		return nil, nil, NotApplicable("no echo pod on " + node + " to copy (the echo workload is not deployed)")
	}
	unconf, err := strayCNIConfig(ctx, t, node)
	if err != nil {
		return nil, nil, err
	}
	pc := t.Kube().CoreV1().Pods(t.Namespace())
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strayPod, Namespace: t.Namespace(),
		Labels: map[string]string{"app.kubernetes.io/name": strayPod}}, Spec: strayPodSpec(like[0].Spec, node)}
	heal := func(ctx context.Context) error {
		// The pod first, while the runtime can still undo its network with
		// the configuration that made it; then the configuration.
		if err := pc.Delete(ctx, strayPod, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete pod %s: %w", strayPod, err)
		}
		if err := poll(ctx, settle, "pod "+strayPod+" gone", func(ctx context.Context) (bool, error) {
			_, err := pc.Get(ctx, strayPod, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		}); err != nil {
			return err
		}
		return unconf(ctx)
	}
	// The runtime rereads its configuration directory on a change; a pod
	// made before that gets the CNI's address: bounded retries until one
	// gets the stray range.
	_, stray, _ := net.ParseCIDR(strayRange)
	var ip, removed string
	err = poll(ctx, injectTakes, "pod "+strayPod+" on "+node+" with an address in "+strayRange, func(ctx context.Context) (bool, error) {
		// A CNI that keeps /etc/cni/net.d to itself (Cilium's cni.exclusive)
		// moves the stray file away: no pod can get a stray address there.
		if out, err := t.Exec(ctx, node, "sh", "-c", "test -e "+strayConf+" || ls /etc/cni/net.d"); err != nil {
			return false, err
		} else if out = strings.TrimSpace(out); out != "" {
			removed = strings.Join(strings.Fields(out), ", ")
			return true, nil
		}
		cur, err := pc.Get(ctx, strayPod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = pc.Create(ctx, p, metav1.CreateOptions{})
			return false, err
		}
		if err != nil {
			return false, err
		}
		if cur.Status.PodIP == "" {
			return false, nil
		}
		if !stray.Contains(net.ParseIP(cur.Status.PodIP)) {
			// Made before the runtime took the stray configuration: again.
			err := pc.Delete(ctx, strayPod, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
			return false, err
		}
		ip = cur.Status.PodIP
		return true, nil
	})
	if err == nil && removed != "" {
		err = NotApplicable(fmt.Sprintf("the CNI on %s removed the stray configuration %s (left in /etc/cni/net.d: %s): it keeps the runtime's CNI configuration to itself",
			node, strayConf, removed))
	}
	if err != nil {
		return nil, nil, healAfter(ctx, heal, err)
	}
	return heal, []string{strayPod, ip}, nil
}

// strayPodSpec is an echo pod's spec for a pod pinned to node: its
// containers without probes, and its volumes but the service account
// token's, which admission adds anew (a copied mount of it names a volume
// the new pod lacks, or mounts the path twice).
func strayPodSpec(like corev1.PodSpec, node string) corev1.PodSpec {
	src := like.DeepCopy()
	token := map[string]bool{}
	var vols []corev1.Volume
	for _, v := range src.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") {
			token[v.Name] = true
			continue
		}
		vols = append(vols, v)
	}
	for i := range src.Containers {
		c := &src.Containers[i]
		c.ReadinessProbe, c.LivenessProbe = nil, nil
		var mounts []corev1.VolumeMount
		for _, m := range c.VolumeMounts {
			if !token[m.Name] && !strings.HasPrefix(m.Name, "kube-api-access-") {
				mounts = append(mounts, m)
			}
		}
		c.VolumeMounts = mounts
	}
	return corev1.PodSpec{NodeName: node, Containers: src.Containers, Volumes: vols, Tolerations: src.Tolerations,
		TerminationGracePeriodSeconds: ptr(int64(0))}
}

func ptr[T any](v T) *T { return &v }

// readyWithoutCNI: before any CNI, a stray CNI configuration on one hybrid
// node makes the runtime report its network ready, so the node turns
// Ready. The node is cordoned meanwhile, so nothing lands on it.
func readyWithoutCNI(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	node := h[0].Name
	nc := t.Kube().CoreV1().Nodes()
	cordon := func(ctx context.Context, on bool) error {
		patch := fmt.Sprintf(`{"spec":{"unschedulable":%v}}`, on)
		_, err := nc.Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		return err
	}
	if err := cordon(ctx, true); err != nil {
		return nil, nil, fmt.Errorf("cordon node %s: %w", node, err)
	}
	unconf, err := strayCNIConfig(ctx, t, node)
	if err != nil {
		_ = cordon(ctx, false)
		return nil, nil, err
	}
	ready := func(want bool) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			n, err := nc.Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return (c.Status == corev1.ConditionTrue) == want, nil
				}
			}
			return false, nil
		}
	}
	heal := func(ctx context.Context) error {
		if err := unconf(ctx); err != nil {
			return err
		}
		if err := poll(ctx, settle, "node "+node+" NotReady again", ready(false)); err != nil {
			return err
		}
		return cordon(ctx, false)
	}
	if err := poll(ctx, injectTakes, "node "+node+" Ready on the stray configuration", ready(true)); err != nil {
		return nil, nil, healAfter(ctx, heal, err)
	}
	return heal, []string{node}, nil
}

// serviceDeletionStuck: every Service made for BGP advertisement while the
// fault holds gets a finalizer nobody removes, so deleting it leaves it in
// place (Terminating) and its address advertised.
func serviceDeletionStuck(ctx context.Context, t Target) (Heal, []string, error) {
	sc := t.Kube().CoreV1().Services(t.Namespace())
	before, err := sc.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	var existing []string
	for _, s := range before.Items {
		existing = append(existing, s.Name)
	}
	hold := func(ctx context.Context, s *corev1.Service) {
		if slices.Contains(existing, s.Name) || slices.Contains(s.Finalizers, finalizer) || s.DeletionTimestamp != nil {
			return
		}
		patch := fmt.Sprintf(`{"metadata":{"finalizers":["%s"]}}`, finalizer)
		_, _ = sc.Patch(ctx, s.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	}
	// The fault's own watch lives until heal (bounded at an hour). A watch,
	// not a poll: a check creates a Service, waits until it is advertised
	// and deletes it; polled every 200 ms, one went unheld on kind, and
	// bgp/withdrawal passed under the fault.
	bg, cancel := context.WithTimeout(context.Background(), time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sel := metav1.ListOptions{LabelSelector: "advertise=bgp"}
		for bg.Err() == nil {
			l, err := sc.List(bg, sel)
			if err != nil {
				sleepCtx(bg, 200*time.Millisecond)
				continue
			}
			for i := range l.Items {
				hold(bg, &l.Items[i])
			}
			wo := sel
			wo.ResourceVersion = l.ResourceVersion
			w, err := sc.Watch(bg, wo)
			if err != nil {
				sleepCtx(bg, 200*time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if s, ok := ev.Object.(*corev1.Service); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
					hold(bg, s)
				}
			}
			w.Stop()
		}
	}()
	heal := func(ctx context.Context) error {
		cancel()
		<-done
		l, err := sc.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		var held []string
		for _, s := range l.Items {
			if !slices.Contains(s.Finalizers, finalizer) {
				continue
			}
			held = append(held, s.Name)
			if err := retryUpdate(ctx, func(ctx context.Context) error {
				cur, err := sc.Get(ctx, s.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur.Finalizers = slices.DeleteFunc(cur.Finalizers, func(f string) bool { return f == finalizer })
				_, err = sc.Update(ctx, cur, metav1.UpdateOptions{})
				return err
			}, func(context.Context) (bool, error) { return true, nil }); err != nil {
				return fmt.Errorf("remove the finalizer of Service %s: %w", s.Name, err)
			}
		}
		// A Service deleted while held goes now; one still wanted stays.
		return poll(ctx, settle, "deleted Services "+strings.Join(held, ", ")+" gone", func(ctx context.Context) (bool, error) {
			for _, n := range held {
				cur, err := sc.Get(ctx, n, metav1.GetOptions{})
				if err == nil && cur.DeletionTimestamp != nil {
					return false, nil
				}
				if err != nil && !apierrors.IsNotFound(err) {
					return false, err
				}
			}
			return true, nil
		})
	}
	// The withdrawal check names the routes still there: peer addresses.
	var ns []string
	for _, n := range t.HybridNodes() {
		ns = append(ns, n.Name, n.Address)
	}
	return heal, ns, nil
}

// agentCrashLoop: the agent's container on one hybrid node is stopped
// each time it runs (crictl stop), so the kubelet restarts it with its
// back-off: a crash loop.
func agentCrashLoop(ctx context.Context, t Target) (Heal, []string, error) {
	h := t.HybridNodes()
	if len(h) == 0 {
		return nil, nil, NotApplicable("no hybrid node")
	}
	node := h[0].Name
	ds, err := agent(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	container := ds.Spec.Template.Spec.Containers[0].Name
	pods, err := podsOf(ctx, t, ds)
	if err != nil {
		return nil, nil, err
	}
	var pod string
	for _, p := range pods {
		if p.Spec.NodeName == node {
			pod = p.Name
		}
	}
	if pod == "" {
		return nil, nil, fmt.Errorf("no pod of DaemonSet %s/%s on node %s", ds.Namespace, ds.Name, node)
	}
	var before bgpSessions
	if t.BGP().Enabled {
		if before, err = sessionsNow(ctx, t); err != nil {
			return nil, nil, err
		}
	}
	stop := fmt.Sprintf(`ids=$(crictl ps -q --state running --name '^%s$' --label io.kubernetes.pod.name=%s); [ -z "$ids" ] || crictl stop -t 0 $ids`, container, pod)
	if out, err := t.Exec(ctx, node, "sh", "-c", stop); err != nil {
		return nil, nil, fmt.Errorf("node %s: stop container %s of pod %s: %w: %s", node, container, pod, err, out)
	}
	// The loop lives until heal (bounded at an hour).
	bg, cancel := context.WithTimeout(context.Background(), time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-bg.Done():
				return
			case <-time.After(2 * time.Second):
			}
			_, _ = t.Exec(bg, node, "sh", "-c", stop)
		}
	}()
	heal := func(ctx context.Context) error {
		cancel()
		<-done
		// A new pod starts with no restarts behind it.
		if err := restartAgents(ctx, t, ds, []string{node}); err != nil {
			return err
		}
		if t.BGP().Enabled {
			// A restarted agent re-forms its sessions (the router's, a
			// node-to-node mesh's): healed is every one of them back.
			return sessionsBack(ctx, t, before)
		}
		return nil
	}
	return heal, []string{node, pod}, nil
}

// restartAgents deletes the agent's pod on each of nodes and waits until
// the DaemonSet is ready on every node with none of those pods left.
func restartAgents(ctx context.Context, t Target, ds *appsv1.DaemonSet, nodes []string) error {
	pods, err := podsOf(ctx, t, ds)
	if err != nil {
		return err
	}
	var gone []string
	for _, p := range pods {
		if !slices.Contains(nodes, p.Spec.NodeName) {
			continue
		}
		if err := t.Kube().CoreV1().Pods(ds.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("restart the agent on node %s: delete pod %s: %w", p.Spec.NodeName, p.Name, err)
		}
		gone = append(gone, p.Name)
	}
	dsc := t.Kube().AppsV1().DaemonSets(ds.Namespace)
	return poll(ctx, settle, "DaemonSet "+ds.Name+" ready on every node", func(ctx context.Context) (bool, error) {
		cur, err := dsc.Get(ctx, ds.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ps, err := podsOf(ctx, t, cur)
		if err != nil {
			return false, err
		}
		for _, p := range ps {
			if slices.Contains(gone, p.Name) {
				return false, nil
			}
		}
		s := cur.Status
		return s.DesiredNumberScheduled > 0 && s.NumberReady == s.DesiredNumberScheduled && s.UpdatedNumberScheduled == s.DesiredNumberScheduled &&
			everyPodReady(ps, s.DesiredNumberScheduled), nil
	})
}

// cloudState is what the cloud nodes had before a fault: their CNI
// configuration folder, taints and readiness. An agent that lands on a
// cloud node changes all three: it writes its own configuration and moves
// the others aside (Cilium's cni.exclusive renames them *.cilium_bak), and
// its operator taints the node while the agent is not ready there (Cilium's
// node.cilium.io/agent-not-ready), which stays after the agent is gone.
type cloudState struct {
	confs  map[string]string // node -> its folder as a base64 tar.gz ("": empty)
	taints map[string][]corev1.Taint
	ready  map[string]bool
}

// cniConfDir is where a node's CNI configuration lives.
const cniConfDir = "/etc/cni/net.d"

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func cloudNodeState(ctx context.Context, t Target) (*cloudState, error) {
	s := &cloudState{confs: map[string]string{}, taints: map[string][]corev1.Taint{}, ready: map[string]bool{}}
	for _, n := range t.CloudNodes() {
		// Without a node shell (the API tier) only taints and readiness are restored.
		if out, err := t.Exec(ctx, n.Name, "sh", "-c", "cd "+cniConfDir+" 2>/dev/null || exit 0; tar -czf - . | base64 -w0"); err == nil {
			s.confs[n.Name] = strings.TrimSpace(out)
		}
		node, err := t.Kube().CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		s.taints[n.Name] = node.Spec.Taints
		s.ready[n.Name] = nodeIsReady(node)
	}
	return s, nil
}

// restore puts back each cloud node's CNI configuration folder as it was,
// removes the taints it did not have, and waits until it is as Ready as it
// was.
func (s *cloudState) restore(ctx context.Context, t Target) error {
	for node, want := range s.ready {
		if conf, ok := s.confs[node]; ok {
			script := "set -e; mkdir -p " + cniConfDir + "; find " + cniConfDir + " -mindepth 1 -delete; " +
				`[ -z "$1" ] || printf %s "$1" | base64 -d | tar -C ` + cniConfDir + " -xzf -"
			if out, err := t.Exec(ctx, node, "sh", "-c", script, "sh", conf); err != nil {
				return fmt.Errorf("node %s: restore %s: %w: %s", node, cniConfDir, err, out)
			}
		}
		if err := s.removeNewTaints(ctx, t, node); err != nil {
			return err
		}
		if err := poll(ctx, settle, fmt.Sprintf("node %s Ready=%v again", node, want), func(ctx context.Context) (bool, error) {
			n, err := t.Kube().CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return nodeIsReady(n) == want, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// removeNewTaints removes the taints a node gained since the state was read.
func (s *cloudState) removeNewTaints(ctx context.Context, t Target, node string) error {
	had := s.taints[node]
	return poll(ctx, time.Minute, "node "+node+" without the taints the fault left", func(ctx context.Context) (bool, error) {
		n, err := t.Kube().CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		kept := slices.DeleteFunc(slices.Clone(n.Spec.Taints), func(x corev1.Taint) bool {
			return !slices.ContainsFunc(had, func(h corev1.Taint) bool { return h.Key == x.Key && h.Effect == x.Effect })
		})
		if len(kept) == len(n.Spec.Taints) {
			return true, nil
		}
		n.Spec.Taints = kept
		// A conflict tries again; a success is seen at the next look.
		_, _ = t.Kube().CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return false, nil
	})
}

// sleepCtx sleeps d, or less when ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
