package plan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/Masterminds/semver/v3"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/versions"
)

// Phases of a run, in order.
const (
	PhaseTopology = "topology"
	PhaseInstall  = "install"
	PhaseCheck    = "check"
	PhaseUpgrade  = "upgrade"
	PhaseRollback = "rollback"
	PhaseDelete   = "delete"
	PhaseCleanup  = "cleanup"
)

// Step is one thing the run does.
type Step struct {
	Phase   string   `json:"phase"`
	Name    string   `json:"name"`
	Details []string `json:"details,omitempty"`
}

// Plan is the ordered steps of one run.
type Plan struct {
	Run               string   `json:"run"`
	CNI               string   `json:"cni"`
	Chart             string   `json:"chart"`
	ChartSource       string   `json:"chartSource"`
	Version           string   `json:"version"`
	UpgradeTo         string   `json:"upgradeTo,omitempty"`
	UpgradePath       []string `json:"upgradePath,omitempty"`
	KubernetesVersion string   `json:"kubernetesVersion"`
	Steps             []Step   `json:"steps"`
}

// Build lays out a validated run of profile p; available are the chart
// versions the run's chart source offers. A version the source does not
// have, or an impossible upgrade, is a *config.Error naming the field.
func Build(run config.Run, p cni.Profile, available []string) (*Plan, error) {
	version, ok := versions.Find(available, run.CNI.Version)
	if !ok {
		return nil, config.Invalid(fieldFrom,
			fmt.Sprintf("%s %s is not in %s (nearest: %v)", p.ChartName(), run.CNI.Version, run.CNI.ChartSource,
				versions.Nearest(available, run.CNI.Version, 4)),
			"pick a version the chart source has")
	}
	pl := &Plan{
		Run: run.Name, CNI: p.Name(), Chart: p.ChartName(), ChartSource: run.CNI.ChartSource,
		Version: version, UpgradeTo: run.CNI.UpgradeTo, KubernetesVersion: run.Kubernetes.Version,
	}
	if run.CNI.UpgradeTo != "" {
		hops, err := UpgradePath(version, run.CNI.UpgradeTo, available)
		if err != nil {
			return nil, err
		}
		pl.UpgradePath = hops
	}
	b := builder{run: run, p: p, plan: pl}
	b.topology()
	b.add(PhaseCheck, "hybrid nodes NotReady without a CNI",
		fmt.Sprintf("%d hybrid node(s) report NotReady until the CNI runs on them", run.Nodes.Hybrid))
	b.install(version)
	b.checks("after install " + version)
	for i, hop := range pl.UpgradePath {
		b.upgrade(i+1, hop, version)
	}
	b.remove()
	return pl, nil
}

type builder struct {
	run  config.Run
	p    cni.Profile
	plan *Plan
}

func (b *builder) add(phase, name string, details ...string) {
	b.plan.Steps = append(b.plan.Steps, Step{Phase: phase, Name: name, Details: details})
}

func (b *builder) topology() {
	r := b.run
	b.add(PhaseTopology, "cluster",
		"Kubernetes "+r.Kubernetes.Version+", one control-plane node",
		fmt.Sprintf("%d hybrid node(s) labelled %s=%s", r.Nodes.Hybrid, cni.HybridLabel, cni.HybridValue),
		fmt.Sprintf("%d cloud node(s), which must not get the hybrid CNI", r.Nodes.Cloud))
	bs := r.Network.BlockSize
	b.add(PhaseTopology, "address plan",
		"on-prem node CIDR "+r.Network.NodeCIDR,
		fmt.Sprintf("pod CIDR %s, one /%d block (%d addresses) per node", r.Network.PodCIDR, bs, uint64(1)<<(32-bs)),
		"service CIDR "+r.Network.ServiceCIDR)
	if r.BGP.Enabled {
		b.add(PhaseTopology, "on-prem router",
			fmt.Sprintf("router %s, ASN %d, peering with the hybrid nodes (ASN %d)", r.BGP.RouterAddress, r.BGP.RouterASN, r.BGP.NodeASN))
	} else {
		b.add(PhaseTopology, "on-prem router", fmt.Sprintf("router %s routes the node CIDR; no BGP", r.BGP.RouterAddress))
	}
}

func (b *builder) release() string {
	return fmt.Sprintf("release %s in namespace %s", b.p.ReleaseName(), b.p.Namespace())
}

func (b *builder) install(version string) {
	r := b.run
	d := []string{
		fmt.Sprintf("helm install %s: chart %s %s from %s", b.release(), b.p.ChartName(), version, r.CNI.ChartSource),
		"rendered for Kubernetes " + r.Kubernetes.Version,
	}
	switch b.p.Name() {
	case config.Cilium:
		d = append(d,
			fmt.Sprintf("cluster-pool IPAM: pod CIDR %s, mask size /%d", r.Network.PodCIDR, r.Network.BlockSize),
			"VXLAN tunnel, Envoy off, unmanaged pod watcher off, agent and operator on hybrid nodes",
			fmt.Sprintf("masquerade %s, BGP control plane %s", onOff(r.Network.Masquerade), onOff(r.BGP.Enabled)))
	case config.Calico:
		d = append(d,
			fmt.Sprintf("Calico IPAM: pool %s, block size /%d, VXLAN, natOutgoing %s", r.Network.PodCIDR, r.Network.BlockSize, onOff(r.Network.Masquerade)),
			fmt.Sprintf("BGP %s, control plane replicas 1, every component on hybrid nodes", onOff(r.BGP.Enabled)))
	}
	for _, f := range r.CNI.ValuesFiles {
		d = append(d, "values file merged last: "+f)
	}
	b.add(PhaseInstall, "install "+b.p.Name()+" "+version, d...)
	if r.BGP.Enabled {
		var names []string
		for _, o := range b.p.BGPResources(r) {
			names = append(names, fmt.Sprintf("%s %s (%s)", o.GetKind(), o.GetName(), o.GetAPIVersion()))
		}
		b.add(PhaseInstall, "apply BGP resources", names...)
	}
}

