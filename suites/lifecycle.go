package suites

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/probe"
)

func (w *world) hybridNames() []string {
	var out []string
	for _, n := range w.env.HybridNodes() {
		out = append(out, n.Name)
	}
	return out
}

// nodesNotReady: before the CNI, every configured hybrid node is in the
// cluster, carries the hybrid label and reports NotReady.
func (w *world) nodesNotReady(ctx SpecContext) {
	nodes, err := w.env.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	hybrid := w.hybridNames()
	Expect(hybrid).To(HaveLen(w.run.Nodes.Hybrid), "hybrid nodes the provider made, want nodes.hybrid")
	byName := map[string]*corev1.Node{}
	for i := range nodes.Items {
		byName[nodes.Items[i].Name] = &nodes.Items[i]
	}
	for _, name := range hybrid {
		n := byName[name]
		Expect(n).NotTo(BeNil(), "hybrid node %s is not in the cluster", name)
		Expect(n.Labels).To(HaveKeyWithValue(cni.HybridLabel, cni.HybridValue), "node %s carries the hybrid label", n.Name)
		ready, _ := nodeReady(n)
		Expect(ready).To(BeFalse(), "hybrid node %s is Ready before any CNI was installed: %s", n.Name, nodeStates(nodes.Items, hybrid))
	}
}

// install: helm install as the guide says; the driver waits for readiness
// and applies the BGP resources when BGP is on.
func (w *world) install(ctx SpecContext) {
	Expect(w.versionImages(ctx, w.run.CNI.Version)).To(Succeed())
	rel, err := w.driver.Install(ctx, w.run)
	Expect(err).NotTo(HaveOccurred(), "install %s %s", w.run.CNI.Name, w.run.CNI.Version)
	Expect(rel.Revision).To(Equal(1), "first revision of release %s", rel.Name)
	w.installed, w.version = true, w.run.CNI.Version
}

// setUpWorkload: the echo pods the dataplane checks probe, on every hybrid
// node, and the IPAM state later phases must keep.
func (w *world) setUpWorkload(ctx SpecContext) {
	w.requireInstalled()
	w.require(Dataplane)
	w.dataplane(ctx)
	ipam, err := w.readIPAM(ctx)
	Expect(err).NotTo(HaveOccurred(), "read the IPAM state after install")
	w.installIPAM = ipam
	AddReportEntry("ipam at install", fmt.Sprintf("pod CIDRs %v, block size /%d, blocks %v", ipam.PodCIDRs, ipam.BlockSize, ipam.Blocks))
}

// readIPAM reads the CNI's IPAM state from the cluster.
func (w *world) readIPAM(ctx context.Context) (*cni.IPAM, error) {
	return cni.ReadIPAM(ctx, w.driver.Profile(), w.cluster)
}

// nodesReady: every configured hybrid node is Ready and the CNI's own
// workloads are ready.
func (w *world) nodesReady(ctx SpecContext) {
	w.cniReady(ctx)
	hybrid := w.hybridNames()
	Expect(hybrid).To(HaveLen(w.run.Nodes.Hybrid), "hybrid nodes the provider made, want nodes.hybrid")
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	nodes, err := waitNodes(wctx, w.env.Kube, func(nodes []corev1.Node) bool {
		ready := 0
		for i := range nodes {
			if ok, _ := nodeReady(&nodes[i]); ok && slices.Contains(hybrid, nodes[i].Name) {
				ready++
			}
		}
		return ready == len(hybrid)
	})
	Expect(err).NotTo(HaveOccurred(), "hybrid nodes did not all turn Ready: %s%s", nodeStates(nodes, hybrid), missingNodes(nodes, hybrid))
}

