package suites

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/plan"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/report"
)

func (w *world) hybridNames() []string {
	var out []string
	for _, n := range w.env.HybridNodes() {
		out = append(out, n.Name)
	}
	return out
}

// nodesNotReady: before the CNI, every hybrid node reports NotReady.
func (w *world) nodesNotReady(ctx SpecContext) {
	nodes, err := w.env.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	hybrid := w.hybridNames()
	Expect(hybrid).To(HaveLen(w.run.Nodes.Hybrid), "hybrid nodes in the cluster")
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if !slices.Contains(hybrid, n.Name) {
			continue
		}
		Expect(n.Labels).To(HaveKeyWithValue(cni.HybridLabel, cni.HybridValue), "node %s carries the hybrid label", n.Name)
		ready, _ := nodeReady(n)
		Expect(ready).To(BeFalse(), "hybrid node %s is Ready before any CNI was installed: %s", n.Name, nodeStates(nodes.Items, hybrid))
	}
}

// install: helm install as the guide says; the driver waits for readiness
// and applies the BGP resources when BGP is on.
func (w *world) install(ctx SpecContext) {
	rel, err := w.driver.Install(ctx, w.run)
	Expect(err).NotTo(HaveOccurred(), "install %s %s", w.run.CNI.Name, w.run.CNI.Version)
	Expect(rel.Revision).To(Equal(1), "first revision of release %s", rel.Name)
	w.installed = true
}

// nodesReady: with the CNI running, every hybrid node turns Ready.
func (w *world) nodesReady(ctx SpecContext) {
	w.requireInstalled()
	_, err := w.driver.WaitReady(ctx)
	Expect(err).NotTo(HaveOccurred(), "the CNI becomes ready")
	hybrid := w.hybridNames()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	nodes, err := waitNodes(wctx, w.env.Kube, func(nodes []corev1.Node) bool {
		for i := range nodes {
			if ok, _ := nodeReady(&nodes[i]); slices.Contains(hybrid, nodes[i].Name) && !ok {
				return false
			}
		}
		return true
	})
	Expect(err).NotTo(HaveOccurred(), "hybrid nodes did not all turn Ready: %s", nodeStates(nodes, hybrid))
}

// upgrade: hop by hop as planned, each with the disruption meter running.
func (w *world) upgrade(ctx SpecContext) {
	if w.run.CNI.UpgradeTo == "" {
		Skip("this run has no upgrade target (cni.upgradeTo)")
	}
	w.requireInstalled()
	source, err := newSource(w.run)
	Expect(err).NotTo(HaveOccurred())
	profile := w.driver.Profile()
	available, err := source.Versions(ctx, profile.ChartName())
	Expect(err).NotTo(HaveOccurred())
	hops, err := plan.UpgradePath(w.run.CNI.Version, w.run.CNI.UpgradeTo, available)
	Expect(err).NotTo(HaveOccurred())
	By(fmt.Sprintf("upgrade path: %s -> %s", w.run.CNI.Version, strings.Join(hops, " -> ")))

	var worst *report.Disruption
	for _, to := range hops {
		By("hop to " + to)
		meter := w.startMeter(ctx)
		done, err := w.driver.Upgrade(ctx, w.run, to)
		var figures *probe.DisruptionReport
		if meter != nil {
			var merr error
			figures, merr = meter.Stop()
			Expect(merr).NotTo(HaveOccurred(), "the disruption meter")
		}
		Expect(err).NotTo(HaveOccurred(), "upgrade to %s", to)
		for _, h := range done {
			AddReportEntry("hop", fmt.Sprintf("%s -> %s: revision %d, %s (waiting %s)", h.From, h.To, h.Revision,
				h.Timings.Total.Round(time.Millisecond), h.Timings.Waiting.Round(time.Millisecond)))
		}
		if figures != nil {
			w.tables = append(w.tables, "disruption during the hop to "+to+":\n"+figures.Table())
			AddReportEntry("disruption-"+to, figures.Table())
			d := summarize(figures)
			if worst == nil || d.LongestGapMs > worst.LongestGapMs {
				worst = &d
			}
			Expect(figures.Check(state.opts.Disruption)).To(Succeed(), "disruption budget during the hop to %s", to)
		}
		_, err = w.driver.WaitReady(ctx)
		Expect(err).NotTo(HaveOccurred(), "ready after the hop to %s", to)
	}
	if worst != nil {
		AddReportEntry(report.DisruptionEntry, *worst)
	}
}

func summarize(r *probe.DisruptionReport) report.Disruption {
	var d report.Disruption
	for _, p := range r.Pairs {
		d.Sent += p.Sent
		d.Lost += p.Lost
		if p.LongestGapMS > d.LongestGapMs {
			d.LongestGapMs = p.LongestGapMS
		}
	}
	if d.Sent > 0 {
		d.LossPercent = 100 * float64(d.Lost) / float64(d.Sent)
	}
	return d
}