func (b *builder) checks(when string) {
	r := b.run
	var d []string
	switch b.p.Name() {
	case config.Cilium:
		d = []string{"deployment cilium-operator available", "a cilium agent pod on every hybrid node, none on cloud nodes"}
	case config.Calico:
		d = []string{"deployment tigera-operator available", "calico-node and csi-node-driver on every hybrid node, none on cloud nodes",
			"calico-apiserver, calico-kube-controllers and calico-typha running"}
	}
	d = append(d, "hybrid nodes Ready",
		"pod to pod across hybrid nodes over the VXLAN overlay",
		"control plane to node and control plane to pod",
		"pod to on-prem host: source "+map[bool]string{true: "masqueraded to the node address", false: "is the pod address"}[r.Network.Masquerade])
	if r.BGP.Enabled {
		d = append(d, fmt.Sprintf("BGP sessions to %s established; the router learns every node's pod block", r.BGP.RouterAddress))
	}
	b.add(PhaseCheck, "checks "+when, d...)
}

func (b *builder) upgrade(n int, hop, installed string) {
	rel := b.p.ReleaseName()
	b.add(PhaseRollback, fmt.Sprintf("rollback point before hop %d", n),
		fmt.Sprintf("record the revision of %s (helm history)", b.release()),
		fmt.Sprintf("on failure: helm rollback %s to that revision, then run the checks again", rel))
	switch b.p.Name() {
	case config.Cilium:
		b.add(PhaseUpgrade, fmt.Sprintf("hop %d: pre-flight for %s", n, hop),
			fmt.Sprintf("helm install cilium-preflight: chart %s %s with preflight.enabled=true, agent=false, operator.enabled=false (preflight.affinity: the agent's)", b.p.ChartName(), hop),
			"wait until DaemonSet cilium-pre-flight-check has as many READY pods as DaemonSet cilium",
			"wait until deployment cilium-pre-flight-check is READY 1/1 (0/1: CiliumNetworkPolicy validation problem, stop)",
			"helm uninstall cilium-preflight")
		b.add(PhaseUpgrade, fmt.Sprintf("hop %d: upgrade to %s", n, hop),
			fmt.Sprintf("helm upgrade %s to %s with upgradeCompatibility=%s and the same values", rel, hop, minorOf(installed)))
	case config.Calico:
		b.add(PhaseUpgrade, fmt.Sprintf("hop %d: operator CRDs of %s", n, hop),
			fmt.Sprintf("apply manifests/operator-crds.yaml of %s server-side with force-conflicts", hop))
		b.add(PhaseUpgrade, fmt.Sprintf("hop %d: upgrade to %s", n, hop),
			fmt.Sprintf("helm upgrade %s to %s with the same values", rel, hop))
	default:
		b.add(PhaseUpgrade, fmt.Sprintf("hop %d: upgrade to %s", n, hop), fmt.Sprintf("helm upgrade %s to %s with the same values", rel, hop))
	}
	b.checks("after upgrade to " + hop)
}

func (b *builder) remove() {
	b.add(PhaseDelete, "uninstall "+b.p.Name(), fmt.Sprintf("helm uninstall %s -n %s", b.p.ReleaseName(), b.p.Namespace()),
		"no CNI pods left; interfaces and routes the CNI made stay on the nodes")
	switch b.p.Name() {
	case config.Cilium:
		b.add(PhaseCleanup, "node and cluster cleanup",
			"remove Cilium's on-disk files from every node as cni-uninstall.sh does",
			"delete every CRD whose name contains cilium")
	case config.Calico:
		b.add(PhaseCleanup, "node and cluster cleanup",
			"remove Calico's files from /opt/cni and /etc/cni on every node",
			"delete every CRD whose name contains calico or tigera")
	}
	b.add(PhaseCleanup, "tear down the topology", "delete the cluster, the router and every network the run made")
}

// WriteText writes the plan for people: one numbered line per step, its details below.
func (p *Plan) WriteText(w io.Writer) error {
	head := fmt.Sprintf("Run %s: %s %s", p.Run, p.CNI, p.Version)
	if p.UpgradeTo != "" {
		head += fmt.Sprintf(" -> %s (hops: %s)", p.UpgradeTo, strings.Join(p.UpgradePath, ", "))
	}
	if _, err := fmt.Fprintf(w, "%s\nChart %s from %s, Kubernetes %s\n\n", head, p.Chart, p.ChartSource, p.KubernetesVersion); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, s := range p.Steps {
		fmt.Fprintf(tw, "%2d.\t%s\t%s\n", i+1, s.Phase, s.Name)
		for _, d := range s.Details {
			fmt.Fprintf(tw, "\t\t  - %s\n", d)
		}
	}
	return tw.Flush()
}

func minorOf(v string) string {
	sv, err := semver.NewVersion(v)
	if err != nil {
		return v
	}
	return fmt.Sprintf("%d.%d", sv.Major(), sv.Minor())
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
