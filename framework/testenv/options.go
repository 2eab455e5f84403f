package testenv

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// DefaultCNIAgentSelector matches the Cilium and Calico agent pods.
const DefaultCNIAgentSelector = "k8s-app in (cilium,calico-node,kube-router)"

type config struct {
	binDir         string
	hybridNodes    int
	cloudNodes     int
	nodes          []NodeSpec
	networkGate    bool
	agentSelector  string
	serviceCIDR    string
	startTimeout   time.Duration
	stopTimeout    time.Duration
	keepDir        bool
	logOutput      io.Writer
	extraArgs      map[string][]string
	parsedSelector labels.Selector
}

func defaultConfig() config {
	return config{
		hybridNodes:   2,
		cloudNodes:    1,
		networkGate:   true,
		agentSelector: DefaultCNIAgentSelector,
		serviceCIDR:   "10.96.0.0/16",
		startTimeout:  60 * time.Second,
		stopTimeout:   5 * time.Second,
		extraArgs:     map[string][]string{},
	}
}

// Option configures an Env.
type Option func(*config)

// WithBinDir uses binaries from dir instead of FindBinaries.
func WithBinDir(dir string) Option { return func(c *config) { c.binDir = dir } }

// WithHybridNodes sets how many hybrid nodes (label
// eks.amazonaws.com/compute-type=hybrid) the default layout has. Default 2.
func WithHybridNodes(n int) Option { return func(c *config) { c.hybridNodes = n } }

// WithCloudNodes sets how many cloud (non-hybrid) nodes the default layout
// has. Default 1.
func WithCloudNodes(n int) Option { return func(c *config) { c.cloudNodes = n } }

// WithNodes replaces the default layout with these nodes.
func WithNodes(nodes ...NodeSpec) Option {
	return func(c *config) { c.nodes = append([]NodeSpec(nil), nodes...) }
}

// WithoutNetworkGate makes hybrid nodes Ready at once, like cloud nodes.
// By default a hybrid node is NotReady until a CNI agent pod runs on it.
func WithoutNetworkGate() Option { return func(c *config) { c.networkGate = false } }

// WithCNIAgentSelector sets the label selector of the pods that count as a
// CNI agent for the network gate. Default DefaultCNIAgentSelector.
func WithCNIAgentSelector(selector string) Option {
	return func(c *config) { c.agentSelector = selector }
}

// WithServiceCIDR sets the service cluster IP range. Default 10.96.0.0/16.
func WithServiceCIDR(cidr string) Option { return func(c *config) { c.serviceCIDR = cidr } }

// WithStartTimeout bounds Start. Default 60 s.
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithKeepDir keeps the working folder (logs, kubeconfig, etcd data) after Stop.
func WithKeepDir() Option { return func(c *config) { c.keepDir = true } }

// WithLogOutput receives progress lines (component started, ready, stopped).
func WithLogOutput(w io.Writer) Option { return func(c *config) { c.logOutput = w } }

// WithExtraArgs appends command-line arguments to one component (Etcd,
// KubeAPIServer, KubeControllerManager, KubeScheduler or Kwok).
func WithExtraArgs(component string, args ...string) Option {
	return func(c *config) { c.extraArgs[component] = append(c.extraArgs[component], args...) }
}

// validate reports bad input before anything is started.
func (c *config) validate() error {
	if c.hybridNodes < 0 || c.hybridNodes > maxNodesPerRole {
		return fmt.Errorf("testenv: WithHybridNodes(%d): want 0..%d", c.hybridNodes, maxNodesPerRole)
	}
	if c.cloudNodes < 0 || c.cloudNodes > maxNodesPerRole {
		return fmt.Errorf("testenv: WithCloudNodes(%d): want 0..%d", c.cloudNodes, maxNodesPerRole)
	}
	sel, err := labels.Parse(c.agentSelector)
	if err != nil || sel.Empty() {
		return fmt.Errorf("testenv: WithCNIAgentSelector(%q): not a non-empty label selector (example: %q): %v",
			c.agentSelector, DefaultCNIAgentSelector, err)
	}
	c.parsedSelector = sel
	p, err := netip.ParsePrefix(c.serviceCIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() < 12 || p.Bits() > 28 || p.Masked() != p {
		return fmt.Errorf("testenv: WithServiceCIDR(%q): want an IPv4 network between /12 and /28, like 10.96.0.0/16", c.serviceCIDR)
	}
	if c.startTimeout <= 0 {
		return fmt.Errorf("testenv: WithStartTimeout(%s): want a positive duration", c.startTimeout)
	}
	for comp := range c.extraArgs {
		if !isComponent(comp) {
			return fmt.Errorf("testenv: WithExtraArgs(%q): unknown component, want one of %v", comp, binaries)
		}
	}
	seen := map[string]bool{}
	for i := range c.nodes {
		n := &c.nodes[i]
		if err := n.validate(); err != nil {
			return fmt.Errorf("testenv: WithNodes: node %d: %w", i, err)
		}
		if seen[n.Name] {
			return fmt.Errorf("testenv: WithNodes: node name %q used twice", n.Name)
		}
		seen[n.Name] = true
	}
	return nil
}

func isComponent(name string) bool {
	for _, b := range binaries {
		if b == name {
			return true
		}
	}
	return false
}
