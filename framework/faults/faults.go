// Package faults is the fault catalogue: each fault breaks one property of
// a real cluster or network, names the catalogue checks that must then fail,
// and heals itself. The suites' fault phase injects each fault in turn, runs
// the checks it names expecting a failure that names what broke, heals, and
// runs them again expecting a pass (so one fault cannot mask the next).
//
// A declaration reads like a check's (framework/checks):
//
//	New("vxlan-port-dropped").Breaks("pod-to-pod/cross-node", "vxlan/encapsulated").
//		Needs(checks.Dataplane, checks.NodeShell).When(checks.Overlay, checks.TwoHybridNodes).Inject(...)
package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/cni"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/router"
)

// Node is a cluster node as a fault sees it.
type Node struct {
	Name    string
	Address string
}

// Target is the cluster a fault acts on; the suites' environment provides it.
type Target interface {
	// CNI is the CNI's name (cilium, calico, kube-router).
	CNI() string
	Kube() kubernetes.Interface
	Dynamic() dynamic.Interface
	// Exec runs a command on a node (an error when the environment has no
	// node shell).
	Exec(ctx context.Context, node string, argv ...string) (string, error)
	HybridNodes() []Node
	CloudNodes() []Node
	// Facts are the CNI's facts (framework/cni).
	Facts() cni.Facts
	// Workloads are the CNI's agents and operators, as its driver names them.
	Workloads(ctx context.Context) ([]cni.Workload, error)
	// Namespace is the echo workload's namespace.
	Namespace() string
	// PodCIDR is the run's pod CIDR.
	PodCIDR() string
	// OnPremAddress is the on-prem host's address ("" without one).
	OnPremAddress() string
	// PodsRoutable: the control plane reaches pod addresses (through the
	// on-prem router).
	PodsRoutable() bool
	// EchoImage is the image the workload pods run.
	EchoImage() string
	// BGP is the run's BGP settings (router address and ASNs).
	BGP() config.BGP
	// BGPResources are the CNI's BGP objects as the cluster holds them.
	BGPResources(ctx context.Context) ([]*unstructured.Unstructured, error)
	// GuideBGPResources are the CNI's BGP objects as the guide gives them
	// for this run: what bgp/resources compares the cluster's against.
	GuideBGPResources() []*unstructured.Unstructured
	// Network is the run's network: node, pod and service CIDRs, block size.
	Network() config.Network
	// Router is the on-prem router's API (nil without one).
	Router() *router.Client
	// Profile is the CNI's profile and Cluster the clients it acts with:
	// faults that change the CNI's own configuration dispatch on the
	// profile's interfaces (framework/cni BGPHoldTimeEditor, ...).
	Profile() cni.Profile
	Cluster() *cni.Cluster
}

// Heal undoes a fault and waits until the cluster is whole again.
type Heal func(context.Context) error

// Injector breaks the property; what it returns heals it. Names are what a
// failure message must name (a node, a pod, a prefix, an object): any one
// of them is enough.
type Injector func(ctx context.Context, t Target) (heal Heal, names []string, err error)

// NotApplicable is returned by an injector when the cluster has nothing
// for the fault to break (no operator Deployment, say); the fault skips.
type NotApplicable string

func (n NotApplicable) Error() string { return "does not apply: " + string(n) }

// IsNotApplicable reports whether err says the fault does not apply.
func IsNotApplicable(err error) bool {
	var n NotApplicable
	return errors.As(err, &n)
}

// Fault is one declared fault.
type Fault struct {
	name   string
	doc    string
	breaks []string
	needs  []checks.Capability
	when   []checks.Condition
	stage  checks.Stage
	inject Injector
}

// New starts a declaration; by default a fault is injected after install.
func New(name string) *Fault { return &Fault{name: name, stage: checks.AfterInstall} }

// Doc is one line on what the fault does.
func (f *Fault) Doc(d string) *Fault { f.doc = d; return f }

// Breaks names the catalogue checks that must fail while the fault holds.
func (f *Fault) Breaks(names ...string) *Fault { f.breaks = append(f.breaks, names...); return f }

