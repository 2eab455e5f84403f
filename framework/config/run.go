// Package config holds the run configuration: what CNI to qualify, on which
// network, with which BGP peering, and how it expands from a matrix.
package config

import (
	"fmt"
	"os"
	"strings"
)

// APIVersion is the version of the configuration files this package reads.
const APIVersion = "hybridcni.dev/v1alpha1"

// Names of the CNIs the harness knows. kube-router is the reference CNI of
// the offline kind tier, from this project's own chart.
const (
	Cilium     = "cilium"
	Calico     = "calico"
	KubeRouter = "kube-router"
)

// KnownCNIs lists the CNIs a run may name.
var KnownCNIs = []string{Cilium, Calico, KubeRouter}

// Default chart sources, as the hybrid-nodes guide installs them.
var DefaultChartSources = map[string]string{
	Cilium: "https://helm.cilium.io/",
	Calico: "https://docs.tigera.io/calico/charts",
	// Relative to the repository root: this project's own chart.
	KubeRouter: "fixtures/charts/kube-router",
}

// DefaultVersions are the CNI versions the hybrid-nodes guide was written for.
var DefaultVersions = map[string]string{
	Cilium:     "1.16.19",
	Calico:     "v3.29.7",
	KubeRouter: "2.1.0",
}

// Run is one qualification run: a CNI version (and optional upgrade target)
// on a cluster with hybrid and cloud nodes.
type Run struct {
	APIVersion string     `json:"apiVersion,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Name       string     `json:"name,omitempty"`
	CNI        CNI        `json:"cni"`
	Kubernetes Kubernetes `json:"kubernetes"`
	Network    Network    `json:"network"`
	BGP        BGP        `json:"bgp"`
	Nodes      Nodes      `json:"nodes"`
}

// CNI names the plugin under test and where its chart comes from.
type CNI struct {
	// Name is cilium or calico.
	Name string `json:"name,omitempty"`
	// Version is the chart version to install first.
	Version string `json:"version,omitempty"`
	// UpgradeTo, when set, is the version the run upgrades to.
	UpgradeTo string `json:"upgradeTo,omitempty"`
	// ChartSource is a Helm repository URL, a local folder holding index.yaml
	// and chart archives, a chart archive, or an unpacked chart folder.
	ChartSource string `json:"chartSource,omitempty"`
	// ValuesFiles are extra Helm values files merged last, in order.
	ValuesFiles []string `json:"valuesFiles,omitempty"`
	// RepeatHops, when above 0, takes the first hop towards UpgradeTo (the
	// hop itself when it is one minor away) and rolls it back this many
	// times on one cluster, after the run's rollback, with the disruption meter, and reports the
	// distribution per pair (default 0: each hop once).
	RepeatHops int `json:"repeatHops,omitempty"`
	// RepeatBudgetOn judges repeated hops' disruption budget on the
	// "median" (default) or the "worst" hop.
	RepeatBudgetOn string `json:"repeatBudgetOn,omitempty"`
}

// MaxRepeatHops bounds cni.repeatHops (each repeat is an upgrade and a rollback).
const MaxRepeatHops = 20

// Kubernetes selects the cluster's Kubernetes version.
type Kubernetes struct {
	Version string `json:"version,omitempty"`
}

// Network is the address plan: on-prem node network, pod and service ranges.
type Network struct {
	NodeCIDR    string `json:"nodeCIDR,omitempty"`
	PodCIDR     string `json:"podCIDR,omitempty"`
	ServiceCIDR string `json:"serviceCIDR,omitempty"`
	// BlockSize is the prefix length of each node's pod block (25 = 128 addresses).
	BlockSize int `json:"blockSize"`
	// Masquerade translates pod traffic leaving the cluster to the node address.
	Masquerade bool `json:"masquerade"`
	// AllowUnroutablePods accepts masquerading off without BGP.
	AllowUnroutablePods bool `json:"allowUnroutablePods,omitempty"`
}

// BGP is the peering between the hybrid nodes and the on-prem router.
type BGP struct {
	Enabled bool `json:"enabled"`
	// RouterASN is the on-prem router's ASN (Cilium peerASN, Calico BGPPeer.asNumber).
	RouterASN int64 `json:"routerASN"`
	// NodeASN is the hybrid nodes' ASN (Cilium localASN, Calico BGPConfiguration.asNumber).
	NodeASN int64 `json:"nodeASN"`
	// RouterAddress is the router's address on the node network.
	RouterAddress string `json:"routerAddress,omitempty"`
}

// Nodes counts the cluster's workers.
type Nodes struct {
	Hybrid int `json:"hybrid"`
	Cloud  int `json:"cloud"`
}

// Default returns a run with every field set: Cilium on two hybrid nodes,
// masquerading on, BGP off.
func Default() Run {
	return Run{
		APIVersion: APIVersion,
		Kind:       "Run",
		CNI:        CNI{Name: Cilium},
		Kubernetes: Kubernetes{Version: "1.37.0"},
		Network: Network{
			NodeCIDR:    "10.80.0.0/24",
			PodCIDR:     "10.85.0.0/16",
			ServiceCIDR: "10.96.0.0/16",
			BlockSize:   25,
			Masquerade:  true,
		},
		BGP:   BGP{RouterASN: 65000, NodeASN: 65001},
		Nodes: Nodes{Hybrid: 2, Cloud: 0},
	}
}

// Complete fills the fields whose defaults depend on others (CNI version and
// chart source, router address, name). It is idempotent.
func (r *Run) Complete() {
	if r.APIVersion == "" {
		r.APIVersion = APIVersion
	}
	if r.Kind == "" {
		r.Kind = "Run"
	}
	r.CNI.Name = strings.ToLower(strings.TrimSpace(r.CNI.Name))
	if r.CNI.Version == "" {
		r.CNI.Version = DefaultVersions[r.CNI.Name]
	}
	if r.CNI.ChartSource == "" {
		r.CNI.ChartSource = DefaultChartSources[r.CNI.Name]
	}
	if r.CNI.RepeatBudgetOn == "" {
		r.CNI.RepeatBudgetOn = "median"
	}
	if r.BGP.RouterAddress == "" {
		if a, err := lastHost(r.Network.NodeCIDR); err == nil {
			r.BGP.RouterAddress = a.String()
		}
	}
	if r.Name == "" {
		r.Name = r.DefaultName()
	}
}

// DefaultName derives a readable name from the CNI, versions and modes.
func (r *Run) DefaultName() string {
	parts := []string{r.CNI.Name, strings.TrimPrefix(r.CNI.Version, "v")}
	if r.CNI.UpgradeTo != "" {
		parts = append(parts, "to", strings.TrimPrefix(r.CNI.UpgradeTo, "v"))
	}
	if r.BGP.Enabled {
		parts = append(parts, "bgp")
	}
	if !r.Network.Masquerade {
		parts = append(parts, "nomasq")
	}
	return sanitizeName(strings.Join(parts, "-"))
}

// Override changes a run after it is read and before derived defaults are
// filled (command-line flags are overrides).
type Override func(*Run)

// Parse reads a run configuration: fields absent from data keep their
// defaults, unknown fields are errors, and an empty document is a valid run.
// Overrides apply before the derived defaults. Parse does not validate.
func Parse(data []byte, overrides ...Override) (Run, error) {
	r := Default()
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := decodeStrict(data, &r); err != nil {
			return Run{}, &Error{Problems: []Problem{yamlProblem(err)}}
		}
	}
	if r.Kind != "" && r.Kind != "Run" {
		return Run{}, &Error{Problems: []Problem{{Field: "kind", Message: fmt.Sprintf("is %q, want Run", r.Kind),
			Fix: "set kind: Run (a matrix file has kind: Matrix and goes to `hybridcni matrix`)"}}}
	}
	for _, o := range overrides {
		if o != nil {
			o(&r)
		}
	}
	r.Complete()
	return r, nil
}

// Load reads and parses a run configuration file. It does not validate.
func Load(path string, overrides ...Override) (Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Run{}, &Error{Problems: []Problem{{Field: "file", Message: err.Error(),
			Fix: "pass -f with the path of an existing run configuration"}}}
	}
	r, err := Parse(data, overrides...)
	if err != nil {
		return Run{}, withFile(err, path)
	}
	return r, nil
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteRune('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 40 {
		out = strings.TrimRight(out[:40], "-")
	}
	return out
}
