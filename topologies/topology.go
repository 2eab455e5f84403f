package topologies

import (
	"embed"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/hybridcni/hybridcni/framework/config"
)

// Remote pod network modes: whether the control plane routes the pod CIDR
// through the on-prem router (EKS "remote pod networks").
const (
	RemotePodNetworkAuto   = "auto"   // when pod CIDRs are routable (BGP on)
	RemotePodNetworkAlways = "always" // always add the routes
	RemotePodNetworkNever  = "never"  // never: control-plane-to-pod traffic must fail
)

// Topology says which pieces of infrastructure a run gets.
type Topology struct {
	APIVersion  string `json:"apiVersion,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Router runs the on-prem router container on the node network.
	Router bool `json:"router"`
	// OnPremHost runs an echo server outside the cluster, behind the router.
	OnPremHost bool `json:"onPremHost"`
	// RemotePodNetwork is auto, always or never.
	RemotePodNetwork string `json:"remotePodNetwork,omitempty"`
}

//go:embed *.yaml
var builtin embed.FS

// Builtin lists the embedded topologies by name.
func Builtin() []string {
	entries, _ := builtin.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	sort.Strings(out)
	return out
}

// Load returns an embedded topology by name, or reads a topology file when
// nameOrPath names one (contains a '/' or ends in .yaml).
func Load(nameOrPath string) (Topology, error) {
	if nameOrPath == "" {
		nameOrPath = "default"
	}
	var data []byte
	var err error
	if strings.ContainsRune(nameOrPath, '/') || strings.HasSuffix(nameOrPath, ".yaml") {
		data, err = os.ReadFile(nameOrPath)
	} else {
		data, err = builtin.ReadFile(nameOrPath + ".yaml")
	}
	if err != nil {
		return Topology{}, config.Invalid("topology", fmt.Sprintf("%q is neither a built-in topology nor a readable file", nameOrPath),
			"use one of "+strings.Join(Builtin(), ", ")+" or the path of a topology file")
	}
	return Parse(data)
}

// Parse reads a topology document; unknown fields are errors.
func Parse(data []byte) (Topology, error) {
	t := Topology{RemotePodNetwork: RemotePodNetworkAuto}
	js, err := yaml.YAMLToJSONStrict(data)
	if err == nil {
		var strict []error
		strict, err = kjson.UnmarshalStrict(js, &t, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
		if err == nil && len(strict) > 0 {
			err = strict[0]
		}
	}
	if err != nil {
		return Topology{}, config.Invalid("topology", err.Error(), "fix the topology file")
	}
	return t, t.Validate()
}

// Validate checks the topology's own fields.
func (t Topology) Validate() error {
	var ps []config.Problem
	if t.Kind != "" && t.Kind != "Topology" {
		ps = append(ps, config.Problem{Field: "topology.kind", Message: fmt.Sprintf("is %q", t.Kind), Fix: "set kind: Topology"})
	}
	if t.Name == "" {
		ps = append(ps, config.Problem{Field: "topology.name", Message: "is empty", Fix: "name the topology"})
	}
	switch t.RemotePodNetwork {
	case RemotePodNetworkAuto, RemotePodNetworkAlways, RemotePodNetworkNever:
	default:
		ps = append(ps, config.Problem{Field: "topology.remotePodNetwork", Message: fmt.Sprintf("is %q", t.RemotePodNetwork),
			Fix: "use auto, always or never"})
	}
	if t.RemotePodNetwork == RemotePodNetworkAlways && !t.Router {
		ps = append(ps, config.Problem{Field: "topology.remotePodNetwork", Message: "is always but the topology has no router",
			Fix: "set router: true, or remotePodNetwork: never"})
	}
	if len(ps) > 0 {
		return &config.Error{Problems: ps}
	}
	return nil
}

// RoutesPodCIDRs reports whether the control plane reaches pod CIDRs through
// the router in this run.
func (t Topology) RoutesPodCIDRs(r config.Run) bool {
	switch t.RemotePodNetwork {
	case RemotePodNetworkAlways:
		return true
	case RemotePodNetworkNever:
		return false
	}
	return t.Router && r.BGP.Enabled
}