// rollback: back to the first revision, ready again, with the run's values.
func (w *world) rollback(ctx SpecContext) {
	if w.run.CNI.UpgradeTo == "" {
		Skip("nothing to roll back: this run has no upgrade target")
	}
	w.requireInstalled()
	rel, err := w.driver.Rollback(ctx, w.run, 1)
	Expect(err).NotTo(HaveOccurred(), "roll back to revision 1")
	Expect(strings.TrimPrefix(rel.ChartVersion, "v")).To(Equal(strings.TrimPrefix(w.run.CNI.Version, "v")), "chart version after the rollback")
	_, err = w.driver.WaitReady(ctx)
	Expect(err).NotTo(HaveOccurred(), "ready after the rollback")
}

// uninstall: helm uninstall.
func (w *world) uninstall(ctx SpecContext) {
	w.requireInstalled()
	Expect(w.driver.Uninstall(ctx)).To(Succeed())
	w.installed, w.uninstalled = false, true
}

// leftovers: what the CNI leaves on each node after uninstall, reported.
func (w *world) leftovers(ctx SpecContext) {
	if !w.uninstalled {
		Skip("the release was not uninstalled")
	}
	w.require(NodeShell)
	for _, n := range w.env.HybridNodes() {
		var lines []string
		for _, probe := range leftoverProbes(w.run.CNI.Name) {
			out, err := w.env.NodeExec(ctx, n.Name, probe.argv...)
			Expect(err).NotTo(HaveOccurred(), "%s on node %s", strings.Join(probe.argv, " "), n.Name)
			lines = append(lines, "## "+probe.title, strings.TrimSpace(out))
		}
		text := strings.Join(lines, "\n")
		path := filepath.Join(w.resultsDir(), "leftovers", n.Name+".txt")
		Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
		Expect(os.WriteFile(path, []byte(text+"\n"), 0o644)).To(Succeed())
		AddReportEntry("leftovers "+n.Name, text)
	}
}

type leftoverProbe struct {
	title string
	argv  []string
}

// chainPatterns name each CNI's iptables chains and rules.
var chainPatterns = map[string]string{
	config.Cilium:     "cilium",
	config.Calico:     "cali",
	config.KubeRouter: "kube-router",
}

// leftoverProbes are what a node shows of a CNI after uninstall.
func leftoverProbes(cniName string) []leftoverProbe {
	pattern := chainPatterns[cniName]
	if pattern == "" {
		pattern = cniName
	}
	return []leftoverProbe{
		{"interfaces", []string{"ip", "-brief", "link"}},
		{"routes", []string{"ip", "route"}},
		{"iptables rules mentioning " + pattern, []string{"sh", "-c", "iptables-save 2>/dev/null | grep -ciE '" + pattern + "' || true"}},
		{"nftables tables", []string{"sh", "-c", "nft list tables 2>/dev/null || true"}},
		{"CNI configuration", []string{"sh", "-c", "ls -la /etc/cni/net.d /opt/cni/bin 2>&1 || true"}},
		{"BPF pins", []string{"sh", "-c", "ls -R /sys/fs/bpf 2>/dev/null | head -50 || true"}},
	}
}

// cleanup: the guide's cleanup; CRDs (and for files, the nodes) are clean.
func (w *world) cleanup(ctx SpecContext) {
	if !w.uninstalled {
		Skip("the release was not uninstalled")
	}
	rep, err := w.driver.Cleanup(ctx)
	Expect(err).NotTo(HaveOccurred(), "cleanup")
	data, _ := json.MarshalIndent(rep, "", "  ")
	AddReportEntry("cleanup", string(data))
	if w.env.Has(NodeShell) {
		for _, n := range w.env.HybridNodes() {
			Expect(w.cleanNodeFiles(ctx, n.Name)).To(Succeed(), "CNI files on node %s", n.Name)
		}
	}
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

// agentStatusCommands are what a network engineer would run in each agent:
// the CNI's own status and its BGP view.
var agentStatusCommands = map[string][][]string{
	config.Cilium: {
		{"sh", "-c", "cilium-dbg status --verbose 2>&1 || cilium status --verbose 2>&1"},
		{"sh", "-c", "cilium-dbg bgp peers 2>&1 || cilium bgp peers 2>&1"},
		{"sh", "-c", "cilium-dbg bgp routes advertised ipv4 unicast 2>&1 || cilium bgp routes 2>&1"},
	},
	config.Calico: {
		{"sh", "-c", "birdcl -s /var/run/calico/bird.ctl show protocols all 2>&1"},
		{"sh", "-c", "calico-node -bird-ready -felix-ready 2>&1; echo exit $?"},
	},
	config.KubeRouter: {
		{"sh", "-c", "gobgp neighbor 2>&1; gobgp global rib 2>&1"},
	},
}

// agentContainers are the agent pods' main containers.
var agentContainers = map[string]string{config.Cilium: "cilium-agent", config.Calico: "calico-node", config.KubeRouter: "kube-router"}

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
			place := probe.InPod(w.env.REST, ns[agent], pod, agentContainers[w.run.CNI.Name])
			for _, argv := range agentStatusCommands[w.run.CNI.Name] {
				fmt.Fprintf(&b, "$ %s\n", strings.Join(argv[2:], " "))
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
