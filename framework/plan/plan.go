package plan

import (
	"fmt"
	"io"
	"strings"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/versions"
	"github.com/hybridcni/hybridcni/internal/table"
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

// Kinds of step, for machines reading `plan -o json`.
const (
	KindCluster       = "cluster"
	KindAddressPlan   = "address-plan"
	KindRouter        = "router"
	KindInstall       = "install"
	KindBGPResources  = "bgp-resources"
	KindChecks        = "checks"
	KindRollbackPoint = "rollback-point"
	KindFindings      = "findings"
	KindUpgrade       = "upgrade"
	KindRollback      = "rollback"
	KindUninstall     = "uninstall"
	KindNodeCleanup   = "node-cleanup"
	KindTeardown      = "teardown"
)

// Step is one thing the run does. Name and Details are for people; the
// other fields say the same for machines.
type Step struct {
	Phase string `json:"phase"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	// From and To are the CNI versions before and after the step (install:
	// To only; an upgrade hop and a rollback: both).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// CheckPhase and Version, for a checks step: the phase label the specs
	// carry (install, upgrade-1, ...) and the version the cluster runs.
	CheckPhase string  `json:"checkPhase,omitempty"`
	Version    string  `json:"version,omitempty"`
	Checks     []Check `json:"checks,omitempty"`
	// Findings, for a findings step: what the hop will change for the user.
	Findings []string `json:"findings,omitempty"`
	Details  []string `json:"details,omitempty"`
}

// Check is one catalogue check in a checks step.
type Check struct {
	Name     string   `json:"name"`
	Title    string   `json:"title"`
	Features []string `json:"features"`
	Applies  bool     `json:"applies"`
	// SkipReason is why it does not apply (empty when it does).
	SkipReason string `json:"skipReason,omitempty"`
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
	b := builder{run: run, p: p, plan: pl, subject: checks.SubjectOf(run)}
	b.topology()
	phases := checks.Phases(run, pl.UpgradePath)
	for _, ph := range phases {
		switch ph.Stage {
		case checks.AfterInstall:
			b.install(version)
		case checks.AfterUpgrade:
			b.upgrade(ph, version)
		case checks.AfterRollback:
			s := b.add(PhaseRollback, KindRollback, "roll back to revision 1 ("+version+")",
				fmt.Sprintf("helm rollback %s 1; wait until the CNI is ready again", p.ReleaseName()))
			if n := len(pl.UpgradePath); n > 0 {
				s.From, s.To = pl.UpgradePath[n-1], version
			}
		case checks.AfterDelete:
			b.remove()
		}
		b.checks(ph)
	}
	b.add(PhaseCleanup, KindTeardown, "tear down the topology", "delete the cluster, the router and every network the run made")
	return pl, nil
}

type builder struct {
	run     config.Run
	p       cni.Profile
	plan    *Plan
	subject checks.Subject
}

// add appends a step and returns it, for the caller to fill in.
func (b *builder) add(phase, kind, name string, details ...string) *Step {
	b.plan.Steps = append(b.plan.Steps, Step{Phase: phase, Kind: kind, Name: name, Details: details})
	return &b.plan.Steps[len(b.plan.Steps)-1]
}

func (b *builder) topology() {
	r := b.run
	b.add(PhaseTopology, KindCluster, "cluster",
		"Kubernetes "+r.Kubernetes.Version+", one control-plane node",
		fmt.Sprintf("%d hybrid node(s) labelled %s=%s", r.Nodes.Hybrid, cni.HybridLabel, cni.HybridValue),
		fmt.Sprintf("%d cloud node(s), which must not get the hybrid CNI", r.Nodes.Cloud))
	bs := r.Network.BlockSize
	b.add(PhaseTopology, KindAddressPlan, "address plan",
		"on-prem node CIDR "+r.Network.NodeCIDR,
		fmt.Sprintf("pod CIDR %s, one /%d block (%d addresses) per node", r.Network.PodCIDR, bs, uint64(1)<<(32-bs)),
		"service CIDR "+r.Network.ServiceCIDR)
	if r.BGP.Enabled {
		b.add(PhaseTopology, KindRouter, "on-prem router",
			fmt.Sprintf("router %s, ASN %d, peering with the hybrid nodes (ASN %d)", r.BGP.RouterAddress, r.BGP.RouterASN, r.BGP.NodeASN))
	} else {
		b.add(PhaseTopology, KindRouter, "on-prem router", fmt.Sprintf("router %s routes the node CIDR; no BGP", r.BGP.RouterAddress))
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
	if pl, ok := b.p.(cni.Planner); ok {
		d = append(d, pl.InstallNotes(r)...)
	}
	for _, f := range r.CNI.ValuesFiles {
		d = append(d, "values file merged last: "+f)
	}
	b.add(PhaseInstall, KindInstall, "install "+b.p.Name()+" "+version, d...).To = version
	if r.BGP.Enabled {
		var names []string
		for _, o := range b.p.BGPResources(r) {
			names = append(names, fmt.Sprintf("%s %s (%s)", o.GetKind(), o.GetName(), o.GetAPIVersion()))
		}
		if len(names) > 0 {
			b.add(PhaseInstall, KindBGPResources, "apply BGP resources", names...).To = version
		}
	}
}

// checks lists the catalogue's checks of a phase (framework/checks), as
// the suites run them: each with the reason it does not apply, if any.
func (b *builder) checks(ph checks.Phase) {
	entries := checks.For(b.subject, ph)
	if len(entries) == 0 {
		return
	}
	var d []string
	var cs []Check
	for _, e := range entries {
		line := e.Title
		if e.Skip != "" {
			line += " (skips: " + e.Skip + ")"
		}
		d = append(d, line)
		cs = append(cs, Check{Name: e.Check.Name(), Title: e.Title, Features: e.Check.FeatureLabels(), Applies: e.Skip == "", SkipReason: e.Skip})
	}
	when := "checks " + ph.Name
	if ph.Version != "" {
		when += " (" + b.p.Name() + " " + ph.Version + ")"
	}
	s := b.add(PhaseCheck, KindChecks, when, d...)
	s.CheckPhase, s.Version, s.Checks = ph.Name, ph.Version, cs
}

func (b *builder) upgrade(ph checks.Phase, installed string) {
	n := strings.TrimPrefix(ph.Name, "upgrade-")
	hop := ph.Version
	rel := b.p.ReleaseName()
	from := b.prev(ph)
	b.add(PhaseRollback, KindRollbackPoint, "rollback point before hop "+n,
		fmt.Sprintf("record the revision of %s (helm history)", b.release()),
		fmt.Sprintf("on failure: helm rollback %s to that revision, then run the checks again", rel)).From = from
	if f, ok := b.p.(UpgradeFinder); ok {
		if notes := f.UpgradeFindings(b.run, from, hop); len(notes) > 0 {
			s := b.add(PhaseUpgrade, KindFindings, "hop "+n+": findings before the hop", notes...)
			s.From, s.To, s.Findings = from, hop, notes
		}
	}
	if pl, ok := b.p.(cni.Planner); ok {
		for _, s := range pl.UpgradeSteps(b.run, hop, installed) {
			st := b.add(PhaseUpgrade, KindUpgrade, "hop "+n+": "+s.Name, s.Details...)
			st.From, st.To = from, hop
		}
		return
	}
	st := b.add(PhaseUpgrade, KindUpgrade, "hop "+n+": upgrade to "+hop, fmt.Sprintf("helm upgrade %s to %s with the same values", rel, hop))
	st.From, st.To = from, hop
}

// prev is the version the cluster runs before a hop.
func (b *builder) prev(ph checks.Phase) string {
	prev := b.plan.Version
	for _, h := range b.plan.UpgradePath {
		if h == ph.Version {
			break
		}
		prev = h
	}
	return prev
}

// UpgradeFinder is implemented by profiles that can tell, before a hop,
// what will change for the user (a BGP object whose API version the
// target no longer serves, say).
type UpgradeFinder interface {
	UpgradeFindings(run config.Run, from, to string) []string
}

func (b *builder) remove() {
	b.add(PhaseDelete, KindUninstall, "uninstall "+b.p.Name(), fmt.Sprintf("helm uninstall %s -n %s", b.p.ReleaseName(), b.p.Namespace()),
		"no CNI pods left; interfaces and routes the CNI made stay on the nodes").From = b.plan.Version
	if pl, ok := b.p.(cni.Planner); ok {
		b.add(PhaseCleanup, KindNodeCleanup, "node and cluster cleanup", pl.CleanupNotes()...)
	}
}

// Summary is the plan's heading: the run, its CNI and upgrade hops, the
// chart's source and the Kubernetes version.
func (p *Plan) Summary() string {
	head := fmt.Sprintf("Run %s: %s %s", p.Run, p.CNI, p.Version)
	if p.UpgradeTo != "" {
		head += fmt.Sprintf(" -> %s (hops: %s)", p.UpgradeTo, strings.Join(p.UpgradePath, ", "))
	}
	return fmt.Sprintf("%s\nChart %s from %s, Kubernetes %s", head, p.Chart, p.ChartSource, p.KubernetesVersion)
}

// WriteText writes the plan for people as a list: one numbered row per
// step, its details below it.
func (p *Plan) WriteText(w io.Writer) error {
	t := table.New(w, "#", "phase", "step")
	for i, s := range p.Steps {
		t.Row(i+1, s.Phase, s.Name)
		for _, d := range s.Details {
			t.Continue("- " + d)
		}
	}
	return t.Flush()
}
