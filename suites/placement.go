package suites

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/config"
)

func newSource(r config.Run) (*chart.Source, error) { return chart.NewSource(r.CNI.ChartSource) }

// placement: every agent workload has a pod on every hybrid node and none on
// a cloud node; the operators run on hybrid nodes.
func (w *world) placement(ctx SpecContext) {
	w.requireInstalled()
	r, err := w.driver.Readiness(ctx)
	Expect(err).NotTo(HaveOccurred())
	var agents []string
	for _, ws := range r.Workloads {
		if ws.Workload.Agent {
			agents = append(agents, ws.Workload.Name)
		}
	}
	Expect(agents).NotTo(BeEmpty(), "the %s driver names no agent DaemonSet", w.run.CNI.Name)
	var wrong []string
	hybridSeen := 0
	for _, n := range r.Nodes {
		if n.Hybrid {
			hybridSeen++
		}
		for _, a := range agents {
			pod := n.Agents[a]
			switch {
			case n.Hybrid && pod == "":
				wrong = append(wrong, fmt.Sprintf("hybrid node %s has no %s pod", n.Name, a))
			case !n.Hybrid && pod != "":
				wrong = append(wrong, fmt.Sprintf("cloud node %s runs %s pod %s", n.Name, a, pod))
			}
		}
	}
	Expect(hybridSeen).To(Equal(w.run.Nodes.Hybrid), "hybrid nodes the driver saw")
	Expect(wrong).To(BeEmpty(), "placement:\n%s", strings.Join(wrong, "\n"))
	Expect(r.Err()).NotTo(HaveOccurred())
}

// agentPodOn returns the namespace and name of an agent pod on node.
func (w *world) agentPodOn(ctx context.Context, node string) (string, string, error) {
	r, err := w.driver.Readiness(ctx)
	if err != nil {
		return "", "", err
	}
	for _, ws := range r.Workloads {
		if !ws.Workload.Agent {
			continue
		}
		for _, n := range r.Nodes {
			if pod := n.Agents[ws.Workload.Name]; n.Name == node && pod != "" {
				return ws.Workload.Namespace, pod, nil
			}
		}
	}
	return "", "", fmt.Errorf("no agent pod on node %s", node)
}

// ipamBlocks: one block of the configured size per hybrid node, inside the
// pod CIDR, no overlap between nodes, disjoint from the node CIDR.
func (w *world) ipamBlocks(ctx SpecContext) {
	w.require(Dataplane)
	w.requireInstalled()
	pod := netip.MustParsePrefix(w.run.Network.PodCIDR)
	node := netip.MustParsePrefix(w.run.Network.NodeCIDR)
	Expect(pod.Overlaps(node)).To(BeFalse(), "pod CIDR %s overlaps node CIDR %s", pod, node)
	blocks, err := nodeBlocks(ctx, w.env, w.run)
	Expect(err).NotTo(HaveOccurred())
	type owned struct {
		node string
		p    netip.Prefix
	}
	var all []owned
	for _, n := range w.env.HybridNodes() {
		bs := blocks[n.Name]
		Expect(bs).NotTo(BeEmpty(), "hybrid node %s has no pod block", n.Name)
		for _, b := range bs {
			p := netip.MustParsePrefix(b)
			Expect(p.Bits()).To(Equal(w.run.Network.BlockSize), "node %s block %s: size /%d, want /%d", n.Name, p, p.Bits(), w.run.Network.BlockSize)
			Expect(pod.Contains(p.Addr())).To(BeTrue(), "node %s block %s is outside the pod CIDR %s", n.Name, p, pod)
			all = append(all, owned{n.Name, p})
		}
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			Expect(all[i].p.Overlaps(all[j].p)).To(BeFalse(), "node %s block %s overlaps node %s block %s", all[i].node, all[i].p, all[j].node, all[j].p)
		}
	}
	AddReportEntry("pod blocks", fmt.Sprint(blocks))
}

// ipamPods: every pod on a hybrid node has an address inside that node's block.
func (w *world) ipamPods(ctx SpecContext) {
	w.dataplane(ctx)
	blocks, err := nodeBlocks(ctx, w.env, w.run)
	Expect(err).NotTo(HaveOccurred())
	pods, err := w.env.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	hybrid := map[string]bool{}
	for _, n := range w.env.HybridNodes() {
		hybrid[n.Name] = true
	}
	var wrong []string
	checked := 0
	for _, p := range pods.Items {
		if !hybrid[p.Spec.NodeName] || p.Spec.HostNetwork || p.Status.PodIP == "" {
			continue
		}
		ip := netip.MustParseAddr(p.Status.PodIP)
		inside := false
		for _, b := range blocks[p.Spec.NodeName] {
			if netip.MustParsePrefix(b).Contains(ip) {
				inside = true
			}
		}
		checked++
		if !inside {
			wrong = append(wrong, fmt.Sprintf("pod %s/%s on %s has %s, outside the node's blocks %v", p.Namespace, p.Name, p.Spec.NodeName, ip, blocks[p.Spec.NodeName]))
		}
	}
	sort.Strings(wrong)
	Expect(checked).To(BeNumerically(">=", 2*len(hybrid)), "pods with addresses on hybrid nodes")
	Expect(wrong).To(BeEmpty(), "\n%s", strings.Join(wrong, "\n"))
}

// cniFiles are the files each CNI leaves in /etc/cni and /opt/cni, as its
// own uninstall removes them (Cilium's cni-uninstall.sh; Calico's files).
var cniFiles = map[string][]string{
	config.Cilium:     {"/etc/cni/net.d/05-cilium.conflist", "/etc/cni/net.d/05-cilium.conf", "/opt/cni/bin/cilium-cni"},
	config.Calico:     {"/etc/cni/net.d/10-calico.conflist", "/etc/cni/net.d/calico-kubeconfig", "/opt/cni/bin/calico", "/opt/cni/bin/calico-ipam"},
	config.KubeRouter: {"/etc/cni/net.d/10-kuberouter.conflist"},
}

// cleanNodeFiles applies the guide's file cleanup on a node and proves it.
func (w *world) cleanNodeFiles(ctx context.Context, node string) error {
	files := cniFiles[w.run.CNI.Name]
	if _, err := w.env.NodeExec(ctx, node, append([]string{"rm", "-f"}, files...)...); err != nil {
		return err
	}
	out, err := w.env.NodeExec(ctx, node, append([]string{"sh", "-c", `for f in "$@"; do [ -e "$f" ] && echo "$f"; done; true`, "sh"}, files...)...)
	if err != nil {
		return err
	}
	if left := strings.TrimSpace(out); left != "" {
		return fmt.Errorf("still present after cleanup: %s", left)
	}
	return nil
}
