package suites

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hybridcni/hybridcni/framework/checks"
	"github.com/hybridcni/hybridcni/framework/config"
	"github.com/hybridcni/hybridcni/framework/diagnostics"
	"github.com/hybridcni/hybridcni/framework/probe"
	"github.com/hybridcni/hybridcni/framework/router"
)

// Capability is something an environment can do (framework/checks); a
// check that needs one the environment lacks skips with the reason.
type Capability = checks.Capability

// The capabilities, as the catalogue names them.
const (
	Dataplane  = checks.Dataplane
	Router     = checks.Router
	OnPremHost = checks.OnPremHost
	NodeShell  = checks.NodeShell
	CloudCNI   = checks.CloudCNI
)

// Node is a cluster node as the specs see it.
type Node struct {
	Name    string
	Address string
	Hybrid  bool
}

// Env is one cluster under test, with what surrounds it.
type Env struct {
	Run        config.Run
	Provider   string
	Kubeconfig string
	REST       *rest.Config
	Kube       kubernetes.Interface
	Nodes      []Node
	// Router reads the on-prem router's peers and routes (nil without one).
	Router *router.Client
	// OnPrem is the on-prem host: a place to run probes from and an echo
	// target, serving HTTP and UDP on the ports below.
	OnPrem                        *probe.Source
	OnPremHTTPPort, OnPremUDPPort int
	// PodsRoutable: the control plane reaches pod CIDRs (EKS remote pod
	// networks, through the on-prem router).
	PodsRoutable bool
	// EchoImage is the image the workload pods run (the harness's echo image).
	EchoImage string
	// ProbeNetAdmin: the probe pods (echo, node probes) may hold
	// CAP_NET_ADMIN, so their UDP sockets get an 8 MiB receive buffer past
	// net.core.rmem_max and a starved echo answers late rather than drop
	// what the network delivered. The kind provider's clusters; an
	// existing cluster's pod security may forbid it.
	ProbeNetAdmin bool
	// NodeExec runs a command on a node (nil without NodeShell).
	NodeExec func(ctx context.Context, node string, argv ...string) (string, error)
	// Diagnostics are the provider's own sources (router RIB, node logs).
	Diagnostics []diagnostics.Source
	// AfterStep, when set, runs after each lifecycle step (phase names as
	// in framework/checks: install, upgrade-1, rollback, delete): where a
	// test injects a fault that only one version has.
	AfterStep func(ctx context.Context, phase string) error
	// ImagesReady, when set, blocks until the images of a CNI version the
	// run upgrades to are in the nodes (the kind provider loads the hops'
	// images in the background, after the install version's), and returns
	// the load's error naming the version, or ctx's. Nil: nothing to wait for.
	ImagesReady func(ctx context.Context, version string) error
	// Lacking says why each missing capability is missing.
	Lacking map[Capability]string
	// ResultsDir is where reports and diagnostics go.
	ResultsDir string
}

// Has reports whether the environment has every capability.
func (e *Env) Has(caps ...Capability) bool {
	for _, c := range caps {
		if _, missing := e.Lacking[c]; missing {
			return false
		}
	}
	return true
}

// Missing explains the first missing capability, or "".
func (e *Env) Missing(caps ...Capability) string {
	for _, c := range caps {
		if why, missing := e.Lacking[c]; missing {
			return fmt.Sprintf("needs %s: %s", c, why)
		}
	}
	return ""
}

// HybridNodes and CloudNodes split the node list.
func (e *Env) HybridNodes() []Node { return e.nodes(true) }
func (e *Env) CloudNodes() []Node  { return e.nodes(false) }

func (e *Env) nodes(hybrid bool) []Node {
	var out []Node
	for _, n := range e.Nodes {
		if n.Hybrid == hybrid {
			out = append(out, n)
		}
	}
	return out
}

// RouterNodes are the hybrid nodes as the router checks name them.
func (e *Env) RouterNodes() []router.Node {
	var out []router.Node
	for _, n := range e.HybridNodes() {
		out = append(out, router.Node{Name: n.Name, Address: n.Address})
	}
	return out
}

// Provider builds environments.
type Provider interface {
	Name() string
	// Prepare runs once per suite, before any run is provisioned (doctor
	// checks, harness images).
	Prepare(ctx context.Context) error
	// Provision brings up a cluster for run, with hybrid nodes NotReady (no
	// CNI yet). Teardown removes everything Provision made.
	Provision(ctx context.Context, run config.Run, resultsDir string) (*Env, error)
	Teardown(ctx context.Context, env *Env) error
}

var (
	providersMu sync.Mutex
	providers   = map[string]func(Options) Provider{}
)

// RegisterProvider makes a provider available by name; newProvider gets the
// run's options (topology, images, results folder).
func RegisterProvider(name string, newProvider func(Options) Provider) {
	providersMu.Lock()
	defer providersMu.Unlock()
	providers[name] = newProvider
}

// LookupProvider returns a new provider by name, or a *config.Error.
func LookupProvider(name string, opts Options) (Provider, error) {
	providersMu.Lock()
	newProvider, ok := providers[name]
	var names []string
	for n := range providers {
		names = append(names, n)
	}
	providersMu.Unlock()
	if ok {
		// Outside the lock: a provider may wrap another one.
		return newProvider(opts), nil
	}
	sort.Strings(names)
	return nil, config.Invalid("provider", fmt.Sprintf("unknown provider %q", name), "use one of: "+strings.Join(names, ", "))
}
