// Package checks is the check catalogue: every check a run makes, declared
// once with its name, features, the capabilities it needs, when it applies
// to a run and the phases it runs in. It imports no test framework: the
// suites build their specs from it, `hybridcni plan` and `run --dry-run`
// list from it, and tests read it instead of matching spec names.
//
// A declaration reads like cilium-cli's connectivity builder:
//
//	New("pod-to-pod/cross-node").Features(Conformance).Needs(Dataplane).When(TwoHybridNodes)
package checks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
)

// Capability is something an environment can do; a check that needs one
// the environment lacks skips naming what is missing.
type Capability string

const (
	// Dataplane: pods run real containers and exchange real packets.
	Dataplane Capability = "dataplane"
	// Router: an on-prem router that hybrid nodes can peer with.
	Router Capability = "router"
	// OnPremHost: an echo server outside the cluster, behind the router.
	OnPremHost Capability = "on-prem-host"
	// NodeShell: commands run on nodes (interfaces, routes, files).
	NodeShell Capability = "node-shell"
	// CloudCNI: a CNI on the cloud nodes (the VPC CNI's part), which the
	// harness knows how to find.
	CloudCNI Capability = "cloud-cni"
)

// Stage is a kind of phase; a check runs in the stages it is declared for.
type Stage uint8

const (
	// BeforeCNI: the cluster is up, no CNI yet.
	BeforeCNI Stage = 1 << iota
	// AfterInstall: the CNI is installed and ready.
	AfterInstall
	// AfterUpgrade: after each upgrade hop.
	AfterUpgrade
	// AfterRollback: after rolling back to the installed version.
	AfterRollback
	// AfterDelete: after the release is uninstalled and cleaned up.
	AfterDelete

	// EveryVersion: wherever a CNI version runs (install, every hop, rollback).
	EveryVersion = AfterInstall | AfterUpgrade | AfterRollback
	// SinceInstall: the phases that compare with what install left.
	SinceInstall = AfterUpgrade | AfterRollback
)

var stageNames = []struct {
	s    Stage
	name string
}{{BeforeCNI, "before-cni"}, {AfterInstall, "install"}, {AfterUpgrade, "upgrade"}, {AfterRollback, "rollback"}, {AfterDelete, "delete"}}

func (s Stage) String() string {
	var out []string
	for _, n := range stageNames {
		if s&n.s != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

// Subject is what a check's applicability is judged on: the run and the
// facts of its CNI.
type Subject struct {
	Run   config.Run
	Facts cni.Facts
}

// SubjectOf builds the subject of a run; an unknown CNI has empty facts.
func SubjectOf(run config.Run) Subject {
	s := Subject{Run: run}
	if p, err := cni.Lookup(run.CNI.Name); err == nil {
		s.Facts = cni.FactsOf(p)
	}
	return s
}

// Condition says when a check applies: Reason returns "" when it does, or
// why it does not (said in the skip).
type Condition struct {
	Name   string
	Reason func(Subject) string
}

// Check is one declared check.
type Check struct {
	name     string
	features []string
	needs    []Capability
	when     []Condition
	stages   Stage
	title    func(Subject) string
	doc      string
}

// New starts a declaration; by default a check runs wherever a CNI version runs.
func New(name string) *Check { return &Check{name: name, stages: EveryVersion} }

// Features are the compatibility-matrix rows the check counts for.
func (c *Check) Features(f ...string) *Check { c.features = append(c.features, f...); return c }

// Needs names the environment's capabilities the check needs.
func (c *Check) Needs(caps ...Capability) *Check { c.needs = append(c.needs, caps...); return c }

// When adds conditions on the run; all must hold.
func (c *Check) When(conds ...Condition) *Check { c.when = append(c.when, conds...); return c }

// In sets the stages the check runs in.
func (c *Check) In(s Stage) *Check { c.stages = s; return c }

// Titled gives the spec text as a function of the run (default: the name).
func (c *Check) Titled(f func(Subject) string) *Check { c.title = f; return c }

// Doc is one line on what the check proves.
func (c *Check) Doc(d string) *Check { c.doc = d; return c }

// Name is the check's stable identifier.
func (c *Check) Name() string { return c.name }

// Label is the check's name as a spec label value (Ginkgo labels take no
// "/"): "pod-to-pod.cross-node".
func (c *Check) Label() string { return strings.ReplaceAll(c.name, "/", ".") }

// FeatureLabels are the check's features.
func (c *Check) FeatureLabels() []string { return slices.Clone(c.features) }

// Capabilities are what the check needs of the environment.
func (c *Check) Capabilities() []Capability { return slices.Clone(c.needs) }

// Stages are the stages the check runs in.
func (c *Check) Stages() Stage { return c.stages }

// Description is the check's one-line doc.
func (c *Check) Description() string { return c.doc }

// Title is the spec text for a subject.
func (c *Check) Title(s Subject) string {
	if c.title != nil {
		return c.title(s)
	}
	return c.name
}

// Applies returns "" when the check applies to the subject, or why not.
func (c *Check) Applies(s Subject) string {
	for _, w := range c.when {
		if why := w.Reason(s); why != "" {
			return why
		}
	}
	return ""
}

// Conditions lists the names of the check's conditions.
func (c *Check) Conditions() []string {
	var out []string
	for _, w := range c.when {
		out = append(out, w.Name)
	}
	return out
}

// Phase is one point of a run where checks run: before the CNI, after
// install, after each upgrade hop, after rollback, after delete.
type Phase struct {
	// Name is the phase label: before-cni, install, upgrade-1, ..., rollback, delete.
	Name  string
	Stage Stage
	// Version is the CNI version the cluster runs in this phase ("" before
	// the CNI and after delete).
	Version string
}

// Phases lays out the phases of a run whose upgrade goes along hops.
func Phases(run config.Run, hops []string) []Phase {
	out := []Phase{{Name: "before-cni", Stage: BeforeCNI}, {Name: "install", Stage: AfterInstall, Version: run.CNI.Version}}
	for i, h := range hops {
		out = append(out, Phase{Name: fmt.Sprintf("upgrade-%d", i+1), Stage: AfterUpgrade, Version: h})
	}
	if len(hops) > 0 {
		out = append(out, Phase{Name: "rollback", Stage: AfterRollback, Version: run.CNI.Version})
	}
	return append(out, Phase{Name: "delete", Stage: AfterDelete})
}

// Entry is one check placed in one phase.
type Entry struct {
	Check *Check
	Phase Phase
	Title string
	// Skip is why the check does not apply to the run ("" when it does).
	Skip string
}

// Labels are the entry's spec labels (besides the run's own).
func (e Entry) Labels() []string {
	l := []string{"phase:" + e.Phase.Name, "check:" + e.Check.Label()}
	if e.Phase.Version != "" {
		l = append(l, "version:"+e.Phase.Version)
	}
	for _, f := range e.Check.features {
		l = append(l, "feature:"+f)
	}
	return l
}

// For lists the checks of a phase for a subject, in catalogue order.
func For(s Subject, p Phase) []Entry {
	var out []Entry
	for _, c := range Catalogue() {
		if c.stages&p.Stage == 0 {
			continue
		}
		out = append(out, Entry{Check: c, Phase: p, Title: c.Title(s), Skip: c.Applies(s)})
	}
	return out
}

// Lookup returns a check by name.
func Lookup(name string) (*Check, bool) {
	for _, c := range Catalogue() {
		if c.name == name {
			return c, true
		}
	}
	return nil, false
}