// cniReady waits for the CNI to be ready and stable; its settle window
// (everything ready, then watched for restarts) is waited by design.
func (w *world) cniReady(ctx context.Context) {
	start := time.Now()
	r, err := w.driver.WaitReady(ctx)
	if err != nil {
		// One line, so the report's summary names the pod and node; through
		// Gomega, so the fault phase can intercept it.
		Expect(err).NotTo(HaveOccurred(), "the CNI is not ready: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	if r != nil && !r.StableSince.IsZero() {
		w.waitedByDesign(time.Since(later(r.StableSince, start)))
	}
}

// later is the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// missingNodes names the wanted nodes absent from the list.
func missingNodes(nodes []corev1.Node, want []string) string {
	var gone []string
	for _, name := range want {
		if !slices.ContainsFunc(nodes, func(n corev1.Node) bool { return n.Name == name }) {
			gone = append(gone, name)
		}
	}
	if len(gone) == 0 {
		return ""
	}
	return "; not in the cluster: " + strings.Join(gone, ", ")
}

// upgradeHop: the n-th planned hop, with the disruption meter running;
// the phase's checks then judge the version it reached. A hop that reached
// its version, ready, but disrupted traffic over the budget fails this spec
// and still lets the checks judge that version: the version is known, and
// a qualification run wants both answers.
func (w *world) upgradeHop(ctx SpecContext, n int, to string) {
	w.requireInstalled()
	if w.broken != "" {
		Skip(w.broken)
	}
	w.broken = fmt.Sprintf("the hop to %s failed, so the cluster's version is unknown (see the hop's spec)", to)
	By(fmt.Sprintf("hop %d of %d: %s -> %s", n, len(w.hops), w.version, to))
	// Before the meter and the pre-flight, which runs the target's images;
	// every hop's, so the meter never measures the harness's own loading.
	if err := w.versionImages(ctx, w.hops[len(w.hops)-1]); err != nil {
		w.broken = fmt.Sprintf("the hops' images did not all load, so the hop to %s did not start (see the hop's spec)", to)
		Expect(err).NotTo(HaveOccurred())
	}
	var reached atomic.Bool
	_, err := w.measureHop(ctx, to, func(ctx context.Context) error {
		done, err := w.driver.Upgrade(ctx, w.run, to)
		for _, h := range done {
			AddReportEntry("hop", fmt.Sprintf("%s -> %s: revision %d, %s (waiting %s)", h.From, h.To, h.Revision,
				h.Timings.Total.Round(time.Millisecond), h.Timings.Waiting.Round(time.Millisecond)))
		}
		if err != nil {
			return fmt.Errorf("upgrade to %s: %w", to, err)
		}
		if _, err := w.driver.WaitReady(ctx); err != nil {
			return fmt.Errorf("ready after the hop to %s: %w", to, err)
		}
		reached.Store(true)
		return nil
	})
	if reached.Load() {
		w.broken, w.version = "", to
	}
	Expect(err).NotTo(HaveOccurred())
}

// versionImages waits until the environment has version's images in the
// nodes (Env.ImagesReady: the kind provider loads the install version's
// while the cloud side comes up and the checks before the CNI run, then the
// hops', in hop order, while the earlier versions are checked), and says
// how long it waited, so the run log shows whether the loading kept up. A
// hop waits for the last hop's version: loading into the nodes takes CPU
// and disk the agents need, and the hop's meter must not count it.
func (w *world) versionImages(ctx context.Context, version string) error {
	if w.env.ImagesReady == nil {
		return nil
	}
	start := time.Now()
	err := w.env.ImagesReady(ctx, version)
	waited := time.Since(start).Round(100 * time.Millisecond)
	if err != nil {
		return fmt.Errorf("the images of %s (and of any version before it) are not in the nodes (waited %s): %w", version, waited, err)
	}
	msg := fmt.Sprintf("images of %s (and of any version before it) in the nodes (waited %s)", version, waited)
	fmt.Fprintln(GinkgoWriter, msg)
	AddReportEntry("images", msg)
	return nil
}

// rollback: back to the first revision, ready again, with the run's values.
func (w *world) rollback(ctx SpecContext) {
	w.requireInstalled()
	rev := max(w.baseRevision, 1)
	rel, err := w.driver.Rollback(ctx, w.run, rev)
	Expect(err).NotTo(HaveOccurred(), "roll back to revision %d", rev)
	Expect(strings.TrimPrefix(rel.ChartVersion, "v")).To(Equal(strings.TrimPrefix(w.run.CNI.Version, "v")), "chart version after the rollback")
	_, err = w.driver.WaitReady(ctx)
	Expect(err).NotTo(HaveOccurred(), "ready after the rollback")
	w.broken, w.version = "", w.run.CNI.Version
}

// repeatFirstHop: the first hop and a rollback, cni.repeatHops times on one
// cluster, so the disruption's spread tells a regression from noise. It
// starts and ends at the installed version.
func (w *world) repeatFirstHop(ctx SpecContext) {
	w.requireInstalled()
	if w.broken != "" || len(w.hops) == 0 {
		Skip("the rollback did not bring the installed version back (see the rollback step)")
	}
	to := w.hops[0]
	Expect(w.versionImages(ctx, to)).To(Succeed())
	_, err := w.repeatHops(ctx, w.run.CNI.RepeatHops, func(ctx context.Context) error {
		if _, err := w.driver.Upgrade(ctx, w.run, to); err != nil {
			return fmt.Errorf("upgrade to %s: %w", to, err)
		}
		_, err := w.driver.WaitReady(ctx)
		return err
	}, func(ctx context.Context) error {
		if _, err := w.driver.Rollback(ctx, w.run, 0); err != nil {
			return fmt.Errorf("roll back from %s: %w", to, err)
		}
		_, err := w.driver.WaitReady(ctx)
		return err
	})
	if err != nil {
		w.broken = "the repeated hops left the cluster in an unknown version (see the repeat step)"
	}
	Expect(err).NotTo(HaveOccurred())
}

// uninstall: helm uninstall.
func (w *world) uninstall(ctx SpecContext) {
	w.requireInstalled()
	Expect(w.driver.Uninstall(ctx)).To(Succeed())
	w.installed, w.uninstalled = false, true
}

// cleanup: the guide's cleanup as a user runs it: the driver removes the
// CRDs, and the CNI's files go from every hybrid node. What stays on the
// nodes by the guide (interfaces, routes, chains) is reported, not judged;
// the cleanup checks then look independently.
func (w *world) cleanup(ctx SpecContext) {
	if !w.uninstalled {
		Skip("the release was not uninstalled (see the delete step)")
	}
	rep, err := w.driver.Cleanup(ctx)
	Expect(err).NotTo(HaveOccurred(), "cleanup")
	data, _ := json.MarshalIndent(rep, "", "  ")
	AddReportEntry("cleanup", string(data))
	if !w.env.Has(NodeShell) {
		return
	}
	f := w.facts()
	for _, n := range w.env.HybridNodes() {
		if len(f.NodeFiles) > 0 {
			_, err := w.env.NodeExec(ctx, n.Name, append([]string{"rm", "-f"}, f.NodeFiles...)...)
			Expect(err).NotTo(HaveOccurred(), "remove the CNI's files on node %s", n.Name)
		}
		w.reportLeftovers(ctx, n.Name)
	}
}

// reportLeftovers writes what the guide says stays on a node after delete.
func (w *world) reportLeftovers(ctx context.Context, node string) {
	pattern := w.facts().ChainPattern
	if pattern == "" {
		pattern = w.run.CNI.Name
	}
	probes := []struct{ title, cmd string }{
		{"interfaces", "ip -brief link"},
		{"routes", "ip route"},
		{"iptables rules mentioning " + pattern, "iptables-save 2>/dev/null | grep -ciE '" + pattern + "' || true"},
		{"nftables tables", "nft list tables 2>/dev/null || true"},
		{"BPF pins", "ls -R /sys/fs/bpf 2>/dev/null | head -50 || true"},
	}
	var lines []string
	for _, p := range probes {
		out, err := w.env.NodeExec(ctx, node, "sh", "-c", p.cmd)
		if err != nil {
			out = "(" + err.Error() + ")"
		}
		lines = append(lines, "## "+p.title, strings.TrimSpace(out))
	}
	text := strings.Join(lines, "\n")
	path := filepath.Join(w.resultsDir(), "leftovers", node+".txt")
	if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
		_ = os.WriteFile(path, []byte(text+"\n"), 0o644)
	}
	AddReportEntry("leftovers "+node, text)
}

