package suites

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/chart"
	"github.com/hybridcni/hybridcni/framework/cni"
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
	Expect(wrong).To(BeEmpty(), "placement: %s", strings.Join(wrong, "; "))
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

// ipamBlocks: exactly one block of the configured size per hybrid node,
// inside the pod CIDR, no overlap between nodes, disjoint from the node CIDR.
// The hybrid nodes are the run's and any other the cluster labels hybrid (a
// node that registered beside them holds a block by the same rules).
func (w *world) ipamBlocks(ctx SpecContext) {
	w.dataplane(ctx)
	pod := netip.MustParsePrefix(w.run.Network.PodCIDR)
	node := netip.MustParsePrefix(w.run.Network.NodeCIDR)
	Expect(pod.Overlaps(node)).To(BeFalse(), "pod CIDR %s overlaps node CIDR %s", pod, node)
	wrong, blocks, err := w.blockProblemsNow(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(wrong).To(BeEmpty(), "pod blocks %v", blocks)
	AddReportEntry("pod blocks", fmt.Sprint(blocks))
}

// blockProblems lists what is wrong with the nodes' pod blocks: a node
// without exactly one block, a block of another size, outside the pod CIDR,
// inside the node CIDR, or overlapping another node's.
func blockProblems(blocks map[string][]string, nodes []string, pod, node netip.Prefix, size int) []string {
	type owned struct {
		node string
		p    netip.Prefix
	}
	var all []owned
	var wrong []string
	for _, n := range nodes {
		bs := blocks[n]
		if len(bs) != 1 {
			wrong = append(wrong, fmt.Sprintf("hybrid node %s has %d pod blocks %v, want exactly one", n, len(bs), bs))
		}
		for _, b := range bs {
			p, err := netip.ParsePrefix(b)
			if err != nil {
				wrong = append(wrong, fmt.Sprintf("node %s: block %q is not a CIDR", n, b))
				continue
			}
			if p.Bits() != size {
				wrong = append(wrong, fmt.Sprintf("node %s block %s: size /%d, want /%d", n, p, p.Bits(), size))
			}
			if !pod.Contains(p.Addr()) {
				wrong = append(wrong, fmt.Sprintf("node %s block %s is outside the pod CIDR %s", n, p, pod))
			}
			if p.Overlaps(node) {
				wrong = append(wrong, fmt.Sprintf("node %s block %s overlaps the node CIDR %s", n, p, node))
			}
			all = append(all, owned{n, p})
		}
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].p.Overlaps(all[j].p) {
				wrong = append(wrong, fmt.Sprintf("node %s block %s overlaps node %s block %s", all[i].node, all[i].p, all[j].node, all[j].p))
			}
		}
	}
	return wrong
}

// ipamPods: every pod on a hybrid node has an address inside that node's block.
func (w *world) ipamPods(ctx SpecContext) {
	w.dataplane(ctx)
	ipam, err := w.readIPAM(ctx)
	Expect(err).NotTo(HaveOccurred())
	blocks := ipam.Blocks
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

// ipamUnchanged: the guide says neither the pod CIDR nor the block size may
// change after install; nor may a node's block move under running pods.
func (w *world) ipamUnchanged(ctx SpecContext) {
	w.dataplane(ctx)
	Expect(w.installIPAM).NotTo(BeNil(), "the IPAM state after install was not recorded (see the install phase's workload step)")
	now, err := w.readIPAM(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(ipamChanges(w.installIPAM, now, w.hybridNames())).To(BeEmpty(), "IPAM changed between install (%s) and %s %s",
		w.run.CNI.Version, w.phase.Name, w.phase.Version)
}

// ipamChanges lists how now differs from was on the named nodes.
func ipamChanges(was, now *cni.IPAM, nodes []string) []string {
	var out []string
	if !slices.Equal(was.PodCIDRs, now.PodCIDRs) {
		out = append(out, fmt.Sprintf("pod CIDRs %v, were %v", now.PodCIDRs, was.PodCIDRs))
	}
	if was.BlockSize != now.BlockSize {
		out = append(out, fmt.Sprintf("block size /%d, was /%d", now.BlockSize, was.BlockSize))
	}
	for _, n := range nodes {
		if !slices.Equal(was.Blocks[n], now.Blocks[n]) {
			out = append(out, fmt.Sprintf("node %s blocks %v, were %v", n, now.Blocks[n], was.Blocks[n]))
		}
	}
	return out
}