// Needs names the environment's capabilities the fault needs.
func (f *Fault) Needs(caps ...checks.Capability) *Fault { f.needs = append(f.needs, caps...); return f }

// When adds conditions on the run; all must hold.
func (f *Fault) When(conds ...checks.Condition) *Fault { f.when = append(f.when, conds...); return f }

// After sets the stage the fault is injected after: AfterInstall (the
// default) or AfterDelete (faults of the cleanup).
func (f *Fault) After(s checks.Stage) *Fault { f.stage = s; return f }

// Injects sets what breaks the property.
func (f *Fault) Injects(fn Injector) *Fault { f.inject = fn; return f }

func (f *Fault) Name() string                      { return f.name }
func (f *Fault) Description() string               { return f.doc }
func (f *Fault) BreaksChecks() []string            { return slices.Clone(f.breaks) }
func (f *Fault) Capabilities() []checks.Capability { return slices.Clone(f.needs) }
func (f *Fault) Stage() checks.Stage               { return f.stage }

// Label is the fault's name as a spec label value.
func (f *Fault) Label() string { return strings.ReplaceAll(f.name, "/", ".") }

// Conditions lists the names of the fault's conditions.
func (f *Fault) Conditions() []string {
	var out []string
	for _, w := range f.when {
		out = append(out, w.Name)
	}
	return out
}

// Applies returns "" when the fault applies to the subject, or why not.
func (f *Fault) Applies(s checks.Subject) string {
	for _, w := range f.when {
		if why := w.Reason(s); why != "" {
			return why
		}
	}
	return ""
}

// JudgedSinceInstall reports whether check c, which does not run in stage
// itself, is judged in the fault phase after stage all the same: a check of
// the phases that compare with what install left (checks.SinceInstall,
// ipam/unchanged) is, in the phase after install, against the install's
// snapshot, as it would be after an upgrade that did what the fault does.
func JudgedSinceInstall(c *checks.Check, stage checks.Stage) bool {
	return stage == checks.AfterInstall && c.Stages()&stage == 0 && c.Stages()&checks.SinceInstall != 0
}

// Checks are the catalogue checks the fault breaks (an unknown name is
// an error: the catalogue test keeps them in step).
func (f *Fault) Checks() ([]*checks.Check, error) {
	var out []*checks.Check
	for _, n := range f.breaks {
		c, ok := checks.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("fault %s breaks %q, which is not a catalogue check", f.name, n)
		}
		out = append(out, c)
	}
	return out, nil
}

// Inject breaks the property on t; the returned heal undoes it.
func (f *Fault) Inject(ctx context.Context, t Target) (Heal, []string, error) {
	if f.inject == nil {
		return nil, nil, fmt.Errorf("fault %s declares no injector", f.name)
	}
	return f.inject(ctx, t)
}

// Catalogue is every fault, in the order the fault phase injects them.
func Catalogue() []*Fault { return catalogue }

// Lookup returns a fault by name.
func Lookup(name string) (*Fault, bool) {
	for _, f := range catalogue {
		if f.name == name {
			return f, true
		}
	}
	return nil, false
}

// For lists the faults injected after stage s, with why each does not
// apply to the subject ("" when it does).
func For(s checks.Subject, stage checks.Stage) []Entry {
	var out []Entry
	for _, f := range catalogue {
		if f.stage&stage == 0 {
			continue
		}
		out = append(out, Entry{Fault: f, Skip: f.Applies(s)})
	}
	return out
}

// Entry is a fault placed in a run.
type Entry struct {
	Fault *Fault
	Skip  string
}

// Covered maps every catalogue check to the faults that break it.
func Covered() map[string][]string {
	out := map[string][]string{}
	for _, f := range catalogue {
		for _, c := range f.breaks {
			out[c] = append(out[c], f.name)
		}
	}
	return out
}

// Gaps are the catalogue checks no fault breaks yet, each with why: the
// catalogue test fails when a check is neither covered nor listed here.
var Gaps = map[string]string{}