// cleanNodes: after the guide's cleanup, no file of the CNI's (by name,
// whatever the version calls it) in /etc/cni/net.d or /opt/cni/bin, and no
// agent pod, on any hybrid node.
func (w *world) cleanNodes(ctx SpecContext) {
	f := w.facts()
	Expect(f.FilePattern).NotTo(BeEmpty(), "the %s profile states no FilePattern (framework/cni Facts)", w.run.CNI.Name)
	var left []string
	for _, n := range w.env.HybridNodes() {
		out, err := w.env.NodeExec(ctx, n.Name, "sh", "-c",
			"ls -1 /etc/cni/net.d /opt/cni/bin 2>/dev/null | grep -Ei -- '"+f.FilePattern+"' || true")
		Expect(err).NotTo(HaveOccurred(), "list the CNI folders on node %s", n.Name)
		for _, l := range strings.Fields(out) {
			left = append(left, fmt.Sprintf("node %s: file %s", n.Name, l))
		}
	}
	pods, err := w.agentPods(ctx)
	Expect(err).NotTo(HaveOccurred())
	left = append(left, pods...)
	Expect(left).To(BeEmpty(), "left after uninstall and the guide's cleanup:\n%s", strings.Join(left, "\n"))
}

// agentPods lists the CNI's agent pods still on hybrid nodes.
func (w *world) agentPods(ctx context.Context) ([]string, error) {
	container := w.facts().AgentContainer
	hybrid := map[string]bool{}
	for _, n := range w.hybridNames() {
		hybrid[n] = true
	}
	var out []string
	for _, ns := range cni.Namespaces(w.driver.Profile()) {
		pods, err := w.env.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list pods in %s: %w", ns, err)
		}
		for _, p := range pods.Items {
			if !hybrid[p.Spec.NodeName] {
				continue
			}
			for _, c := range p.Spec.Containers {
				if c.Name == container {
					out = append(out, fmt.Sprintf("node %s: agent pod %s/%s (%s)", p.Spec.NodeName, p.Namespace, p.Name, p.Status.Phase))
				}
			}
		}
	}
	return out, nil
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// cleanCRDs: no CRD of the CNI's API groups is left in the cluster.
func (w *world) cleanCRDs(ctx SpecContext) {
	groups := w.facts().CRDGroups
	Expect(groups).NotTo(BeEmpty(), "the catalogue's HasCRDs condition let a CNI without CRDs through")
	list, err := w.cluster.Dynamic.Resource(crdResource).List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred(), "list CRDs")
	var left []string
	for _, o := range list.Items {
		g, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		if slices.Contains(groups, g) {
			left = append(left, o.GetName())
		}
	}
	Expect(left).To(BeEmpty(), "CRDs of %s left after cleanup: %s", w.run.CNI.Name, strings.Join(left, ", "))
}

// collectCNIStatus writes the driver's readiness and BGP resources.
func (w *world) collectCNIStatus(ctx context.Context, dir string) error {
	r, err := w.driver.Readiness(ctx)
	if err != nil {
		return err
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "readiness.json"), data, 0o644); err != nil {
		return err
	}
	objs, err := w.driver.BGPResources(ctx)
	if err != nil {
		return err
	}
	data, _ = json.MarshalIndent(objs, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "bgp-resources.json"), data, 0o644); err != nil {
		return err
	}
	if w.env.Has(Dataplane) {
		w.agentStatus(ctx, dir, r)
	}
	return nil
}

// agentStatus runs the CNI's status commands in each agent pod on a hybrid
// node; a command that fails leaves its error in the file.
func (w *world) agentStatus(ctx context.Context, dir string, r *cni.Readiness) {
	ns := map[string]string{}
	for _, ws := range r.Workloads {
		if ws.Workload.Agent {
			ns[ws.Workload.Name] = ws.Workload.Namespace
		}
	}
	for _, n := range r.Nodes {
		if !n.Hybrid {
			continue
		}
		for agent, pod := range n.Agents {
			if pod == "" {
				continue
			}
			var b strings.Builder
			f := w.facts()
			place := probe.InPod(w.env.REST, ns[agent], pod, f.AgentContainer)
			for _, cmd := range f.StatusCommands {
				argv := []string{"sh", "-c", cmd}
				fmt.Fprintf(&b, "$ %s\n", cmd)
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				code, err := place.Exec(cctx, argv, probe.Stdio{Stdout: &b, Stderr: &b})
				cancel()
				if err != nil || code != 0 {
					fmt.Fprintf(&b, "(exit %d, %v)\n", code, err)
				}
			}
			_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("status-%s-%s.txt", n.Name, pod)), []byte(b.String()), 0o644)
		}
	}
}
